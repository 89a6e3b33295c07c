"""Streamlit side of the Token journey page: the cached view and its caption."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from explorer import share
from explorer.assets import DEFAULT_SET, sentence_sets
from explorer.budget import ByteBudgetCache
from explorer.charts import journey as charts
from explorer.charts.transport import arrow_bytes, spec_and_tables
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.inputs import parse_sentences
from explorer.models import ModelInfo
from explorer.projection import METHODS, Projection, project
from explorer.states import (
    MAX_LAYERS,
    LayerStates,
    StatesSummary,
    default_highlight,
    layer_names,
    token_mask,
)
from explorer.ui import caches, jobs, links, player, widgets
from explorer.ui.caches import cached_states
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.state import current_layer, kept, persisted, remember, set_value, set_value_silently
from explorer.ui.widgets import SEED_MAX
from explorer.vectors import cosine_matrix

MAX_SHOWN_TOKENS = 3000


@dataclass(frozen=True)
class JourneyTokens:
    """The tokens a journey draws (before any projection): enough to pick which ones to follow."""

    model_id: str
    summary: StatesSummary
    shown: np.ndarray  # (N,) bool over all tokens
    capped: bool

    @property
    def options(self) -> dict[int, str]:
        """Token row → 'S1 · bank' for every shown token, in order ('S1 · bank (2nd)' for the second
        'bank' of a sentence, as the readout names it)."""
        tokens = self.summary.tokens[self.shown]
        names = _distinct(
            [f"S{s + 1} · {t}" for s, t in zip(tokens["sentence"], tokens["text"], strict=True)]
        )
        return dict(zip(tokens.index.tolist(), names, strict=True))


@dataclass(frozen=True)
class JourneyView:
    """Everything the Token journey chart needs, computed once per set of inputs.

    It keeps a summary of the states, not the states: the vectors stay in the byte-budgeted states
    cache, and only the export (`states`) fetches them again.
    """

    model_id: str
    summary: StatesSummary
    shown: np.ndarray
    projection: Projection
    points: pd.DataFrame
    pooled: pd.DataFrame | None
    names: tuple[str, ...]
    capped: bool
    fit_on: tuple[int, ...] = ()  # token rows the axes were fitted on (empty: all tokens shown)

    @property
    def states(self) -> LayerStates:
        return cached_states(self.model_id, self.summary.texts)


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_tokens(
    model_id: str, texts: tuple[str, ...], hide_special: bool, hide_punct: bool
) -> JourneyTokens:
    """Which tokens are drawn: the hidden kinds left out, at most MAX_SHOWN_TOKENS of them."""
    states = cached_states(model_id, texts)
    shown = token_mask(states.tokens, hide_special, hide_punct)
    capped = int(shown.sum()) > MAX_SHOWN_TOKENS
    if capped:
        shown &= np.cumsum(shown) <= MAX_SHOWN_TOKENS
    if not shown.any():  # hiding everything would leave nothing to draw: keep all tokens instead
        shown = np.ones_like(shown)
    return JourneyTokens(model_id, states.summary(), shown, capped)


def journey_tokens(
    model_id: str, texts: tuple[str, ...], hide_special: bool, hide_punct: bool
) -> JourneyTokens:
    with caches.running_model(model_id, len(texts)):
        return cached_tokens(model_id, texts, hide_special, hide_punct)


def make_journey(
    model_id: str,
    texts: tuple[str, ...],
    groups: tuple[str, ...],
    method: str,
    seed: int,
    hide_special: bool,
    hide_punct: bool,
    fit_on: tuple[int, ...] = (),
) -> JourneyView:
    """The journey view: what it derives from the states, small next to the states themselves.

    `fit_on` (token rows) fits shared-PCA axes on those tokens across all layers.
    """
    tokens = cached_tokens(model_id, texts, hide_special, hide_punct)
    states = cached_states(model_id, texts)
    shown = tokens.shown
    position = np.cumsum(shown) - 1  # a token row's index among the shown tokens
    fit_rows = [int(position[u]) for u in fit_on if 0 <= u < len(shown) and shown[u]]
    names = tuple(layer_names(states.n_layers))
    proj = project(states.layers[:, shown], method, pooled=states.pooled_raw, seed=seed, fit_rows=fit_rows)
    points, pooled = charts.journey_frames(states.tokens, states.texts, proj, names, shown, groups)
    fitted = tuple(u for u in fit_on if 0 <= u < len(shown) and shown[u]) if proj.fit_rows else ()
    return JourneyView(model_id, tokens.summary, shown, proj, points, pooled, names, tokens.capped, fitted)


cached_journey = st.cache_resource(show_spinner=False, max_entries=32)(make_journey)


def _umap_inputs(model_id: str, texts: tuple[str, ...], groups: tuple[str, ...], seed: int, hide_special: bool,
                 hide_punct: bool) -> tuple:  # fmt: skip
    return (model_id, texts, groups, "umap", seed, hide_special, hide_punct)


def _umap_job(inputs: tuple):
    return jobs.started(inputs, partial(make_journey, *inputs))


def _prepare_preset_umaps(model_id: str) -> None:
    """Fit each shipped set's UMAP view in the background after the model loads (see caches.warm_model),
    the default set first, one at a time (a visitor's own UMAP waits for one of them at most): the first
    visitor who picks UMAP for a set sees it at once."""
    names = [DEFAULT_SET, *(n for n in sentence_sets() if n != DEFAULT_SET)]
    for name in names:
        parsed = parse_sentences(sentence_sets()[name].text, with_groups=True)
        _umap_job(_umap_inputs(model_id, parsed.sentences, parsed.groups, 0, False, False)).result()


caches.after_model_loads(_prepare_preset_umaps)


def journey_view(
    model_id: str,
    texts: tuple[str, ...],
    method: str,
    hide_special: bool,
    hide_punct: bool,
    seed: int = 0,
    groups: tuple[str, ...] = (),
    fit_on: tuple[int, ...] = (),
) -> JourneyView:
    """Compute (or fetch) the journey view, announcing slow work (a spinner shows only if it is slow)."""
    fit_on = tuple(sorted(fit_on)) if method == "pca_shared" and len(fit_on) >= 2 else ()
    if method == "umap":  # fitted in the background: shared PCA until it is ready
        job = _umap_job(_umap_inputs(model_id, texts, groups, seed, hide_special, hide_punct))
        fitted, error = jobs.result_or_none(job)
        if fitted is not None:
            return fitted
        if error is None:
            jobs.wait_here(
                job,
                "Fitting aligned UMAP across every layer; shared PCA meanwhile",
                "a few seconds; up to a minute just after the server started",
            )
        else:
            st.warning(f"UMAP could not be fitted ({error}); showing shared PCA.", icon="⚠️")
        fit_on = ()
    with caches.running_model(model_id, len(texts)):
        return cached_journey(model_id, texts, groups, "pca_shared", 0, hide_special, hide_punct, fit_on)


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_readout(
    model_id: str, texts: tuple[str, ...], groups: tuple[str, ...], rows: tuple[int, ...]
) -> pd.DataFrame:
    """The followed tokens' cosines in the model's full space, at every layer, as readout lines."""
    states = cached_states(model_id, texts)
    tokens = states.tokens.loc[list(rows)]
    labels = _distinct([f"S{s + 1} {t}" for s, t in zip(tokens["sentence"], tokens["text"], strict=True)])
    group_of = [groups[s] if groups else f"S{s + 1}" for s in tokens["sentence"]]
    cosines = cosine_matrix(states.layers[:, list(rows)])  # (L+1, k, k)
    return charts.readout_frame(cosines, labels, group_of, states.layers.shape[2])


def _distinct(labels: list[str]) -> list[str]:
    """The labels, a repeated one numbered from its second time on ('S1 bank', 'S1 bank (2nd)'): a
    sentence can hold the followed word twice, and each pair's line must say which one it means."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        n = seen[label]
        out.append(label if n == 1 else f"{label} ({n}{_ORDINAL.get(n if n < 20 else n % 10, 'th')})")
    return out


_ORDINAL = {1: "st", 2: "nd", 3: "rd"}


def readout(view: JourneyView, groups: tuple[str, ...], follow: list[int]) -> pd.DataFrame | None:
    """Readout lines for the followed tokens (None with fewer than two)."""
    rows = tuple(u for u in follow if u in set(view.summary.tokens.index))
    if len(rows) < 2:
        return None
    return cached_readout(view.model_id, view.summary.texts, groups, rows)


# ---------------------------------------------------------------- page layout and settings
SETTINGS = "⚙️ Sentences and settings"  # the presenter view's button that opens the inputs


@dataclass
class PageLayout:
    """Where the page's parts go: two columns, or the presenter view's one row of controls."""

    left: Any  # sentences and settings
    right: Any  # the chart
    options: Any  # followed tokens
    paths: Any
    play: Any  # Play and Pause (`player`)
    speed: Any | None  # None: the speed is among the view settings


def page_layout(presenter: bool) -> PageLayout:
    """Two columns (settings | chart); or, in the presenter view, one row of Play / Pause / speed and a
    button that opens the sentences and settings, with the chart spanning the page under it."""
    if presenter:
        bar = st.columns([2, 1.2, 2.2], vertical_alignment="bottom")
        settings = bar[2].popover(SETTINGS, width="stretch")
        return PageLayout(settings, st.container(), settings, settings, bar[0], bar[1])
    left, right = st.columns([1, 2.4], gap="large")
    with right:
        paths, play = st.columns([2.4, 2], vertical_alignment="bottom")
    return PageLayout(left, right, right, paths, play, None)


@dataclass(frozen=True)
class ViewSettings:
    method: str
    seed: int
    hide_special: bool
    hide_punct: bool
    fit_followed: bool
    labels: bool
    speed: float | None


def view_settings(with_speed: bool) -> ViewSettings:
    """The folded 'View settings' (folded: on a phone the chart comes sooner), filled only while open: folded,
    the settings are this user's last values and the browser draws none of their widgets (ten new
    sentences: 448 against 472 ms when the box was always filled, medians of 18 rounds each, in turns)."""
    box = widgets.lazy_expander("View settings", "view_settings")
    draw = box.open
    with box:
        method = widgets.projection_picker(draw=draw)
        seed = (
            widgets.number("Seed", "seed", 0, "UMAP is random: the same seed gives the same picture.", draw)
            if method == "umap"
            else 0
        )
        hide_special = widgets.toggle(
            "Hide [CLS] / [SEP]", "hide_special", False, "Special tokens the model adds.", draw
        )
        hide_punct = widgets.toggle("Hide punctuation", "hide_punct", False, draw=draw)
        fit_followed = method == "pca_shared" and widgets.toggle(
            "Fit the axes on the followed tokens",
            "fit_followed",
            True,
            "On: the plane where the followed tokens differ most (every token is drawn on it). Off: the "
            "plane of all tokens, which is spent on what every token shares as it moves between layers.",
            draw,
        )
        labels = widgets.toggle(
            "Label every token", "labels", True, "Followed tokens are always labelled.", draw
        )
        speed = widgets.play_speed_picker(draw) if with_speed else None
    return ViewSettings(method, seed, hide_special, hide_punct, fit_followed, labels, speed)


def play_speed(layout: PageLayout, speed: float | None) -> float:
    """Seconds per layer for Play: picked beside Play in the presenter view, else among the settings."""
    if layout.speed is not None:
        with layout.speed:
            speed = widgets.play_speed_picker()
    return widgets.PLAY_SECONDS_PER_LAYER if speed is None else speed


def play_bar(layout: PageLayout, view: JourneyView, speed: float) -> None:
    """Play and Pause, run by the browser (see `explorer.ui.player`)."""
    with layout.play:
        player.player(view.names, speed, current_layer(view.summary.n_layers))


def chart_description(view: JourneyView, readout: pd.DataFrame | None) -> str:
    """The journey chart in words, for screen readers (the chart's text alternative).

    It describes the whole journey, first layer to output, not the layer shown: the chart's slider moves
    in the browser, and a description that changed with the layer would make the page rebuild the chart.
    New sentences do change it, so the browser builds a new view for them instead of swapping the data;
    measured in turns in the browser, that costs next to nothing (ten new sentences of the same length:
    522 ms, against 498 ms when neither this nor any row count changed; medians of 15), and the numbers
    are worth it here.
    """
    names = view.names
    parts = [
        f"Token journey chart: {int(view.shown.sum()):,} tokens of {len(view.summary.texts)} sentences, one "
        f"dot each, on two fixed axes, at every layer from {names[0]} to {names[-1]}; the Layer slider under "
        "the chart picks the layer drawn."
    ]
    if readout is not None:
        cosine = _pair_cosines(readout)
        first, last = min(cosine), max(cosine)
        moves = [
            f"{a} and {b} {cosine[first][a, b]:.2f} → {cosine[last][a, b]:.2f}" for a, b in cosine[first]
        ]
        parts.append(
            f"Cosine of the followed tokens in all {view.summary.width} dimensions, {names[first]} → "
            f"{names[last]}: " + "; ".join(moves) + "."
        )
    return " ".join(parts)


def _pair_cosines(readout: pd.DataFrame) -> dict[int, dict[tuple[str, str], float]]:
    """{layer: {(a, b): cosine}} for the readout's pairs of followed tokens, in the readout's order."""
    pairs = readout[readout["a"] != ""]
    cosines: dict[int, dict[tuple[str, str], float]] = {}
    columns = (pairs["layer"], pairs["a"], pairs["b"], pairs["cosine"])
    for layer, a, b, cosine in zip(*(c.tolist() for c in columns), strict=True):
        cosines.setdefault(layer, {})[a, b] = cosine
    return cosines


def readout_table(readout: pd.DataFrame) -> pd.DataFrame:
    """The readout's cosines as a table: one row per layer, one column per pair of followed tokens."""
    by_layer = _pair_cosines(readout)
    table = pd.DataFrame(
        [list(cosines.values()) for cosines in by_layer.values()],
        index=pd.Index(list(by_layer), name="layer"),
        columns=pd.Index([f"{a} ↔ {b}" for a, b in next(iter(by_layer.values()), {})], name="pair"),
    )
    return table.round(3)


CHART_KEY = "journey_chart"
CHART_HEIGHT = 520
PRESENTER_CHART_HEIGHT = 420  # with the controls row and the slider, inside a 720-px-high screen
# Static CSS only (no user text ever goes here): the chart's own layer slider, wide and easy to grab.
_SLIDER_CSS = """
<style>
[data-testid="stVegaLiteChart"] .vega-bind label { display: flex; align-items: center; gap: 0.8rem; width: 100%; }
[data-testid="stVegaLiteChart"] .vega-bind-name { font-weight: 600; min-width: auto !important; }
[data-testid="stVegaLiteChart"] .vega-bind input[type="range"] {
  flex: 1 1 auto; width: auto !important; max-width: 560px; cursor: grab;
}
"""


def style_layer_slider() -> None:
    st.html(_SLIDER_CSS)


_CHART_INPUTS = "_journey_chart_inputs"


def chart_key() -> str:
    return f"{CHART_KEY}_{kept('layer_chart_generation', 0)}"


def layer_and_start(n_layers: int, chart_inputs: tuple) -> tuple[int, int, str]:
    """(the layer shown, the layer the chart's own slider starts at, the chart's key).

    The chart moves between layers in the browser and reports the new layer afterwards; see
    `charts.plan_layer_chart` for how the start and key keep the browser and the server in step.
    `chart_inputs` is everything else the chart is drawn from (to tell whether the spec changes).
    """
    same_chart = st.session_state.get(_CHART_INPUTS) == chart_inputs
    st.session_state[_CHART_INPUTS] = chart_inputs
    layer = current_layer(n_layers)
    event = st.session_state.get(chart_key())  # absent when the chart was not drawn in the last run
    reported = charts.picked_layer(event.get("selection"), MAX_LAYERS) if event else None
    plan = charts.plan_layer_chart(
        layer,
        n_layers,
        kept("layer_start"),
        kept("layer_chart_generation", 0),
        rendered=event is not None,
        reported=reported,
        same_chart=same_chart,
    )
    set_value_silently("layer_start", plan.start)
    set_value_silently("layer_chart_generation", plan.generation)
    return layer, plan.start, chart_key()


# Built journey charts (the spec as JSON text, the tables as Arrow bytes), shared by every session: a
# class opening the same link, or one person moving the chart's own slider (the page reruns with the same
# inputs), gets the chart built once.
_CHARTS = ByteBudgetCache[tuple[str, dict[str, bytes]]](max_bytes=64 * 2**20, max_entries=64)
# Specs by the drawing's shape (see `charts.JourneyDrawing`): new sentences only remake the tables.
_SPECS = ByteBudgetCache[str](max_bytes=4 * 2**20, max_entries=64)


def chart_for(chart_inputs: tuple, start: int, drawing_of: Callable[[], charts.JourneyDrawing]) -> dict:
    """The journey chart starting at `start` as a Vega-Lite spec for `st.vega_lite_chart` (a fresh dict:
    change it freely), its tables as Arrow bytes in `datasets`, which Streamlit sends as they are.

    Built once per (inputs, start) for the whole server; the spec (Altair's part of the work) once per
    (shape, start), so new sentences of a known shape cost only their tables (see `transport`)."""

    def make() -> tuple[str, dict[str, bytes]]:
        drawing = drawing_of()
        made: dict[str, bytes] = {}

        def spec() -> str:
            built, tables = spec_and_tables(charts.journey_chart_of(drawing, start), drawing.tables)
            made.update(tables)
            return json.dumps(built)

        text = _SPECS.get_or_make((drawing.shape, start), spec, len)
        # Always in the drawing's order: the browser rebuilds the view when the tables come in another
        # order (it keys the view on the tables' names and row counts, in order).
        return text, {role: made.get(role) or arrow_bytes(frame) for role, frame in drawing.tables.items()}

    text, tables = _CHARTS.get_or_make(
        (chart_inputs, start), make, lambda built: len(built[0]) + sum(map(len, built[1].values()))
    )
    return {**json.loads(text), "datasets": dict(tables)}


def on_layer_picked() -> None:
    """on_select callback of the journey chart: follow the layer picked with the chart's slider."""
    event = st.session_state.get(chart_key())
    picked = charts.picked_layer(event.get("selection") if event else None, MAX_LAYERS)
    if picked is not None:
        set_value_silently("layer", picked)  # current_layer() clamps it to the model's layers


def layer_notes(view: JourneyView) -> list[str]:
    """Per layer, the line shown in the chart's corner: how much of the layer the picture keeps."""
    notes = []
    for explained, faithful in zip(view.projection.explained, view.projection.faithfulness, strict=True):
        parts = []
        if not np.isnan(explained):
            parts.append(f"explained variance {explained:.0%}")
        if not np.isnan(faithful):
            parts.append(f"10-NN kept {faithful:.0%}")
        notes.append(" · ".join(parts))
    return notes


def journey_caption(view: JourneyView) -> str:
    """One line under the chart: what a point is and what the axes are. It names no layer: the chart's own
    corner names the layer its slider shows, and how faithful that layer is, as fast as the points move
    (a caption written by the server would lag a slider move by the length of a rerun)."""
    proj = view.projection
    fitted = (
        f"the first two principal axes of the {len(view.fit_on)} followed tokens over all layers (the plane "
        "where they differ most), the same at every layer, with every token drawn on it"
    )
    axes = {
        "pca_shared": fitted
        if view.fit_on
        else "the first two principal axes of all layers together, the same at every layer",
        "pca_aligned": "this layer's own first two principal axes, rotated to match the previous layer",
        "umap": "UMAP coordinates (no units; only neighbourhoods mean something)",
    }[proj.method]
    parts = [
        f"Each dot is one token's {view.summary.width}-dim vector at the layer named in the chart's corner "
        f"(with how much of that layer the picture keeps); axes: {axes}."
    ]
    if view.pooled is not None:
        if view.summary.pooling == "mean" and view.shown.all():
            parts.append(
                "◆ = the sentence's pooled vector at the layer shown. Mean pooling is linear, so under this linear "
                "map it lands exactly on the centroid of its sentence's tokens."
            )
        elif view.summary.pooling == "mean":
            parts.append(
                "◆ = the sentence's pooled vector. It still averages the tokens hidden here, so it sits off "
                "the centroid of the dots shown."
            )
        else:
            parts.append(f"◆ = the sentence's pooled vector ({view.summary.pooling} pooling).")
    return " ".join(parts)


# ---------------------------------------------------------------- follow picker, share links, export
def follow_picker(tokens: JourneyTokens, context: str) -> list[int]:
    """Tokens whose paths are drawn boldly; remembered per set of sentences, reset when they change."""
    names = tokens.options
    from_link = st.session_state.pop(_FOLLOW_FROM_LINK, None)
    if from_link is not None:
        set_value("follow", [u for u in from_link if u in names])
        set_value_silently("follow_context", context)
    elif kept("follow_context") != context:
        set_value("follow", [u for u in default_highlight(tokens.summary.tokens) if u in names])
        set_value_silently("follow_context", context)
    persisted("follow", [])
    if any(u not in names for u in st.session_state["follow"]):
        set_value("follow", [u for u in st.session_state["follow"] if u in names])
    st.multiselect(
        "Follow tokens",
        list(names),
        format_func=names.get,
        key="follow",
        on_change=remember,
        args=("follow",),
        help="Their paths through all layers are drawn boldly and ringed at the current layer; their "
        "cosines in the model's full space are listed in the chart's corner.",
    )
    return list(st.session_state["follow"])


_FOLLOW_FROM_LINK = "_follow_from_link"
LINK = LinkSpec(
    {
        **links.sentence_fields(),
        "layer": LinkField(share.is_int_between(0, MAX_LAYERS), "layer"),
        "projection": LinkField(share.is_one_of(METHODS), "projection"),
        "hide_special": LinkField(share.is_bool, "hide_special"),
        "hide_punct": LinkField(share.is_bool, "hide_punct"),
        "labels": LinkField(share.is_bool, "labels"),
        "paths": LinkField(share.is_one_of(charts.TRAJECTORY_MODES), "paths"),
        "seed": LinkField(share.is_int_between(0, SEED_MAX), "seed"),
        "fit_followed": LinkField(share.is_bool, "fit_followed"),
        "follow": LinkField(share.is_int_list(MAX_SHOWN_TOKENS)),  # token rows: applied once the view exists
    }
)


def receive_link() -> None:
    """Apply a shared view from the URL (asking first if it would replace typed sentences)."""
    state = links.receive_sentences_link(LINK)
    if state is not None and "follow" in state:
        st.session_state[_FOLLOW_FROM_LINK] = state["follow"]


def view_state(model_id: str, layer: int, follow: list[int]) -> dict:
    """This page's view as a share-link state."""
    return LINK.state(model_id, layer=layer, follow=follow)


def export_bundle(view: JourneyView, chart, state: dict, info: ModelInfo) -> bytes:
    """ZIP: coordinates shown, vectors + token table, the chart (HTML/PNG/SVG) and a manifest."""
    coords = view.points.drop(columns=["uid"]).assign(kind="token")
    if view.pooled is not None:
        coords = pd.concat([coords, view.pooled.assign(kind="pooled sentence point")], ignore_index=True)
    tokens = view.states.tokens[view.shown].reset_index(drop=True)
    vectors = {
        "layers": view.states.layers[:, view.shown],  # (L+1, N shown, D)
        "pooled_raw": view.states.pooled_raw,  # (L+1, S, D)
        "pooled": view.states.pooled,  # (S, D)
        "texts": np.array(view.states.texts, dtype=str),
        **table_arrays(tokens),
    }
    manifest = {
        **base_manifest("Token journey", info, state.get("seed", 0), state),
        "layer_names": list(view.names),
        "axes_fitted_on": [int(u) for u in view.fit_on] or "every token shown",
        "explained_variance": [
            None if np.isnan(v) else round(float(v), 6) for v in view.projection.explained
        ],
        "faithfulness": [None if np.isnan(v) else round(float(v), 6) for v in view.projection.faithfulness],
        "how_to_reproduce": "explorer.states.extract_states(load_model(model_id), texts) then "
        "explorer.projection.project(layers[:, shown], settings.projection, pooled_raw, seed)",
    }
    return build_bundle(coords, vectors, charts.without_play_input(chart), manifest)
