"""The one adapter to Streamlit: cached wrappers, shared sidebar widgets, session-state helpers.

Cached objects (`st.cache_resource`) are shared by every user of the server and are never mutated;
what belongs to one person (their sentences, settings) lives in `st.session_state`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from explorer import presets
from explorer.budget import ByteBudgetCache
from explorer.inputs import ParsedSentences, escape_markdown, parse_sentences, shorten
from explorer.models import (
    ALLOWED_MODELS_ENV,
    DEFAULT_MODEL_ID,
    ModelInfo,
    ModelLoadError,
    describe_model,
    load_model,
)
from explorer.models import weights_fingerprint as _weights_fingerprint
from explorer.projection import METHODS
from explorer.states import LayerStates, StatesSummary, extract_states

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = (
    ("app.py", "Home", "🏠"),
    ("pages/1_Token_journey.py", "Token journey", "🧭"),
    ("pages/2_Sentence_embedding.py", "Sentence embedding", "📍"),
    ("pages/3_Fine_tune.py", "Fine-tune", "🎛️"),
    ("pages/4_Geometry_lab.py", "Geometry lab", "📐"),
)
PLAY_SECONDS_PER_LAYER = 0.8
_KEEP = "_keep_"


# ---------------------------------------------------------------- session state that survives pages
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


def set_value(key: str, value: Any) -> None:
    """Set a persisted value (only before its widget is drawn in this run)."""
    st.session_state[_KEEP + key] = value
    st.session_state[key] = value


def kept(key: str, default: Any = None) -> Any:
    return st.session_state.get(_KEEP + key, default)


# ---------------------------------------------------------------- cached, shared, read-only
@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def cached_model(model_id: str):
    """The loaded model, shared by all users. Never mutate it: copy it first."""
    return load_model(model_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_model_info(model_id: str) -> ModelInfo:
    model = cached_model(model_id)
    return describe_model(model, model_id, _weights_fingerprint(model))


STATES_CACHE_ENV = "LSE_STATES_CACHE_MB"
DEFAULT_STATES_CACHE_MB = 256


def states_cache_mb(raw: str | None) -> float:
    """The states cache budget from its setting; the default when unset or not a positive number."""
    try:
        value = float(raw) if raw else DEFAULT_STATES_CACHE_MB
    except ValueError:
        return DEFAULT_STATES_CACHE_MB
    return value if 0 < value < float("inf") else DEFAULT_STATES_CACHE_MB


# Shared by every session, like st.cache_resource, but bounded by bytes: see explorer/budget.py.
_STATES = ByteBudgetCache[LayerStates](
    max_bytes=int(states_cache_mb(os.environ.get(STATES_CACHE_ENV)) * 2**20), max_entries=32
)


def cached_states(model_id: str, texts: tuple[str, ...]) -> LayerStates:
    """Every layer of every token for these sentences, shared by all users and never mutated.

    Other caches keep only what they derive from states (coordinates, measures), never the states
    themselves, so this cache's byte budget bounds the memory states take.
    """
    return _STATES.get_or_make(
        (model_id, tuple(texts)), lambda: extract_states(cached_model(model_id), texts), lambda s: s.nbytes
    )


# ---------------------------------------------------------------- shared widgets
def active_model_id() -> str:
    return kept("model_id", DEFAULT_MODEL_ID)


def page_links() -> None:
    """Navigation with friendly names (the file-derived names would say 'app')."""
    for path, label, icon in PAGES:
        if not (ROOT / path).exists():
            continue
        try:
            st.page_link(path, label=label, icon=icon)
        except StreamlitAPIException:  # a page run as its own entry point (AppTest of one page) has no map
            return


def sidebar() -> ModelInfo:
    """Sidebar on every page: navigation, the model in use, a box to try another (falls back to default)."""
    persisted("model_box", DEFAULT_MODEL_ID)
    _allowed_models_from_secrets()
    with st.sidebar:
        page_links()
        st.divider()
        st.text_input(
            "Model",
            key="model_box",
            on_change=remember,
            args=("model_box",),
            help="The bundled model works offline. A sentence-transformers hub id or a local folder "
            "also works where this server can reach it. Press Enter to load.",
        )
        wanted = st.session_state["model_box"].strip() or DEFAULT_MODEL_ID
        model_id = wanted
        failures: dict[str, str] = st.session_state.setdefault("_model_failures", {})
        try:
            if wanted in failures:  # do not retry a failed load on every rerun
                raise ModelLoadError(failures[wanted])
            with st.spinner(f"Loading {shorten(wanted, 60)}…"):
                info = cached_model_info(wanted)
        except ModelLoadError as exc:
            failures[wanted] = str(exc)
            st.error(f"{escape_markdown(str(exc))} Using the bundled model meanwhile.", icon="⚠️")
            model_id = DEFAULT_MODEL_ID
            info = cached_model_info(model_id)
        set_value_silently("model_id", model_id)
        classroom_toggle()
        st.caption(
            f"**{escape_markdown(info.display_name)}** · {info.n_layers} layers · {info.dim} dims · "
            f"{info.pooling} pooling · weights `{info.fingerprint}` · "
            f"{'bundled, works offline' if info.source == 'bundled' else info.source}"
        )
    return info


def set_value_silently(key: str, value: Any) -> None:
    """Record a derived value in the shadow store without touching any widget."""
    st.session_state[_KEEP + key] = value


def model_card(info: ModelInfo) -> None:
    """The loaded model as a small card: name, shape, pooling, fingerprint, where it came from."""
    with st.container(border=True):
        st.markdown(f"**Loaded model** · `{code_span(info.model_id)}`")
        st.markdown(
            f"{info.n_layers} layers · {info.dim} dimensions · {info.pooling} pooling"
            f"{' then unit length' if info.normalized else ''} · {info.n_parameters / 1e6:.1f} M parameters"
        )
        where = "bundled with the app: works offline" if info.source == "bundled" else f"from {info.source}"
        st.caption(
            f"Weights fingerprint `{info.fingerprint}` · {where} · reads up to {info.max_seq_length} word pieces"
        )


def _load_preset() -> None:
    name = st.session_state["sentence_set"]
    remember("sentence_set")
    set_value("sentences", presets.sentence_set(name).text)


def sentence_editor() -> ParsedSentences:
    """Preset picker and the sentence box (one sentence per line), shared by every page."""
    persisted("sentence_set", presets.DEFAULT_SET)
    persisted("sentences", presets.sentence_set(presets.DEFAULT_SET).text)
    st.selectbox(
        "Sentence set",
        list(presets.sentence_sets()),
        key="sentence_set",
        on_change=_load_preset,
        help="Picking a set replaces the sentences below.",
    )
    chosen = presets.sentence_sets().get(st.session_state["sentence_set"])
    if chosen is not None and st.session_state.get("sentences", "").strip() == chosen.text:
        st.caption(chosen.about)
    else:
        st.caption("Your own sentences: the set's text was edited.")
        st.button("↺ Restore the set's sentences", on_click=_load_preset, key="restore_set")
    st.text_area(
        "Sentences, one per line",
        key="sentences",
        on_change=remember,
        args=("sentences",),
        height=150,
        help="Press Ctrl+Enter or click outside the box to apply.",
    )
    parsed = parse_sentences(st.session_state["sentences"])
    if parsed.error:
        st.warning(parsed.error, icon="✍️")
    for notice in parsed.notices:
        st.info(notice, icon="ℹ️")
    return parsed


def load_states(model_id: str, sentences: tuple[str, ...]) -> LayerStates:
    with st.spinner(f"Running the model over {len(sentences)} sentences…"):
        return cached_states(model_id, sentences)


def truncation_notice(states: LayerStates | StatesSummary, info: ModelInfo) -> None:
    cut = [i + 1 for i, t in enumerate(states.truncated) if t]
    if cut:
        which = ", ".join(f"S{i}" for i in cut[:10]) + (" …" if len(cut) > 10 else "")
        st.info(
            f"{which}: longer than {escape_markdown(info.display_name)} reads. The model stops at "
            f"{states.max_seq_length} word pieces, so only the first {states.max_seq_length} are shown and pooled.",
            icon="✂️",
        )


def current_layer(n_layers: int, key: str = "layer") -> int:
    """The layer this user is looking at (defaults to the output), kept within this model's layers."""
    layer = kept(key, n_layers)
    if not isinstance(layer, int) or not 0 <= layer <= n_layers:  # e.g. a model with fewer layers
        layer = n_layers
    set_value_silently(key, layer)
    return layer


def projection_picker(key: str = "projection") -> str:
    persisted(key, "pca_shared")
    st.radio(
        "Projection",
        list(METHODS),
        format_func=METHODS.get,
        key=key,
        on_change=remember,
        args=(key,),
        help="Shared PCA: one set of axes for all layers, so motion is real. Per-layer PCA: each layer's "
        "best view, rotated to match its neighbour. UMAP: non-linear, keeps neighbourhoods, slower.",
    )
    return str(st.session_state[key])


def toggle(label: str, key: str, default: bool, help: str | None = None) -> bool:
    persisted(key, default)
    st.toggle(label, key=key, on_change=remember, args=(key,), help=help)
    return bool(st.session_state[key])


def play_layers(n_layers: int, draw: Callable[[int], None], key: str = "layer") -> None:
    """Step through every layer, redrawing each; then rerun showing the last layer."""
    for layer in range(n_layers + 1):
        draw(layer)
        time.sleep(PLAY_SECONDS_PER_LAYER)
    set_value_silently(key, n_layers)
    st.rerun()


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_word_similarity(
    model_id: str, first: str, second: str, word: str
) -> tuple[np.ndarray, float] | None:
    """Cosine of `word` in two sentences at every layer, and of the two sentence embeddings."""
    from explorer.geometry import cosine, word_vectors
    from explorer.states import find_word

    states = cached_states(model_id, (first, second))
    rows = [find_word(states.tokens, s, word) for s in (0, 1)]
    if not all(rows):
        return None
    per_layer = cosine(word_vectors(states.layers, rows[0]), word_vectors(states.layers, rows[1]))
    return per_layer, float(cosine(states.pooled[0], states.pooled[1]))


# Static CSS only (no user text ever goes here): larger type for projectors.
_CLASSROOM_CSS = """
<style>
html { font-size: 19px; }
h1 { font-size: 2.6rem !important; }
</style>
"""


def classroom_toggle() -> bool:
    """Sidebar switch for projectors: larger type, thicker marks, a colour-blind-safe palette."""
    persisted("classroom", False)
    st.toggle(
        "Classroom mode",
        key="classroom",
        on_change=remember,
        args=("classroom",),
        help="For projectors: larger type, thicker marks, high-contrast colour-blind-safe colours.",
    )
    on = bool(st.session_state["classroom"])
    if on:
        st.html(_CLASSROOM_CSS)
    return on


def is_classroom() -> bool:
    """Whether this user has classroom mode on (chart builders take it as a flag)."""
    return bool(kept("classroom", False))


def choice(label: str, key: str, options: dict[str, str], default: str) -> str:
    """A persisted selectbox over {value: label}."""
    persisted(key, default)
    st.selectbox(label, list(options), format_func=options.get, key=key, on_change=remember, args=(key,))
    return str(st.session_state[key])


def number(label: str, key: str, default: int, help: str | None = None) -> int:
    """A persisted whole-number input."""
    persisted(key, default)
    st.number_input(
        label, min_value=0, max_value=2**31 - 1, step=1, key=key, on_change=remember, args=(key,), help=help
    )
    return int(st.session_state[key])


def _allowed_models_from_secrets() -> None:
    """A public deployment may list permitted model ids in Streamlit secrets (`allowed_models = [...]`).

    The environment variable, when set, wins; either way `explorer.models` enforces the list.
    """
    if os.environ.get(ALLOWED_MODELS_ENV):
        return
    try:
        listed = st.secrets.get("allowed_models")
    except (FileNotFoundError, StreamlitAPIException, KeyError):
        return
    if listed:
        os.environ[ALLOWED_MODELS_ENV] = ",".join(str(m) for m in listed)


def code_span(text: str) -> str:
    """Text for inside a Markdown code span: shown literally already, so only backticks must go."""
    return text.replace("`", "'").replace("\n", " ")
