"""AppTest: every page's share menu offers the running lesson's pack, made only on a click in its
dialog, its answer measured then by the lesson card's code, what the lesson hides left out of the chart
drawn before Reveal, and the file kept for this user on the server's memory ledger."""

from __future__ import annotations

import html
import json
import re

import pytest
from conftest import APPTEST_TIMEOUT, ROOT
from streamlit.testing.v1 import AppTest
from test_lesson_pack import _visible

from explorer.assets import Lesson, lessons
from explorer.ui import exports, memory
from explorer.ui.finetune.pack import TRAIN_FIRST, TUNE_FIRST
from explorer.ui.lesson_packs import ADD_FIRST
from explorer.ui.lessons import gallery_query

pytestmark = pytest.mark.slow


def _spec(page: str, name: str) -> str:
    return re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S).group(1)


def _opened(lesson_id: str) -> tuple[Lesson, AppTest]:
    """The lesson opened from the gallery, as a visitor opens it."""
    (lesson,) = [lesson for lesson in lessons() if lesson.id == lesson_id]
    at = AppTest.from_file(str(ROOT / lesson.page), default_timeout=APPTEST_TIMEOUT)
    for key, value in gallery_query(lesson).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return lesson, at


def _made(at: AppTest, lesson: Lesson) -> tuple[str, exports.MadePack]:
    """The pack made from the share menu's dialog: its owner on the ledger and the file kept there, the
    work's claims ended. AppTest reruns the whole page (Streamlit reruns only the dialog): the dialog's
    button is pressed with the menu's button that opens the dialog."""
    at.button(key="export_pack_open").click().run()
    assert not at.exception
    at.button(key="export_pack_open").click()
    at.button(key="pack_make").click().run()
    assert not at.exception
    owner = at.session_state[memory.OWNER_KEY]
    made = memory.ledger().get(owner, exports.PACK)
    assert isinstance(made, exports.MadePack) and made.file_name == f"lesson_{lesson.id}.html"
    assert not [c for c in memory.ledger().claims() if c.owner == owner], "the claims ended with the work"
    return owner, made


def made_in_the_app(
    lesson_id: str, sentences: str | None = None, press: str | None = None
) -> tuple[AppTest, bytes]:
    """Open `lesson_id` from the gallery (with `sentences` typed in the box, if given; then the button
    whose label starts with `press` pressed, e.g. to train), then make its pack from the share menu's
    dialog: the app and the file."""
    lesson, at = _opened(lesson_id)
    if sentences is not None:
        at.text_area(key="sentences").set_value(sentences).run()
    if press is not None:
        next(b for b in at.button if b.label.startswith(press)).click().run()
    owner, made = _made(at, lesson)
    memory.ledger().release(owner, exports.PACK)
    return at, made.data


# (lesson, in the chart's spec after Reveal but not before it, whether an answer is measured)
PACKED = [
    ("bank-senses", '"name":"readout', True),  # the Token journey: the readout's layer
    ("why-bank", '"name":"pulls', True),  # the 'why' lines
    ("one-vector", '"pooled_x"', False),  # Sentence embedding: where each sentence's ◆ lands
    ("negation", '"cosine"', True),  # the heatmap's cells
    ("nearest-meaning", '"cosine"', True),
    ("search-geometry", '"score"', False),  # the lines from the query to its hits (listed, not judged)
    ("anisotropy-layers", '"key":"anisotropy"', True),  # Geometry lab: the anisotropy line
]


@pytest.mark.parametrize(("lesson_id", "hidden", "measured"), PACKED)
def test_the_share_menu_makes_the_running_lessons_pack_on_a_click(
    lesson_id: str, hidden: str, measured: bool
) -> None:
    lesson, at = _opened(lesson_id)
    # a page that has claimed nothing yet has no owner on the ledger: nothing of it is held there
    owner = at.session_state.get(memory.OWNER_KEY)
    assert owner is None or memory.ledger().get(owner, exports.PACK) is None, "opening makes no pack"
    owner, made = _made(at, lesson)
    assert [d for d in at.get("download_button") if d.proto.label.startswith(f"⬇️ Download {made.file_name}")]
    page = made.data.decode("utf-8")
    before, after = _spec(page, "spec-before"), _spec(page, "spec-after")
    assert hidden not in before.replace(" ", "") and hidden in after.replace(" ", "")
    assert ('class="measured" data-option="' in page) is measured  # the answer measured when made
    assert f"lesson = {lesson.id}" in page
    assert json.loads(before) and json.loads(after)
    memory.ledger().release(owner, exports.PACK)


@pytest.mark.parametrize(
    ("lesson_id", "run_label", "needs"),
    [
        ("head-not-model", "🎯 Train the head", TRAIN_FIRST),
        ("tune-weights", "Tune a private copy", TUNE_FIRST),
        ("index-not-model", "Add my ", ADD_FIRST),  # Sentence embedding
    ],
)
def test_a_pack_of_the_visitors_own_run_says_what_to_do_first(
    lesson_id: str, run_label: str, needs: str
) -> None:
    """No run yet: the pack's button is unavailable and says what to do (it never trains by itself); after
    the visitor's run, the pack is that run, its verdict only in the answer's template."""
    lesson, at = _opened(lesson_id)
    assert at.button(key="export_pack_open").disabled
    assert f"🎓 {needs}" in [c.value for c in at.caption]
    next(b for b in at.button if b.label.startswith(run_label)).click().run()
    assert not at.exception
    assert not at.button(key="export_pack_open").disabled
    owner, made = _made(at, lesson)
    page = made.data.decode("utf-8")
    visible, _ = _visible(page)
    assert not re.search(r"[0-9a-f]{16}\W+→", visible), "no fingerprint pair before Reveal"
    template = re.search(r'<template id="answer-template">(.*?)</template>', page, re.S).group(1)
    assert re.search(r"([0-9a-f]{16}) → \1, identical", template), "the verdict waits for Reveal"
    assert lesson.answer not in visible and html.escape(lesson.answer) in template
    expected = "only the tuned top layer" if lesson_id == "tune-weights" else "no"
    assert f'data-option="{expected}"' in template
    more = json.loads(_spec(page, "spec-more"))
    if lesson_id == "tune-weights":  # the picture at every layer, with its slider; the bars after Reveal
        assert json.loads(_spec(page, "spec-before"))["params"]
        # the layer title's mean move (0.000 below the tuned layers) waits for Reveal too
        assert "mean move" not in _spec(page, "spec-before") and "mean move" in _spec(page, "spec-after")
        assert '"mean move of a token"' in json.dumps(more) and "mean move of a token" not in visible
    else:
        assert more is None
    memory.ledger().release(owner, exports.PACK)


def test_the_heatmaps_pack_follows_the_pooling_the_page_shows() -> None:
    lesson, at = _opened("negation")
    at.selectbox(key="sentence_pooling").set_value("cls").run()
    owner, made = _made(at, lesson)
    page = made.data.decode("utf-8")
    assert "[CLS] token (not what the model uses)" in page.split('<p class="caption">')[1].split("</p>")[0]
    assert 'data-option="' in page  # the lesson's measure stays the model's own pooling, as on its card
    memory.ledger().release(owner, exports.PACK)
