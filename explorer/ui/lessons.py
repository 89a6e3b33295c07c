"""Lessons: 'predict, then reveal' on each page, and the home page's gallery that opens them.

A lesson opens its page on the view it needs (through the page's share link) with its question on top.
Until the student presses Reveal, the page leaves out what would give the answer away (the lesson's
`hides`: paths, a readout, a chart, a verdict); pages ask `hidden(page, element)` before drawing those.
"""

from __future__ import annotations

import streamlit as st

from explorer import assets
from explorer.assets import Lesson
from explorer.inputs import escape_markdown
from explorer.share import QUERY_KEY, encode_view
from explorer.ui.links import SEEN_LINKS
from explorer.ui.widgets import ROOT

LESSON_KEY = "lesson"  # query parameter naming the lesson a gallery link opens
_ACTIVE = "_lesson_active"  # page → id of the lesson running there
_REVEALED = "_lessons_revealed"  # ids whose answer was revealed
_SEEN = "_lesson_links_seen"


def _active_ids() -> dict[str, str]:
    return st.session_state.setdefault(_ACTIVE, {})


def _revealed() -> set[str]:
    return st.session_state.setdefault(_REVEALED, set())


def start(lesson: Lesson) -> None:
    """Run `lesson` on its page, its answer hidden again."""
    _active_ids()[lesson.page] = lesson.id
    _revealed().discard(lesson.id)


def stop(page: str) -> None:
    _active_ids().pop(page, None)


def reveal(lesson_id: str) -> None:
    _revealed().add(lesson_id)


def active(page: str) -> Lesson | None:
    """The lesson running on this page, if any."""
    wanted = _active_ids().get(page)
    return next((lesson for lesson in assets.lessons_for(page) if lesson.id == wanted), None)


def hidden(page: str, element: str) -> bool:
    """Whether `element` must stay out of the page because it would answer the running lesson."""
    lesson = active(page)
    return lesson is not None and element in lesson.hides and lesson.id not in _revealed()


def receive(page: str) -> None:
    """Start the lesson a gallery link names (once per link and session); a stale name gets a notice."""
    wanted = st.query_params.get(LESSON_KEY)
    if not wanted:
        return
    seen: set[str] = st.session_state.setdefault(_SEEN, set())
    if (page, wanted) in seen:
        return
    seen.add((page, wanted))
    lesson = next((lesson for lesson in assets.lessons_for(page) if lesson.id == wanted), None)
    if lesson is None:
        st.warning("This link names a lesson this page does not have; showing the page as it is.", icon="🎓")
        return
    start(lesson)


def lesson_card(page: str) -> None:
    """The running lesson on top of its page: question, Reveal, teacher notes; the answer once revealed."""
    lesson = active(page)
    if lesson is None:
        return
    with st.container(border=True):
        st.markdown(f"**🎓 Lesson · {escape_markdown(lesson.title)}**")
        st.markdown(f"🤔 **Predict:** {escape_markdown(lesson.question)}")
        if lesson.id in _revealed():
            st.success(lesson.answer, icon="💡")
        else:
            st.button(
                f"Reveal the answer: {lesson.title}",
                key=f"reveal_{lesson.id}",
                on_click=reveal,
                args=(lesson.id,),
                type="primary",
            )
        with st.expander("👩‍🏫 Teacher notes"):
            st.markdown(escape_markdown(lesson.teacher_notes))
        st.button("Leave the lesson", key=f"leave_{lesson.id}", on_click=stop, args=(page,))


def placeholder(what: str) -> None:
    """Where an answer-bearing element would be: a line saying it comes with the answer."""
    st.info(f"🤔 Make your prediction first: {what} appears when you reveal the answer above.", icon="🎓")


def _open(lesson: Lesson) -> None:
    """on_click of a lesson button: put the lesson and its view in the URL, as a gallery link does, so
    the next run applies the view through the page's own link (asking before it replaces typing)."""
    query = gallery_query(lesson)
    st.session_state.get(_SEEN, set()).discard((lesson.page, lesson.id))
    st.session_state.get(SEEN_LINKS, set()).discard(query.get(QUERY_KEY))
    st.query_params.from_dict(query)


def lesson_menu(page: str, in_fragment: bool = False) -> None:
    """This page's lessons as buttons that start them (their questions show only once started).

    `in_fragment`: the menu is inside an `st.fragment`, whose own reruns would not reach the lesson card
    or the link the button puts in the URL: a click then reruns the whole page."""
    lessons = [lesson for lesson in assets.lessons_for(page) if lesson.id != _active_ids().get(page)]
    if not lessons:
        return
    st.markdown("**🎓 Lessons on this page**")
    for lesson in lessons:
        started = st.button(
            f"Start lesson: {lesson.title}", key=f"start_{lesson.id}", on_click=_open, args=(lesson,)
        )
        if started and in_fragment:
            st.rerun(scope="app")


def gallery_query(lesson: Lesson) -> dict[str, str]:
    """The query a gallery card opens its page with: the lesson's view and its name."""
    query = {LESSON_KEY: lesson.id}
    if lesson.view:
        query[QUERY_KEY] = encode_view(lesson.view)
    return query


def lessons_gallery() -> None:
    """Home page cards, one per lesson in the order of the five ideas: each opens its page on the view
    the lesson needs, with its question on top."""
    available = [lesson for lesson in assets.lessons() if (ROOT / lesson.page).exists()]
    for i, lesson in enumerate(sorted(available, key=lambda lesson: lesson.idea)):
        if i % 2 == 0:  # a row of two at a time: on a phone the rows stack in reading order
            cols = st.columns(2, gap="medium")
        with cols[i % 2], st.container(border=True):
            st.page_link(lesson.page, label=lesson.title, icon="🎓", query_params=gallery_query(lesson))
            st.caption(f"Idea {lesson.idea} · " + escape_markdown(lesson.question))
