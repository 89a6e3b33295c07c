"""Lessons: 'predict, then reveal' on each page, and the home page's gallery that opens them.

A lesson opens its page on the view it needs (through the page's share link) with its question on top.
Until the student presses Reveal, the page leaves out what would give the answer away (the lesson's
`hides`: paths, a readout, a chart, a verdict); pages ask `hidden(page, element)` before drawing those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
_PICKS = "_lesson_picks"  # lesson id → the pick committed before Reveal (the radio is gone after it)


def _active_ids() -> dict[str, str]:
    return st.session_state.setdefault(_ACTIVE, {})


def _revealed() -> set[str]:
    return st.session_state.setdefault(_REVEALED, set())


def start(lesson: Lesson) -> None:
    """Run `lesson` on its page, its answer hidden again."""
    _active_ids()[lesson.page] = lesson.id
    _revealed().discard(lesson.id)
    st.session_state.get(_PICKS, {}).pop(lesson.id, None)
    st.session_state.pop(f"pick_{lesson.id}", None)


def stop(page: str) -> None:
    _active_ids().pop(page, None)


def reveal(lesson_id: str) -> None:
    _revealed().add(lesson_id)
    picks: dict[str, str] = st.session_state.setdefault(_PICKS, {})
    picked = st.session_state.get(f"pick_{lesson_id}")
    if picked is not None:
        picks[lesson_id] = picked


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


Measure = Callable[[Lesson], "Measured | None"]


@dataclass(frozen=True)
class Measured:
    """A lesson's answer measured live on what the page shows: the text, and the option it matches."""

    text: str
    option: str | None = None


def pick_key(lesson: Lesson) -> str:
    return f"pick_{lesson.id}"


def lesson_card(page: str, measure: Measure | None = None, narrow: bool = False) -> None:
    """The running lesson on top of its page, compact so the evidence stays on the first screen: the
    question, the pick each student (or the class, by show of hands) commits to, Reveal (once picked),
    teacher notes in a popover; after Reveal, the answer with the pick beside what was measured live."""
    lesson = active(page)
    if lesson is None:
        return
    revealed = lesson.id in _revealed()
    with st.container(border=True, gap="small", key=f"lesson_card_{lesson.id}"):
        if narrow:  # beside the page: title, text, pick, then the buttons in one row
            st.markdown(f"**🎓 Lesson · {escape_markdown(lesson.title)}**")
            body, buttons = st.container(), st.columns(2, vertical_alignment="bottom")
        else:  # on top of the page: the buttons on the title's row, so the card stays short
            title, *buttons = st.columns([5, 1.4, 1.1], vertical_alignment="center")
            title.markdown(f"**🎓 Lesson · {escape_markdown(lesson.title)}**")
            body = st.container()
        with body:
            pick = _card_text(lesson, revealed, measure)
        with buttons[
            0
        ]:  # kept once revealed (disabled): a button that vanished would drop the focus and scroll
            st.button(
                "Revealed" if revealed else "Reveal the answer",
                key=f"reveal_{lesson.id}",
                on_click=reveal,
                args=(lesson.id,),
                type="primary",
                disabled=revealed or (bool(lesson.pick_options) and pick is None),
                help="Pick first: a prediction the class committed to is what the answer is measured "
                "against (a show of hands works: the pick is then the teacher's).",
                width="stretch",
            )
        with buttons[1], st.popover("👩‍🏫 Notes", width="stretch"):
            st.markdown(escape_markdown(lesson.teacher_notes))
            st.button("Leave the lesson", key=f"leave_{lesson.id}", on_click=stop, args=(page,))


def _card_text(lesson: Lesson, revealed: bool, measure: Measure | None) -> str | None:
    """The question and the pick; once revealed, the pick against the live measurement, then the answer
    (it takes the question's place: the page does not move). Returns the pick."""
    if revealed:
        pick = st.session_state.get(_PICKS, {}).get(lesson.id)
        measured = measure(lesson) if measure is not None and lesson.measure else None
        _pick_against(pick, measured)
        st.success(lesson.answer, icon="💡")
        _FOCUS(key=f"focus_{lesson.id}", data={"lesson": lesson.id})
        return pick
    st.markdown(f"🤔 **Predict:** {escape_markdown(lesson.question)}")
    if not lesson.pick_options:
        return None
    return st.radio(
        lesson.pick_prompt, list(lesson.pick_options), index=None, key=pick_key(lesson), horizontal=True
    )


def card_and_stage(page: str, presenter: bool, measure: Measure | None = None, widths=(2.1, 1.2)):
    """Draw the running lesson's card and return where the page's body goes: under the card, or, in the
    presenter view, beside it (the body in the wide column on the left, the card on the right)."""
    if not presenter or active(page) is None:
        lesson_card(page, measure)
        return st.container()
    body, side = st.columns(list(widths), gap="medium")
    with side:
        lesson_card(page, measure, narrow=True)
    return body


# Once revealed, the keyboard's focus moves to the answer (the Reveal button it was on is disabled): a
# screen reader reads the answer next, and the page does not scroll (preventScroll).
_FOCUS_JS = """
export default function (component) {
  const { parentElement, data } = component;
  const seen = (window.__lseFocused = window.__lseFocused || {});
  if (seen[data.lesson]) return;
  const find = () => document.querySelector(`.st-key-lesson_card_${data.lesson} [data-testid='stAlert']`);
  const focus = (tries) => {
    const answer = find();
    if (!answer) { if (tries > 0) setTimeout(() => focus(tries - 1), 100); return; }
    seen[data.lesson] = true;
    answer.setAttribute("tabindex", "-1");
    answer.focus({ preventScroll: true });
  };
  focus(20);
}
"""
_FOCUS = st.components.v2.component("lse_focus_answer", html="<span hidden></span>", js=_FOCUS_JS)


def _pick_against(pick: str | None, measured: Measured | None) -> None:
    """The committed pick beside the live measurement (or beside the answer when nothing is measured)."""
    said = f"Your pick: **{escape_markdown(pick)}**" if pick else "No pick was made"
    if measured is None:
        st.markdown(said + ".")
        return
    verdict = ""
    if pick and measured.option is not None:
        verdict = " ✅ your pick matches" if pick == measured.option else " ❌ not what was measured"
    st.markdown(
        f"{said} · measured now, on the sentences on screen: {escape_markdown(measured.text)}{verdict}"
    )


WHEN_REVEALED = "appears when you reveal the answer"  # said where an answer-bearing value waits


def placeholder(what: str) -> None:
    """Where an answer-bearing element would be: a line saying it comes with the answer."""
    st.info(f"🤔 Make your prediction first: {what} {WHEN_REVEALED}.", icon="🎓")


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
    # one line, folded into a popover: on a phone the menu comes before the chart, and a button per lesson
    # pushed the chart past one and a half screens once the journey had four lessons
    with st.popover(f"🎓 Lessons on this page ({len(lessons)})"):
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
