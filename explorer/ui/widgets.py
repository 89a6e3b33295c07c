"""Widgets every page shares: navigation and the model in the sidebar, the sentence box, pickers, Play.

Each widget keeps its value across pages (see `state.persisted`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from explorer import assets
from explorer.charts.transport import as_sent
from explorer.inputs import ParsedSentences, escape_markdown, parse_sentences, shorten
from explorer.models import ALLOWED_MODELS_ENV, DEFAULT_MODEL_ID, ModelInfo, ModelLoadError
from explorer.projection import METHODS
from explorer.states import LayerStates, StatesSummary
from explorer.ui import keys, memory
from explorer.ui.caches import cached_model_info
from explorer.ui.state import kept, persisted, remember, remembered, set_value, set_value_silently

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = (
    ("app.py", "Home", "🏠"),
    ("pages/1_Token_journey.py", "Token journey", "🧭"),
    ("pages/2_Sentence_embedding.py", "Sentence embedding", "📍"),
    ("pages/3_Fine_tune.py", "Fine-tune", "🎛️"),
    ("pages/4_Geometry_lab.py", "Geometry lab", "📐"),
)
PLAY_SECONDS_PER_LAYER = 0.8
SEED_MAX = 2**31 - 1  # the largest seed a number box (and a share link) accepts


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
    persisted(keys.MODEL_BOX, DEFAULT_MODEL_ID)
    _allowed_models_from_secrets()
    memory.sweep()  # give back what closed or idle sessions held
    st.html(_BASE_CSS)
    with st.sidebar:
        page_links()
        st.divider()
        st.text_input(
            "Model",
            **remembered(keys.MODEL_BOX),
            help="The bundled model works offline. A sentence-transformers hub id or a local folder "
            "also works where this server can reach it. Press Enter to load.",
        )
        wanted = st.session_state[keys.MODEL_BOX].strip() or DEFAULT_MODEL_ID
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
        set_value_silently(keys.MODEL_ID, model_id)
        classroom_toggle()
        st.caption(
            f"**{escape_markdown(info.display_name)}** · {info.n_layers} layers · {info.dim} dims · "
            f"{info.pooling} pooling · weights `{info.fingerprint}` · "
            f"{'bundled, works offline' if info.source == 'bundled' else info.source}"
        )
    return info


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
    name = st.session_state[keys.SENTENCE_SET]
    remember(keys.SENTENCE_SET)
    set_value(keys.SENTENCES, assets.sentence_set(name).text)


def lazy_expander(label: str, key: str):
    """A folded box whose content the page makes only while it is open (`.open`): opening or closing it
    reruns the page. For content that costs every run something (a table, a second chart): folded, the
    server builds none of it and the browser draws none of it. Ten new sentences in the Token journey (two
    such boxes, folded) took 451 ms against 494 ms when the page always filled them (medians of 24 runs
    each, the two pages in turns)."""
    return st.expander(label, key=key, on_change="rerun")


def _persist_sentences() -> None:
    persisted(keys.SENTENCE_SET, assets.DEFAULT_SET)
    persisted(keys.SENTENCES, assets.sentence_set(assets.DEFAULT_SET).text)


def typed_sentences() -> ParsedSentences:
    """The sentences `sentence_editor` will show and return in this run, read before it is drawn (a page
    that draws its chart first and its inputs after it)."""
    _persist_sentences()
    return parse_sentences(st.session_state[keys.SENTENCES], with_groups=True)


def sentence_editor(parsed: ParsedSentences | None = None) -> ParsedSentences:
    """Preset picker and the sentence box (one sentence per line), shared by every page. `parsed`: what
    `typed_sentences` read earlier in this run (the text is then not parsed again)."""
    _persist_sentences()
    st.selectbox(
        "Sentence set",
        list(assets.sentence_sets()),
        key=keys.SENTENCE_SET,
        on_change=_load_preset,
        help="Picking a set replaces the sentences below.",
    )
    chosen = assets.sentence_sets().get(st.session_state[keys.SENTENCE_SET])
    if chosen is not None and st.session_state.get(keys.SENTENCES, "").strip() == chosen.text:
        st.caption(chosen.about)
    else:
        st.caption("Your own sentences: the set's text was edited.")
        st.button("↺ Restore the set's sentences", on_click=_load_preset, key="restore_set")
    st.text_area(
        "Sentences, one per line",
        **remembered(keys.SENTENCES),
        height=150,
        help="Press Ctrl+Enter or click outside the box to apply. Start a line with a group in square "
        "brackets, e.g. '[river] We sat on the bank.', to colour sentences by group.",
    )
    if parsed is None:
        parsed = parse_sentences(st.session_state[keys.SENTENCES], with_groups=True)
    if parsed.error:
        st.warning(parsed.error, icon="✍️")
    for notice in parsed.notices:
        st.info(notice, icon="ℹ️")
    return parsed


def truncation_notice(states: LayerStates | StatesSummary, info: ModelInfo) -> None:
    cut = [i + 1 for i, t in enumerate(states.truncated) if t]
    if cut:
        which = ", ".join(f"S{i}" for i in cut[:10]) + (" …" if len(cut) > 10 else "")
        st.info(
            f"{which}: longer than {escape_markdown(info.display_name)} reads. The model stops at "
            f"{states.max_seq_length} word pieces, so only the first {states.max_seq_length} are shown and pooled.",
            icon="✂️",
        )


# The persisted widgets below take `draw`: False gives the value this user last set (or the default) without
# drawing the widget, for a folded box that is filled only while open (`lazy_expander`).


def projection_picker(key: str, draw: bool = True) -> str:
    persisted(key, "groups")
    if draw:
        st.radio(
            "Projection",
            list(METHODS),
            format_func=METHODS.get,
            **remembered(key),
            help="Axes that part the groups: for sentences tagged [group], each layer drawn where the "
            "followed word's groups part, on axes that shuffled groups cannot part (shared PCA without groups). "
            "Shared PCA: one set of axes for all layers, so motion is real. Per-layer PCA: each layer's "
            "best view, rotated to match its neighbour. UMAP: non-linear, keeps neighbourhoods, slower.",
        )
    return str(st.session_state[key])


def toggle(label: str, key: str, default: bool, help: str | None = None, draw: bool = True) -> bool:
    persisted(key, default)
    if draw:
        st.toggle(label, **remembered(key), help=help)
    return bool(st.session_state[key])


PLAY_SPEEDS = {"slow": 1.6, "normal": PLAY_SECONDS_PER_LAYER, "fast": 0.4}  # seconds per layer


def play_speed_picker(draw: bool = True) -> float:
    """How long Play shows each layer (persisted); seconds per layer."""
    name = choice("Play speed", "play_speed", {k: k for k in PLAY_SPEEDS}, "normal", draw)
    return PLAY_SPEEDS.get(name, PLAY_SECONDS_PER_LAYER)


# Static CSS only (no user text ever goes here), on every page: tabs wrap onto a second row on a narrow
# screen instead of scrolling out of sight (a phone showed the fourth tab as "A>").
_BASE_CSS = """
<style>
[role="tablist"] { flex-wrap: wrap; row-gap: 0.25rem; }
</style>
"""


# Static CSS only (no user text ever goes here): the presenter view starts the page near the top of
# the screen, so the chart and its slider fit in a 1280 x 720 projector image.
_PRESENTER_CSS = """
<style>
[data-testid="stMainBlockContainer"], .block-container { padding-top: 3.4rem !important; }
h1 { padding-top: 0 !important; padding-bottom: 0.2rem !important; }
</style>
"""


def page_config(page_title: str, icon: str) -> bool:
    """The page's browser title (empty: the app's name alone) and icon; in classroom mode (the presenter view) the sidebar starts folded.

    Returns whether the presenter view is on before the sidebar's toggle runs (see `page_heading`)."""
    presenter = is_classroom()
    st.set_page_config(
        page_title=f"{page_title} · Latent Space Explorer" if page_title else "Latent Space Explorer",
        page_icon=icon,
        layout="wide",
        initial_sidebar_state="collapsed" if presenter else "auto",
    )
    return presenter


def page_heading(title: str, caption: str, lesson_running: bool = False) -> bool:
    """The page title, and its one-line explanation outside the presenter view (a projector needs the
    room for the chart; the lesson card and the chart captions still explain) and outside a lesson (the
    explanation states what the lesson asks the class to predict). Returns whether the presenter view is
    on, after the sidebar's toggle may have just changed it."""
    presenter = is_classroom()
    st.title(title)
    if presenter:
        st.html(_PRESENTER_CSS)
    elif not lesson_running:
        st.caption(caption)
    return presenter


@dataclass(frozen=True)
class Stage:
    """Where a page's parts go: its inputs, its main view, a slot for the page's main button (`action`)
    and one for the share menu (`side`)."""

    settings: Any
    main: Any
    action: Any
    side: Any


def settings_and_stage(presenter: bool, label: str, widths: list[float] | None) -> Stage:
    """Two columns (inputs | main view, in `widths`), or with `widths` None one column (share menu, inputs,
    main view); or, in the presenter view, one row holding a button that opens the inputs (`label`), the
    main button and the share menu, with the main view spanning the page under it."""
    if presenter:
        bar = st.columns([2.2, 1.4, 1], vertical_alignment="bottom")
        return Stage(bar[0].popover(label, width="stretch"), st.container(), bar[1], bar[2])
    if widths is None:
        side, settings, main = st.container(), st.container(), st.container()
        return Stage(settings, main, main, side)
    left, right = st.columns(widths, gap="large")
    return Stage(left, right, right, right.container())


def stop_for_input(where, presenter: bool, problem: str | None, label: str) -> None:
    """Stop the page on an input problem. The problem is said beside the inputs; the presenter view, whose
    inputs are folded behind the button `label`, also says it in `where`, where the chart would be."""
    if presenter:
        where.warning(
            f"{escape_markdown(problem or 'Nothing to show yet.')} Open **{label}** to fix it.", icon="✍️"
        )
    st.stop()


# Static CSS only (no user text ever goes here): larger type for projectors.
_CLASSROOM_CSS = """
<style>
html { font-size: 19px; }
h1 { font-size: 2.6rem !important; }
</style>
"""


def classroom_toggle() -> bool:
    """Sidebar switch for projectors: larger type, thicker marks, a colour-blind-safe palette."""
    st.toggle(
        "Classroom mode",
        **remembered("classroom", False),
        help="For projectors: larger type, thicker marks, high-contrast colour-blind-safe colours.",
    )
    on = bool(st.session_state["classroom"])
    if on:
        st.html(_CLASSROOM_CSS)
    return on


def is_classroom() -> bool:
    """Whether this user has classroom mode on (chart builders take it as a flag)."""
    return bool(kept("classroom", False))


def remembered_tabs(key: str, labels: tuple[str, ...]) -> list:
    """Tabs whose open one is remembered: it stays open across pages and when classroom mode changes the
    page's layout (and a share link can carry it)."""
    persisted(key, labels[0])
    if st.session_state[key] not in labels:
        set_value(key, labels[0])
    return list(st.tabs(list(labels), **remembered(key)))


def choice(label: str, key: str, options: dict[str, str], default: str, draw: bool = True) -> str:
    """A persisted selectbox over {value: label}."""
    persisted(key, default)
    if draw:
        st.selectbox(label, list(options), format_func=options.get, **remembered(key))
    return str(st.session_state[key])


def number(label: str, key: str, default: int, help: str | None = None, draw: bool = True) -> int:
    """A persisted whole-number input."""
    persisted(key, default)
    if draw:
        st.number_input(
            label,
            min_value=0,
            max_value=SEED_MAX,
            step=1,
            **remembered(key),
            help=help,
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


def chart_with_reading(chart, reading: str) -> None:
    """A chart across the column with one line under it saying how to read it (sent as `as_sent` makes it:
    `st.altair_chart` would check the spec against the Vega-Lite schema on every run)."""
    st.vega_lite_chart(spec=as_sent(chart), width="stretch", alt=reading)
    st.caption(reading)


def big_stat(where, label: str, value_markdown: str) -> None:
    """A label over a large value that is never cut short (st.metric truncates long fingerprints)."""
    with where:
        st.caption(label)
        st.markdown(f"#### {value_markdown}")


def score_text(value: float, percent: bool = False) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.0%}" if percent else f"{value:.2f}"
