"""AppTest: the Sentence embedding page draws its charts, searches its index, and grows the index
while the model's weights fingerprint stays the same."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import ROOT, chart_specs, open_page
from streamlit.testing.v1 import AppTest

from explorer.assets import DEFAULT_SET, bundled_corpus, sentence_set
from explorer.share import encode_view
from explorer.ui.sentence import TABS

PAGE = "pages/2_Sentence_embedding.py"


def _page() -> AppTest:
    at = open_page(PAGE)
    assert not at.exception, [e.message for e in at.exception]
    return at


TOKENS, SIMILARITY, IMPORTANCE, INDEX = range(4)


def _open(at: AppTest, tab: int) -> AppTest:
    """Open one of the page's tabs, as a click on it does (only the open tab's content is made)."""
    at.session_state["_keep_sentence_tab"] = TABS[tab]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_first_visit_makes_only_the_open_tab_and_each_tab_when_opened() -> None:
    """A first visit draws the token cloud alone: the heatmap, the bars and the index (a map of the whole
    corpus) are made when their tab is opened, so the first chart comes sooner."""
    at = _page()
    assert at.session_state["sentence_tab"] == TABS[TOKENS]
    assert _chart_with(at, "point", "kind") is not None
    assert _chart_with(at, "rect", "cosine") is None and _chart_with(at, "circle", "source") is None
    assert not [m for m in at.metric if m.label == "Sentences in the index"]
    assert _chart_with(_open(at, SIMILARITY), "rect", "cosine") is not None
    assert _chart_with(_open(at, INDEX), "circle", "source") is not None
    assert _chart_with(at, "rect", "cosine") is None, "the tab left is not made again"


def _chart_with(at: AppTest, mark_type: str, field: str) -> dict | None:
    """The first chart with a layer of `mark_type` whose data has column `field`; its rows."""
    for chart in chart_specs(at):
        for layer in chart["spec"].get("layer", []):
            mark = layer.get("mark")
            kind = mark.get("type") if isinstance(mark, dict) else mark
            source = layer.get("data") or chart["spec"].get("data") or {}
            data = chart["datasets"].get(source.get("name"))
            if kind == mark_type and data is not None and field in data.columns:
                return {"spec": chart["spec"], "rows": data}
    return None


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def test_heatmap_shows_every_pair_of_typed_sentences():
    at = _open(_page(), SIMILARITY)
    sentences = [s for s in at.text_area(key="sentences").value.splitlines() if s.strip()]
    heatmap = _chart_with(at, "rect", "cosine")
    assert heatmap is not None
    rows = heatmap["rows"]
    assert len(rows) == len(sentences) ** 2
    diagonal = rows[rows["row"] == rows["column"]]
    assert (diagonal["cosine"].round(4) == 1.0).all()
    assert any(layer.get("mark", {}).get("type") == "text" for layer in heatmap["spec"]["layer"])


def test_sentences_typed_on_another_page_are_used_here():
    at = open_page("pages/1_Token_journey.py")
    at.text_area(key="sentences").input("Cats purr.\nDogs bark.\nFish swim.").run()
    # via Home: AppTest keeps a stale widget value when two pages share a key and one switches directly
    # between them (a real browser does not; the browser check navigated Journey → this page directly)
    at.switch_page("app.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert len(_chart_with(_open(at, SIMILARITY), "rect", "cosine")["rows"]) == 9


def test_other_layer_changes_the_similarities():
    at = _open(_page(), SIMILARITY)
    before = _chart_with(at, "rect", "cosine")["rows"]["cosine"].to_numpy()
    at.selectbox(key="sentence_pooling").set_value("mean_layer").run()
    assert not at.exception
    after = _chart_with(at, "rect", "cosine")["rows"]["cosine"].to_numpy()
    assert before.shape == after.shape and abs(before - after).max() > 0.05


def test_unambiguous_query_returns_its_neighbour_and_is_drawn():
    at = _open(_page(), INDEX)
    at.text_input(key="index_query").set_value("My dog always barks when the mail carrier comes").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert table["text"].iloc[0] == "Our dog barks every time the postman arrives."
    assert table["source"].iloc[0] == "animals"
    corpus_map = _chart_with(at, "circle", "source")
    assert corpus_map is not None and len(corpus_map["rows"]) == len(bundled_corpus().texts)


def test_adding_sentences_grows_the_index_but_not_the_model():
    at = _open(_page(), INDEX)
    n_typed = len([s for s in at.text_area(key="sentences").value.splitlines() if s.strip()])
    before = _metrics(at)
    corpus_size = len(bundled_corpus().texts)
    assert before["Sentences in the index"] == f"{corpus_size:,}"
    at.button(key="add_typed").click().run()
    assert not at.exception
    after = _metrics(at)
    assert after["Sentences in the index"] == f"{corpus_size + n_typed:,}"
    assert after["Model weights fingerprint"] == before["Model weights fingerprint"]
    delta = next(m for m in at.metric if m.label == "Model weights fingerprint").proto.delta
    assert delta == "identical"
    assert len(_chart_with(at, "circle", "source")["rows"]) == corpus_size + n_typed
    # the same sentences cannot be added twice: the button says so and is disabled
    assert at.button(key="add_typed").disabled
    assert "in the index" in at.button(key="add_typed").label
    at.button(key="reset_index").click().run()
    assert _metrics(at)["Sentences in the index"] == f"{corpus_size:,}"
    assert not at.button(key="add_typed").disabled


# ---------------------------------------------------------------- issue 6: share links, export, classroom
def _with_link(token: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["view"] = token
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _link_token(at: AppTest) -> str:
    link = next(c.value for c in at.code if "view=" in c.value)
    return link.split("view=")[1]


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for group in (at.info, at.warning, at.error) for m in group)


def _shown(at: AppTest) -> dict:
    """What the page draws, each tab opened in turn: the cloud's pooled points and contrast, the heatmap
    and its settings, the importance bars and their sentence, the search hits and their query."""
    pooled = _chart_with(_open(at, TOKENS), "point", "kind")["rows"]
    shown = {
        "pooled": pooled[["kind", "x", "y"]].to_numpy(),
        "contrast": at.selectbox(key="sentence_contrast").value,
    }
    _open(at, SIMILARITY)
    shown |= {
        "cosine": _chart_with(at, "rect", "cosine")["rows"]["cosine"].to_numpy(),
        "pooling": at.selectbox(key="sentence_pooling").value,
        "layer": at.select_slider(key="sentence_layer").value,
    }
    _open(at, IMPORTANCE)
    shown |= {
        "bars": next(
            rows
            for chart in chart_specs(at)
            for rows in chart["datasets"].values()
            if "leave_one_out_shift" in rows.columns
        )["token"].tolist(),
        "chosen": at.selectbox(key="sentence_chosen").value,
    }
    _open(at, INDEX)
    return shown | {
        "hits": at.dataframe[-1].value["text"].tolist(),
        "query": at.text_input(key="index_query").value,
        "k": at.number_input(key="index_k").value,
    }


def test_a_share_link_reproduces_the_view():
    at = _page()
    at.selectbox(key="sentence_set").set_value("Paraphrases").run()
    at.selectbox(key="sentence_contrast").set_value("max").run()
    _open(at, SIMILARITY).selectbox(key="sentence_pooling").set_value("mean_layer").run()
    at.select_slider(key="sentence_layer").set_value(3).run()
    _open(at, IMPORTANCE).selectbox(key="sentence_chosen").set_value(2).run()
    _open(at, INDEX).text_input(key="index_query").set_value("How do I bake soft bread?").run()
    at.number_input(key="index_k").set_value(3).run()
    assert not at.exception
    token = _link_token(at)
    expected = _shown(at)
    assert len(expected["hits"]) == 3
    assert (expected["contrast"], expected["pooling"], expected["layer"]) == ("max", "mean_layer", 3)
    assert (expected["chosen"], expected["query"], expected["k"]) == (2, "How do I bake soft bread?", 3)

    fresh = _with_link(token)
    assert fresh.session_state["sentence_tab"] == TABS[INDEX], "the link opens the tab that was open"
    assert fresh.text_area(key="sentences").value == sentence_set("Paraphrases").text
    shown = _shown(fresh)
    assert (shown["pooled"][:, 0] == expected["pooled"][:, 0]).all()
    assert np.allclose(shown["pooled"][:, 1:].astype(float), expected["pooled"][:, 1:].astype(float))
    assert np.allclose(shown["cosine"], expected["cosine"])
    rest = ("contrast", "pooling", "layer", "bars", "chosen", "hits", "query", "k")
    assert {k: shown[k] for k in rest} == {k: expected[k] for k in rest}


def test_a_link_can_open_a_tab_and_never_carries_the_grown_index():
    import base64
    import zlib

    from explorer.ui.sentence import LINK

    at = _open(_page(), INDEX)
    at.button(key="add_typed").click().run()
    payload = _link_token(at).split(".")[2]
    raw = json.loads(zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    assert set(raw) <= set(LINK.fields), "only the page's settings travel in the link"
    assert "not sentences you added to the index" in _captions(at)

    fresh = _with_link(encode_view({"sentence_set": "Negation", "tab": TABS[3]}))
    assert fresh.session_state["sentence_tab"] == TABS[3]
    assert fresh.text_area(key="sentences").value == sentence_set("Negation").text
    assert _metrics(fresh)["Sentences in the index"] == f"{len(bundled_corpus().texts):,}"


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_a_malformed_link_shows_a_notice_and_changes_nothing():
    for token in ("1.deadbeef.not-a-real-view", encode_view({"pooling": "median", "k": 5})):
        fresh = _with_link(token)
        assert "could not be used" in _messages(fresh)
        assert fresh.text_area(key="sentences").value == sentence_set(DEFAULT_SET).text
        _open(fresh, SIMILARITY)
        assert fresh.selectbox(key="sentence_pooling").value == "model"
        assert _chart_with(fresh, "rect", "cosine") is not None


def test_a_link_asks_before_replacing_typed_sentences():
    at = _open(_page(), SIMILARITY)
    at.text_area(key="sentences").input("My precious sentence.\nAnd another one.").run()
    at.query_params["view"] = encode_view({"sentence_set": "Negation", "pooling": "cls"})
    at.run()
    assert at.text_area(key="sentences").value == "My precious sentence.\nAnd another one."
    assert "replaces the sentences you typed" in _messages(at)
    assert at.selectbox(key="sentence_pooling").value == "model", "nothing applied before the answer"
    at.button(key="share_load").click().run()
    assert not at.exception
    assert at.text_area(key="sentences").value == sentence_set("Negation").text
    assert at.selectbox(key="sentence_pooling").value == "cls"


def test_the_export_bundle_holds_every_file_and_the_model_fingerprint(model):
    import io
    import json
    import zipfile

    import pandas as pd

    from explorer.charts import sentence as sc
    from explorer.export import BUNDLE_FILES
    from explorer.models import DEFAULT_MODEL_ID, weights_fingerprint
    from explorer.sentence import similarity_matrix
    from explorer.states import extract_states
    from explorer.ui import sentence as page
    from explorer.ui.caches import cached_model_info

    info = cached_model_info(DEFAULT_MODEL_ID)
    texts = sentence_set("Paraphrases").sentences
    states = extract_states(model, texts)
    view = page.cached_view(DEFAULT_MODEL_ID, texts, "cls", "model", states.n_layers)
    sim = page.cached_view(DEFAULT_MODEL_ID, texts, None, "mean_layer", 2)
    state = {"model_id": DEFAULT_MODEL_ID, "sentence_set": "Paraphrases", "pooling": "mean_layer", "layer": 2}
    chart = sc.cloud_chart(view.cloud.tokens, view.cloud.pooled)
    data = page.export_bundle(states, view, sim, chart, state, info)

    bundle = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(bundle.namelist()) == sorted(BUNDLE_FILES)
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["weights_fingerprint"] == weights_fingerprint(model)
    assert manifest["model_id"] == DEFAULT_MODEL_ID and manifest["settings"] == state
    coords = pd.read_csv(io.BytesIO(bundle.read("coordinates.csv")))
    assert (coords["kind"] == "token").sum() == len(states.tokens)
    assert set(coords["kind"]) == {"token", "model", "cls"}
    assert np.allclose(
        coords.loc[coords["kind"] == "model", "x"], view.cloud.pooled.query("kind == 'model'")["x"]
    )
    arrays = np.load(io.BytesIO(bundle.read("vectors.npz")))  # no pickles: allow_pickle stays False
    assert arrays["texts"].tolist() == list(texts)
    assert np.allclose(arrays["embeddings"], model.encode(list(texts)), atol=1e-5)
    assert np.allclose(arrays["similarity"], similarity_matrix(states.pooled_raw[2]), atol=1e-6)
    assert arrays["token_vectors"].shape == (len(states.tokens), info.dim)
    assert arrays["token_text"].tolist() == states.tokens["text"].tolist()
    assert bundle.read("chart.png").startswith(b"\x89PNG")
    assert b"<svg" in bundle.read("chart.svg")


def test_classroom_mode_enlarges_marks_and_switches_palette():
    at = _page()
    before = _chart_with(at, "point", "kind")["spec"]
    at.sidebar.toggle(key="classroom").set_value(True).run()
    assert not at.exception
    after = _chart_with(at, "point", "kind")["spec"]

    def diamond_size(spec: dict) -> float:
        return next(
            layer["mark"]["size"] for layer in spec["layer"] if layer["mark"].get("shape") == "diamond"
        )

    assert diamond_size(after) > diamond_size(before)
    assert "#0072B2" in json.dumps(after) and "#0072B2" not in json.dumps(before)
    corpus_map = _chart_with(_open(at, INDEX), "circle", "source")["spec"]
    assert "#0072B2" in json.dumps(corpus_map)
    assert after["config"]["axis"]["labelFontSize"] > before["config"]["axis"]["labelFontSize"]


# ---------------------------------------------------------------- review fixes: map cache, uploads, cap
def test_map_cache_never_mixes_models_or_sources():
    from explorer.index import EmbeddingIndex
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import index as page

    rng = np.random.default_rng(0)
    texts = [f"shared text {i}" for i in range(12)]
    first = EmbeddingIndex.build(texts, rng.normal(size=(12, 8)), ["a"] * 12)
    other_dims = EmbeddingIndex.build(texts, rng.normal(size=(12, 5)), ["a"] * 12)  # same texts, other model
    other_user = EmbeddingIndex.build(texts, first.vectors, ["file: secret.csv"] * 12)
    projection, _ = page.index_map(DEFAULT_MODEL_ID, first)
    projection_b, _ = page.index_map(DEFAULT_MODEL_ID, other_dims)
    assert projection.axes.shape == (8, 2) and projection_b.axes.shape == (5, 2)
    assert projection_b.place(other_dims.vectors[0]).shape == (1, 2)
    _, points = page.index_map(DEFAULT_MODEL_ID, other_user)
    assert set(points["source"]) == {"file: secret.csv"}
    _, points = page.index_map(DEFAULT_MODEL_ID, first)
    assert set(points["source"]) == {"a"}


def test_an_upload_is_parsed_once_across_reruns_and_can_be_added(monkeypatch):
    from explorer import uploads

    calls = []
    real = uploads.parse_upload
    monkeypatch.setattr(uploads, "parse_upload", lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    at = _open(_page(), INDEX)
    lines = "Tide pools hold tiny crabs.\nA kettle whistles on the stove.\nThe choir sang in four parts.\n"
    at.file_uploader(key="sentence_upload").upload("mine.txt", lines.encode(), "text/plain")
    at.run()
    assert not at.exception and calls == ["mine.txt"]
    at.number_input(key="index_k").set_value(4).run()
    at.text_input(key="index_query").set_value("crabs in rock pools").run()
    assert calls == ["mine.txt"], "reruns reuse the parsed file"
    at.button(key="add_upload").click().run()
    assert not at.exception
    corpus_size = len(bundled_corpus().texts)
    assert _metrics(at)["Sentences in the index"] == f"{corpus_size + 3:,}"
    assert "file: mine.txt" in set(_chart_with(at, "circle", "source")["rows"]["source"])
    assert "in the index" in _captions(at)


def test_a_full_index_refuses_more_and_keeps_what_it_has(monkeypatch):
    from explorer.ui import index as page

    corpus_size = len(bundled_corpus().texts)
    monkeypatch.setattr(page, "MAX_INDEX_SENTENCES", corpus_size + 1)
    at = _open(_page(), INDEX)
    assert at.button(key="add_typed").disabled
    assert any("limit is" in w.value for w in at.warning)
    at.file_uploader(key="sentence_upload").upload(
        "more.txt", b"One more line.\nAnd another.\n", "text/plain"
    )
    at.run()
    assert not at.exception
    assert any("limit is" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "add_upload"]
    assert _metrics(at)["Sentences in the index"] == f"{corpus_size:,}"
    # one sentence still fits
    at.file_uploader(key="sentence_upload").set_value(("one.txt", b"Just this one.\n", "text/plain"))
    at.run()
    at.button(key="add_upload").click().run()
    assert _metrics(at)["Sentences in the index"] == f"{corpus_size + 1:,}"


def test_a_very_wide_csv_offers_only_the_first_columns_and_says_the_limit():
    from explorer import uploads

    limit = uploads.MAX_CSV_COLUMNS
    header = ",".join(["id", "text", *(f"c{i}" for i in range(100_000))])
    row = ",".join(["1", "Tide pools hold tiny crabs.", *("x" * 100_000)])
    at = _open(_page(), INDEX)
    at.file_uploader(key="sentence_upload").upload("wide.csv", f"{header}\n{row}\n".encode(), "text/csv")
    at.run()
    assert not at.exception
    chooser = next(s for s in at.selectbox if s.label == "Text column")
    assert len(chooser.options) == limit and chooser.value == "text"
    assert f"The CSV has 100,002 columns; only the first {limit} are read" in _captions(at)


def test_adding_sentences_never_moves_the_dots_already_on_the_map():
    """Issue 11: the map's axes come from the bundled corpus; added sentences are placed on them."""

    def corpus_dots(at: AppTest) -> pd.DataFrame:
        chart = next(c for c in chart_specs(at) if any("added" in d.columns for d in c["datasets"].values()))
        rows = pd.concat([d for d in chart["datasets"].values() if "added" in d.columns])
        return rows.sort_values(["text", "source"]).reset_index(drop=True)

    at = _open(_page(), INDEX)
    before = corpus_dots(at)
    at.button(key="add_typed").click().run()
    assert not at.exception
    after = corpus_dots(at)
    assert len(after) == len(before) + len(sentence_set(DEFAULT_SET).sentences)
    old = after[~after["added"]].reset_index(drop=True)
    assert np.array_equal(old[["x", "y"]].to_numpy(), before[["x", "y"]].to_numpy()), "old dots stay put"
    proof = " ".join(c.value for c in at.caption)
    assert "identical: the model did not change" in proof
