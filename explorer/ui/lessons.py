"""Lessons: 'predict, then reveal' questions on each page, and the home page's gallery that opens them."""

from __future__ import annotations

import streamlit as st

from explorer import assets
from explorer.inputs import escape_markdown
from explorer.share import QUERY_KEY, encode_view
from explorer.ui.widgets import ROOT


def predict_then_reveal(page: str) -> None:
    """The page's lesson questions: the answer stays hidden until the student asks for it."""
    for lesson in assets.lessons_for(page):
        with st.container(border=True):
            st.markdown(f"**🤔 Predict, then reveal: {escape_markdown(lesson.title)}**")
            st.markdown(escape_markdown(lesson.question))
            key = f"reveal_{lesson.id}"
            if st.session_state.get(key):
                st.success(lesson.answer, icon="💡")
            else:
                st.button(
                    "Reveal the answer",
                    key=f"{key}_button",
                    on_click=st.session_state.__setitem__,
                    args=(key, True),
                )


def lessons_gallery() -> None:
    """Home page cards: each opens a page on a preset with its question."""
    cols = st.columns(2, gap="medium")
    available = [lesson for lesson in assets.lessons() if (ROOT / lesson.page).exists()]
    for i, lesson in enumerate(available):
        with cols[i % 2], st.container(border=True):
            query = {QUERY_KEY: encode_view(lesson.view)} if lesson.view else None
            st.page_link(lesson.page, label=lesson.title, icon="🎓", query_params=query)
            st.caption(escape_markdown(lesson.question))
