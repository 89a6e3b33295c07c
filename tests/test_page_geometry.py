"""AppTest of the Geometry lab page: it runs, draws its charts, and the sense lab reacts to its inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import APPTEST_TIMEOUT, chart_rows, chart_specs
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "4_Geometry_lab.py")


def _rows_with(at: AppTest, column: str) -> list[pd.DataFrame]:
    """The data rows (not the rule layers) of each chart that has `column`."""
    return [
        rows.dropna(subset=[column]) for rows in map(chart_rows, chart_specs(at)) if column in rows.columns
    ]


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_draws_every_measure(page: AppTest) -> None:
    measured = pd.concat(_rows_with(page, "key"))
    expected = {
        "anisotropy",
        "self_similarity",
        "self_similarity_adjusted",
        "intra_sentence",
        "intra_sentence_adjusted",
        "mean_norm",
        "effective_dimension",
        "faithfulness_pca",
    }
    assert expected <= set(measured["key"])
    assert measured.groupby("key")["layer"].nunique().min() == 7  # 6 layers + embeddings
    assert _rows_with(page, "step"), "the tokens × layers heatmap is missing"
    assert any(b.label.startswith("⬇️ Download these measures") for b in page.get("download_button"))


def test_every_chart_sent_is_valid_vega_lite(page: AppTest) -> None:
    """The lab sends its charts without Altair's schema check on every run (`widgets.chart_with_reading`):
    each spec the page sent, measure panels, heatmap and the sense lab's three, passes it here."""
    from altair.vegalite.v6.schema.core import TopLevelSpec

    specs = [chart["spec"] for chart in chart_specs(page)]
    assert len(specs) >= 9  # six measures, the heatmap, the sense lab's accuracy, similarity and scatter
    for spec in specs:
        TopLevelSpec.validate(spec)


def test_sense_lab_shows_a_result_for_the_preset(page: AppTest) -> None:
    labels = [m.label for m in page.metric]
    assert "Senses separate best at layer" in labels
    accuracy = _rows_with(page, "accuracy")[0]
    assert len(accuracy) == 7 and accuracy["accuracy"].between(0, 1).all()
    points = _rows_with(page, "sense")[0]
    assert set(points["sense"]) == {"money", "river"}


def test_changing_the_word_changes_the_data() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    before = _rows_with(at, "accuracy")[0]
    at.selectbox(key="sense_word").set_value("crane").run()
    assert not at.exception
    assert "crane" in at.text_area(key="sense_text_crane").value
    after = _rows_with(at, "accuracy")[0]
    assert not before[["same_sense", "cross_sense"]].equals(after[["same_sense", "cross_sense"]])
    assert set(_rows_with(at, "sense")[0]["sense"]) == {"bird", "machine"}


def test_editing_contexts_down_to_one_sense_explains_what_is_missing() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    at.text_area(key="sense_text_bank").set_value("money: The bank closed.\nmoney: The bank opened.").run()
    assert not at.exception
    assert any("two senses" in w.value for w in at.warning)
    assert "Senses separate best at layer" not in [m.label for m in at.metric]


def test_measuring_your_own_sentences() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    corpus_rows = pd.concat(_rows_with(at, "key"))
    at.radio(key="geometry_source").set_value("yours").run()
    assert not at.exception
    yours = pd.concat(_rows_with(at, "key"))
    mine = yours[yours["key"] == "anisotropy"]["value"].to_numpy()
    theirs = corpus_rows[corpus_rows["key"] == "anisotropy"]["value"].to_numpy()
    assert len(mine) == len(theirs) and not (mine == theirs).all()


def test_one_sentence_says_which_measures_are_undefined() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    at.radio(key="geometry_source").set_value("yours").run()
    at.text_area(key="sentences").set_value("A cat sat on my mat.").run()
    assert not at.exception
    notices = [i.value for i in at.info]
    assert any("at least two sentences" in n for n in notices)
    assert any("occurs more than once" in n for n in notices)  # no word repeats in that sentence
    assert "intra_sentence" in set(pd.concat(_rows_with(at, "key"))["key"])
    assert any("Not defined here" in n and "at least 12 words" in n for n in notices)  # faithfulness
    assert "faithfulness_pca" not in set(pd.concat(_rows_with(at, "key"))["key"])


def _words_in(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if c.value.startswith("Over **"))
    return int(caption.split("**")[1].split()[0].replace(",", ""))


def test_many_long_sentences_score_faithfulness_on_a_seeded_sample() -> None:
    from explorer.assets import geometry_corpus as corpus_sentences
    from explorer.inputs import MAX_SENTENCES
    from explorer.projection import FAITHFULNESS_MAX_POINTS

    corpus = corpus_sentences()
    long = [" ".join(corpus[(i * k) % len(corpus)] for k in (1, 3, 7)) for i in range(MAX_SENTENCES)]
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    at.radio(key="geometry_source").set_value("yours").run()
    at.text_area(key="sentences").set_value("\n".join(long)).run()
    assert not at.exception, [e.value for e in at.exception]
    n_words = _words_in(at)
    assert n_words > FAITHFULNESS_MAX_POINTS  # the other measures still use every word
    sampled = [c.value for c in at.caption if "seeded sample" in c.value]
    assert sampled == [
        f"Computed on a seeded sample of {FAITHFULNESS_MAX_POINTS:,} words (of {n_words:,}): neighbour "
        "search and UMAP slow down sharply with more points. The other charts use every word."
    ]
    faithful = pd.concat(_rows_with(at, "key")).query("key == 'faithfulness_pca'")
    assert len(faithful) == 7 and faithful["value"].between(0, 1).all()


def test_the_corpus_is_not_sampled_and_too_few_words_for_umap_say_so() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    assert not [c.value for c in at.caption if "seeded sample" in c.value]  # the corpus is small enough
    at.radio(key="geometry_source").set_value("yours").run()
    at.text_area(key="sentences").set_value(
        "Bright red kites drift over quiet green hills.\nThe old dog sleeps."
    ).run()
    at.toggle(key="geometry_umap").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert 12 <= _words_in(at) < 15
    assert any(c.value.startswith("No UMAP line: UMAP needs at least 15 words") for c in at.caption)
    keys = set(pd.concat(_rows_with(at, "key"))["key"])
    assert "faithfulness_pca" in keys and "faithfulness_umap" not in keys


# ---------------------------------------------------------------- share links, export, classroom, lesson
MY_SENTENCES = (
    "The cat sat on the mat.\nA dog slept by the door.\nRain fell on the old roof.\nThe cat woke up."
)
MY_CONTEXTS = (
    "season: Spring brings rain.\nseason: We plant seeds in spring.\n"
    "coil: The spring in the pen broke.\ncoil: A metal spring pushes the lid."
)


def _fresh(token: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT)
    at.query_params["view"] = token
    return at.run()


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for group in (at.info, at.warning, at.error) for m in group)


def _chart_data(at: AppTest) -> dict[str, pd.DataFrame]:
    """The data behind the measure lines, the sense curves, the 2-D sense view and the heatmap."""
    return {
        "measures": pd.concat(_rows_with(at, "key"))[["key", "layer", "value"]].reset_index(drop=True),
        "senses": _rows_with(at, "accuracy")[0][["layer", "accuracy", "same_sense", "cross_sense"]],
        "points": _rows_with(at, "sense")[0][["x", "y", "sense", "context"]],
        "heatmap": _rows_with(at, "step")[0][["token", "step", "cosine"]],
    }


def _assert_same_charts(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(
            a[name].reset_index(drop=True), b[name].reset_index(drop=True), check_exact=False, atol=1e-6
        )


def test_a_page_opened_with_a_link_shows_the_encoded_state() -> None:
    from explorer.share import encode_view

    state = {"source": "yours", "sentences": MY_SENTENCES, "word": "spring", "contexts": MY_CONTEXTS}
    at = _fresh(encode_view({**state, "heatmap": [1, 3]}))
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="geometry_source").value == "yours"
    assert at.text_area(key="sentences").value == MY_SENTENCES
    assert at.selectbox(key="sense_word").value == "spring"
    assert at.text_area(key="sense_text_spring").value == MY_CONTEXTS
    assert at.multiselect(key="heatmap_sentences").value == [1, 3]
    data = _chart_data(at)
    assert set(data["points"]["sense"]) == {"season", "coil"} and len(data["points"]) == 4
    shown_sentences = {token.split(" · ")[0] for token in data["heatmap"]["token"]}
    assert shown_sentences == {"S2", "S4"}
    assert "could not be used" not in _messages(at)


def test_the_copied_link_reproduces_the_view() -> None:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    at.radio(key="geometry_source").set_value("yours").run()
    at.text_area(key="sentences").input(MY_SENTENCES).run()
    at.selectbox(key="sense_word").set_value("crane").run()
    at.multiselect(key="heatmap_sentences").set_value([0, 2]).run()
    assert not at.exception
    link = next(c.value for c in at.code if "view=" in c.value)
    expected = _chart_data(at)

    fresh = _fresh(link.split("view=")[1])
    assert not fresh.exception
    assert fresh.text_area(key="sentences").value == MY_SENTENCES
    assert fresh.selectbox(key="sense_word").value == "crane"
    _assert_same_charts(_chart_data(fresh), expected)


def test_a_link_carries_a_word_of_ones_own() -> None:
    from explorer.ui.senses import OWN_WORD

    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    at.selectbox(key="sense_word").set_value(OWN_WORD).run()
    at.text_input(key="sense_own_word").input("Light").run()
    contexts = "weight: The bag is light.\nweight: A light jacket.\nlamp: Turn on the light.\nlamp: The light is bright."
    at.text_area(key=f"sense_text_{OWN_WORD}").input(contexts).run()
    assert not at.exception
    link = next(c.value for c in at.code if "view=" in c.value)
    fresh = _fresh(link.split("view=")[1])
    assert fresh.selectbox(key="sense_word").value == OWN_WORD
    assert fresh.text_input(key="sense_own_word").value == "Light"
    assert fresh.text_area(key=f"sense_text_{OWN_WORD}").value == contexts
    _assert_same_charts(_chart_data(fresh), _chart_data(at))


def test_a_malformed_link_shows_a_notice_and_changes_nothing() -> None:
    from explorer.share import encode_view

    tampered = encode_view({"source": "yours", "word": "crane"})[:-3] + "abc"
    for token in ("1.deadbeef.not-a-real-view", tampered, encode_view({"word": "no-such-preset"})):
        at = _fresh(token)
        assert not at.exception
        assert "could not be used" in _messages(at)
        assert at.radio(key="geometry_source").value == "corpus"
        assert at.selectbox(key="sense_word").value == "bank"


def test_a_link_asks_before_replacing_typed_contexts() -> None:
    from explorer.senses import word_sense_presets
    from explorer.share import encode_view

    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    mine = "money: I paid at the bank.\nmoney: The bank lent us money.\nriver: Fish by the bank.\nriver: A bank of reeds."
    at.text_area(key="sense_text_bank").input(mine).run()
    at.query_params["view"] = encode_view({"word": "bank", "source": "yours"})
    at.run()
    assert not at.exception
    assert at.text_area(key="sense_text_bank").value == mine, "nothing replaced without asking"
    assert at.radio(key="geometry_source").value == "corpus"
    assert "replaces" in _messages(at)
    at.button(key="share_load").click().run()
    assert at.text_area(key="sense_text_bank").value == word_sense_presets()["bank"].as_text()
    assert at.radio(key="geometry_source").value == "yours"


def test_the_export_bundle_holds_every_file_and_the_model_fingerprint(model) -> None:
    import io
    import json
    import zipfile

    import numpy as np

    from explorer import assets, senses
    from explorer.export import BUNDLE_FILES
    from explorer.models import DEFAULT_MODEL_ID, weights_fingerprint
    from explorer.states import extract_states
    from explorer.ui import geometry as lab
    from explorer.ui import lab_measures
    from explorer.ui import senses as sense_lab
    from explorer.ui.caches import cached_model_info

    info = cached_model_info(DEFAULT_MODEL_ID)
    texts = assets.geometry_corpus()
    view = lab_measures.cached_measures(DEFAULT_MODEL_ID, texts, False)
    contexts = senses.word_sense_presets()["spring"]
    sense = sense_lab.cached_sense_view(DEFAULT_MODEL_ID, "spring", contexts.labels, contexts.sentences)
    state = {"model_id": DEFAULT_MODEL_ID, "source": "corpus", "word": "spring"}
    data = lab.export_bundle(view, sense, state, info)

    bundle = zipfile.ZipFile(io.BytesIO(data))
    names = bundle.namelist()
    assert set(BUNDLE_FILES) <= set(names)
    # the layer-by-layer charts the bundle was exported from travel with it, each titled
    layer_charts = sorted(n for n in names if n.startswith("layer_by_layer_") and n.endswith(".svg"))
    assert len(layer_charts) >= 5 and all(n[:-3] + "png" in names for n in layer_charts)
    assert "Anisotropy" in bundle.read(layer_charts[0]).decode() or any(
        "Geometry lab" in bundle.read(n).decode() for n in layer_charts
    )
    assert "spring" in bundle.read("chart.svg").decode(), "the sense scatter names its word"
    manifest = json.loads(bundle.read("manifest.json"))
    assert sorted(manifest["files"]) == sorted(names)
    assert manifest["weights_fingerprint"] == weights_fingerprint(model)
    assert manifest["settings"] == state and manifest["sense_best_layer"] == sense.separation.best_layer
    coords = pd.read_csv(io.BytesIO(bundle.read("coordinates.csv")))
    assert coords["layer"].tolist() == list(range(info.n_layers + 1))
    assert np.allclose(coords["anisotropy"], view.measures["anisotropy"])
    assert np.allclose(coords["sense_accuracy"], sense.separation.accuracy)
    arrays = np.load(io.BytesIO(bundle.read("vectors.npz")))  # no pickles: allow_pickle stays False
    states = extract_states(model, contexts.sentences)
    found = senses.find_sense_occurrences(states.layers, states.tokens, contexts, "spring")
    assert np.allclose(arrays["sense_vectors"], found.vectors, atol=1e-5)
    assert arrays["sense_label"].tolist() == list(found.labels)
    assert arrays["sense_sentence"].tolist() == list(found.sentences)
    assert arrays["layers"].shape == (info.n_layers + 1, len(view.states.tokens), info.dim)
    assert arrays["token_text"].tolist() == view.states.tokens["text"].tolist()
    assert bundle.read("chart.png").startswith(b"\x89PNG")
    assert "<svg" in bundle.read("chart.svg").decode()


def _sense_scatter_spec(at: AppTest) -> dict:
    return next(c["spec"] for c in chart_specs(at) if "sense" in chart_rows(c).columns)


def test_classroom_mode_enlarges_marks_and_switches_palette() -> None:
    import json

    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT).run()
    before = _sense_scatter_spec(at)
    at.sidebar.toggle(key="classroom").set_value(True).run()
    assert not at.exception
    after = _sense_scatter_spec(at)
    assert after["mark"]["size"] > before["mark"]["size"]
    assert "#0072B2" in json.dumps(after) and "#0072B2" not in json.dumps(before)
    assert after["config"]["axis"]["labelFontSize"] > before["config"]["axis"]["labelFontSize"]
    heatmap = next(c["spec"] for c in chart_specs(at) if "step" in chart_rows(c).columns)
    assert "viridis" in json.dumps(heatmap)


def test_a_link_asking_for_umap_waits_for_a_click() -> None:
    from explorer.share import encode_view

    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT)
    at.query_params["view"] = encode_view({"source": "corpus", "umap": True})
    at.run()
    assert not at.exception
    assert any("fits UMAP" in i.value for i in at.info)
    assert not at.tabs, "the page stops before measuring anything"
    assert any(b.key == "link_run" for b in at.button)
