"""Classroom features for every page: share links, export bundles, projector mode, predict-then-reveal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from explorer import presets
from explorer.inputs import escape_markdown
from explorer.share import MAX_TOKEN_CHARS, QUERY_KEY, ShareLinkError, Validator, decode_view, encode_view
from explorer.ui import ROOT, kept, set_value

_SEEN = "_share_links_seen"


def incoming_view(
    fields: dict[str, Validator],
    user_edited: Callable[[dict[str, Any]], bool],
    what: str = "the sentences you typed",
) -> dict | None:
    """A shared view from the URL, once per link and session; None if there is none or it was declined.

    A damaged or tampered link gets a notice and changes nothing. A valid link that would replace what
    this user typed asks first.
    """
    token = st.query_params.get(QUERY_KEY)
    if not token:
        return None
    seen: set[str] = st.session_state.setdefault(_SEEN, set())
    if token in seen:
        return None
    try:
        state = decode_view(token, fields)
    except ShareLinkError as exc:
        seen.add(token)
        st.warning(f"This share link could not be used: {exc} Showing your own view instead.", icon="🔗")
        return None
    if user_edited(state):
        with st.container(border=True):
            st.info(f"This link opens a shared view. Loading it replaces {what}.", icon="🔗")
            load, keep = st.columns(2)
            if load.button("Load the shared view", key="share_load", type="primary"):
                seen.add(token)
                return state
            if keep.button("Keep what I have", key="share_keep"):
                seen.add(token)
        return None
    seen.add(token)
    return state


def apply_view(state: dict[str, Any], keys: dict[str, str]) -> None:
    """Put a decoded view into the persisted widget values (field name → widget key)."""
    for field, key in keys.items():
        if field in state:
            set_value(key, state[field])


def share_link(state: dict[str, Any]) -> str:
    """The full URL of this page with the view encoded in it."""
    token = encode_view(state)
    try:
        parts = urlsplit(str(st.context.url or ""))
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    except (AttributeError, ValueError):
        base = ""
    return f"{base}?{QUERY_KEY}={token}"


def share_and_export(state: dict[str, Any], bundle: Callable[[], bytes], file_name: str) -> None:
    """One popover: a link that reproduces this view, and a ZIP with data, chart and manifest."""
    with st.popover("🔗 Share or export", width="content"):
        link = share_link(state)
        if len(link) > MAX_TOKEN_CHARS:
            st.warning("These sentences are too long to fit in a link: share the export bundle instead.")
        else:
            st.markdown("**Copy link**: opening it shows this exact view.")
            st.code(link, language=None, wrap_lines=True)
        st.download_button(
            "📦 Download export bundle (ZIP)",
            data=bundle,
            file_name=file_name,
            mime="application/zip",
            key="export_bundle",
            on_click="ignore",
            help="Coordinates (CSV), vectors with the token table (NPZ), the chart as HTML, PNG and SVG, "
            "and a manifest (model, weight fingerprint, versions, settings).",
        )


def predict_then_reveal(page: str) -> None:
    """The page's lesson questions: the answer stays hidden until the student asks for it."""
    for lesson in presets.lessons_for(page):
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
    available = [lesson for lesson in presets.lessons() if (ROOT / lesson.page).exists()]
    for i, lesson in enumerate(available):
        with cols[i % 2], st.container(border=True):
            query = {QUERY_KEY: encode_view(lesson.view)} if lesson.view else None
            st.page_link(lesson.page, label=lesson.title, icon="🎓", query_params=query)
            st.caption(escape_markdown(lesson.question))


def link_sentences(state: dict[str, Any]) -> str:
    """The sentences a link stands for: its own text, or else the text of the sentence set it names."""
    if "sentences" in state:
        return state["sentences"]
    return presets.sentence_set(state.get("sentence_set", presets.DEFAULT_SET)).text


def receive_sentences_link(
    fields: dict[str, Validator], widget_keys: dict[str, str]
) -> dict[str, Any] | None:
    """For pages built on the shared sentence box: apply a link's view, asking first if it would
    replace sentences this user typed. Returns the applied state (None if nothing was applied)."""

    def user_edited(state: dict[str, Any]) -> bool:
        typed = kept("sentences")
        default = presets.sentence_set(presets.DEFAULT_SET).text
        return typed is not None and typed not in {link_sentences(state), default}

    state = incoming_view(fields, user_edited)
    if state is None:
        return None
    state = {**state, "sentences": link_sentences(state)}
    apply_view(state, widget_keys)
    return state
