"""AppTest of the Geometry lab page: it runs, draws its charts, and the sense lab reacts to its inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APPTEST_TIMEOUT, chart_rows, chart_specs

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
