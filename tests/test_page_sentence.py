"""AppTest: the Sentence embedding page draws its charts, searches its index, and grows the index
while the model's weights fingerprint stays the same."""

from __future__ import annotations

from conftest import chart_specs, open_page
from streamlit.testing.v1 import AppTest

from explorer.index import bundled_corpus

PAGE = "pages/2_Sentence_embedding.py"


def _page() -> AppTest:
    at = open_page(PAGE)
    assert not at.exception, [e.message for e in at.exception]
    return at


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
    at = _page()
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
    assert len(_chart_with(at, "rect", "cosine")["rows"]) == 9


def test_other_layer_changes_the_similarities():
    at = _page()
    before = _chart_with(at, "rect", "cosine")["rows"]["cosine"].to_numpy()
    at.selectbox(key="sentence_pooling").set_value("mean_layer").run()
    assert not at.exception
    after = _chart_with(at, "rect", "cosine")["rows"]["cosine"].to_numpy()
    assert before.shape == after.shape and abs(before - after).max() > 0.05


def test_unambiguous_query_returns_its_neighbour_and_is_drawn():
    at = _page()
    at.text_input(key="index_query").set_value("My dog always barks when the mail carrier comes").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert table["text"].iloc[0] == "Our dog barks every time the postman arrives."
    assert table["source"].iloc[0] == "animals"
    corpus_map = _chart_with(at, "circle", "source")
    assert corpus_map is not None and len(corpus_map["rows"]) == len(bundled_corpus().texts)


def test_adding_sentences_grows_the_index_but_not_the_model():
    at = _page()
    n_typed = len([s for s in at.text_area(key="sentences").value.splitlines() if s.strip()])
    before = _metrics(at)
    corpus_size = len(bundled_corpus().texts)
    assert before["Index size"] == f"{corpus_size} sentences"
    at.button(key="add_typed").click().run()
    assert not at.exception
    after = _metrics(at)
    assert after["Index size"] == f"{corpus_size + n_typed} sentences"
    assert after["Model weights fingerprint"] == before["Model weights fingerprint"]
    delta = next(m for m in at.metric if m.label == "Model weights fingerprint").proto.delta
    assert delta == "identical"
    assert len(_chart_with(at, "circle", "source")["rows"]) == corpus_size + n_typed
    # the same sentences cannot be added twice: the button says so and is disabled
    assert at.button(key="add_typed").disabled
    assert "in the index" in at.button(key="add_typed").label
    at.button(key="reset_index").click().run()
    assert _metrics(at)["Index size"] == f"{corpus_size} sentences"
    assert not at.button(key="add_typed").disabled
