"""Lessons: every lesson names a page that exists, and its view is one that page accepts."""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs

import pytest
from conftest import ROOT, open_page

from explorer.assets import lessons
from explorer.share import decode_view, encode_view

PAGE_MODULES = {
    "pages/1_Token_journey.py": "explorer.ui.journey",
    "pages/2_Sentence_embedding.py": "explorer.ui.sentence",
    "pages/3_Fine_tune.py": "explorer.ui.finetune",
    "pages/4_Geometry_lab.py": "explorer.ui.geometry",
}


@pytest.mark.parametrize("lesson", lessons(), ids=lambda lesson: lesson.id)
def test_lesson_view_is_accepted_by_its_page(lesson) -> None:
    assert (ROOT / lesson.page).exists()
    fields = importlib.import_module(PAGE_MODULES[lesson.page]).LINK.validators
    assert decode_view(encode_view(lesson.view), fields) == lesson.view
    assert lesson.question.strip() and lesson.answer.strip()


def test_every_page_has_a_lesson() -> None:
    assert {lesson.page for lesson in lessons()} == set(PAGE_MODULES)


def test_home_gallery_links_every_lesson() -> None:
    at = open_page()
    assert not at.exception
    links = {el.proto.label: el.proto for el in at.get("page_link")}
    for lesson in lessons():
        link = links[lesson.title]
        query = parse_qs(link.query_string)
        assert query["lesson"] == [lesson.id], "the card starts the lesson on its page"
        if lesson.view:
            token = query["view"][0]
            fields = importlib.import_module(PAGE_MODULES[lesson.page]).LINK.validators
            assert decode_view(token, fields) == lesson.view, "the card opens the page on the lesson's view"


def test_no_answer_word_is_in_the_question_title_or_choices() -> None:
    """The words that give a lesson's answer away are listed per lesson; the card shows the title, the
    question and the choices before Reveal, so none of those may carry them (the answer does)."""
    from explorer.assets import lessons as all_lessons

    for lesson in all_lessons():
        assert lesson.answer_words and lesson.pick_options, lesson.id
        before = " ".join([lesson.title, lesson.question, lesson.pick_prompt, *lesson.pick_options]).lower()
        assert not [w for w in lesson.answer_words if w.lower() in before], lesson.id
        assert any(w.lower() in lesson.answer.lower() for w in lesson.answer_words), lesson.id
