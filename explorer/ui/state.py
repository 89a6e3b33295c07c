"""Per-user state that survives moving between pages.

Streamlit forgets a widget's value when its page is left; every persisted widget keeps a shadow copy
under another key, which does survive. Everything here lives in `st.session_state`: one user's own.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_KEEP = "_keep_"


def persisted(key: str, default: Any) -> None:
    """Make widget `key` start from the value this user last gave it, on any page.

    Streamlit forgets a widget's state when its page is left; a shadow copy under another key does not.
    """
    if _KEEP + key not in st.session_state:
        st.session_state[_KEEP + key] = default
    # Always hand the widget its remembered value: the same key on another page is another widget, and
    # Streamlit would otherwise start it empty. Every persisted widget copies its changes back (remember).
    st.session_state[key] = st.session_state[_KEEP + key]


def remember(key: str) -> None:
    """on_change callback: copy a widget's new value into its shadow."""
    st.session_state[_KEEP + key] = st.session_state[key]


_NOT_GIVEN = object()


def remembered(key: str, default: Any = _NOT_GIVEN) -> dict[str, Any]:
    """A persisted widget's keyword arguments, `st.text_input(label, **remembered(key, default))`: the
    widget starts from this user's last value (`default` the first time; without one, the caller has
    called `persisted`) and copies each change to its shadow, so it survives a move to another page."""
    if default is not _NOT_GIVEN:
        persisted(key, default)
    return {"key": key, "on_change": remember, "args": (key,)}


def set_value(key: str, value: Any) -> None:
    """Set a persisted value (only before its widget is drawn in this run)."""
    st.session_state[_KEEP + key] = value
    st.session_state[key] = value


def kept(key: str, default: Any = None) -> Any:
    return st.session_state.get(_KEEP + key, default)


def set_value_silently(key: str, value: Any) -> None:
    """Record a derived value in the shadow store without touching any widget."""
    st.session_state[_KEEP + key] = value


def current_layer(n_layers: int, key: str) -> int:
    """The layer this user is looking at (defaults to the output), kept within this model's layers."""
    layer = kept(key, n_layers)
    if not isinstance(layer, int) or not 0 <= layer <= n_layers:  # e.g. a model with fewer layers
        layer = n_layers
    set_value_silently(key, layer)
    return layer
