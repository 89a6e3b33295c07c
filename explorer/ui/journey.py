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
from explorer.assets import DEFAULT_SET, Lesson, sentence_sets
from explorer.budget import ByteBudgetCache
from explorer.charts import journey as charts
from explorer.charts import readout as readout_lines
from explorer.charts.readout import beats_text
from explorer.charts.transport import arrow_bytes, as_sent, spec_and_tables
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.group_axes import drawn_ratio
from explorer.inputs import ParsedSentences, parse_sentences
from explorer.journey_request import JourneyRequest
from explorer.models import DEFAULT_MODEL_ID, ModelInfo
from explorer.projection import METHODS, Projection, project
from explorer.separation import (
    MAX_GROUPED_WORDS,
    MAX_OCCURRENCES,
    GroupedWord,
    grouped_words,
    parting_layer,
    readout_pairs,
    readout_summary,
    word_separation,
)
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
from explorer.ui.lessons import Measured
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
    axis_words: tuple[str, ...] = ()  # group axes: the words whose groups x (and y) show

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
    words, axis_words = [], []  # the grouped words' occurrences among the shown tokens, for group axes
    for word in grouped_words(states.tokens, groups) if method == "groups" else ():
        kept = [(int(position[r]), g) for r, g in zip(word.rows, word.groups, strict=True) if shown[r]]
        if len({g for _, g in kept}) >= 2:
            words.append(([p for p, _ in kept], [g for _, g in kept]))
            axis_words.append(word.word)
    proj = project(
        states.layers[:, shown], method, pooled=states.pooled_raw, seed=seed, fit_rows=fit_rows, words=words
    )
    points, pooled = charts.journey_frames(states.tokens, states.texts, proj, names, shown, groups)
    fitted = tuple(u for u in fit_on if 0 <= u < len(shown) and shown[u]) if proj.fit_rows else ()
    if proj.method == "groups":
        fitted = ()
    return JourneyView(
        model_id, tokens.summary, shown, proj, points, pooled, names, tokens.capped, fitted,
        tuple(axis_words[:2]) if proj.method == "groups" else (),
    )  # fmt: skip


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
    fit_on = tuple(sorted(fit_on)) if method in ("pca_shared", "groups") and len(fit_on) >= 2 else ()
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
        method = "pca_shared"
    with caches.running_model(model_id, len(texts)):
        return cached_journey(model_id, texts, groups, method, 0, hide_special, hide_punct, fit_on)


@dataclass(frozen=True)
class Readout:
    """The followed tokens' full-space numbers at every layer, as data: `pairs` (layer, word, a, b, cosine,
    relation), one row per pair of occurrences of the same word (never two different words); `summary`
    (word, layer, within, across, gap, chance band, beats, splits), one row per grouped word and layer;
    `lines`, the chart band's text made from them."""

    pairs: pd.DataFrame
    summary: pd.DataFrame
    lines: pd.DataFrame
    dim: int

    def at(self, layer: int) -> pd.DataFrame:
        return self.summary[self.summary["layer"] == layer]


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_readout(
    model_id: str, texts: tuple[str, ...], groups: tuple[str, ...], rows: tuple[int, ...]
) -> Readout:
    """The followed tokens' cosines in the model's full space, at every layer. With groups: per grouped
    word, its occurrences among `rows` against every relabelling of their sentences; without, the pairs
    of the first followed tokens."""
    states = cached_states(model_id, texts)
    dim = states.layers.shape[2]
    words = _followed_words(states.tokens, groups, rows)
    if words:
        separations = [word_separation(states.layers, w) for w in words]
        summary = readout_summary(separations)
        return Readout(readout_pairs(separations), summary, readout_lines.word_lines(summary, dim), dim)
    tokens = states.tokens.loc[list(rows)]
    labels = _distinct([f"S{s + 1} {t}" for s, t in zip(tokens["sentence"], tokens["text"], strict=True)])
    group_of = [groups[s] if groups else f"S{s + 1}" for s in tokens["sentence"]]
    cosines = cosine_matrix(states.layers[:, list(rows)])  # (L+1, k, k)
    lines = charts.readout_frame(cosines, labels, group_of, dim)
    pairs = lines[lines["a"] != ""].assign(word="", relation="")[
        ["layer", "word", "a", "b", "cosine", "relation"]
    ]
    return Readout(pairs.reset_index(drop=True), readout_summary([]), lines, dim)


def _followed_words(
    tokens: pd.DataFrame, groups: tuple[str, ...], rows: tuple[int, ...]
) -> list[GroupedWord]:
    """The grouped words, each with only its followed occurrences (kept while they span two groups)."""
    followed = set(rows)
    out = []
    for word in grouped_words(tokens, groups, max_words=len(tokens), max_occurrences=len(tokens)):
        keep = [i for i, r in enumerate(word.rows) if r in followed]
        if len({word.groups[i] for i in keep}) >= 2:
            out.append(
                GroupedWord(
                    word.word,
                    tuple(word.rows[i] for i in keep),
                    tuple(word.sentences[i] for i in keep),
                    tuple(word.groups[i] for i in keep),
                )
            )
    return out[:MAX_GROUPED_WORDS]


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


def readout(view: JourneyView, groups: tuple[str, ...], follow: list[int]) -> Readout | None:
    """The readout of the followed tokens (None with fewer than two)."""
    rows = tuple(u for u in follow if u in set(view.summary.tokens.index))
    if len(rows) < 2:
        return None
    return cached_readout(view.model_id, view.summary.texts, groups, rows)


def paths_choice(method: str, tokens: JourneyTokens, groups: tuple[str, ...], hidden: bool) -> str:
    """Which paths to draw: none on group axes (each layer has its own, so a line between layers is no
    motion) or while a lesson hides them; else the user's choice."""
    if method == "groups" and has_grouped_words(tokens, groups):
        st.caption("Paths are not drawn on these axes: each layer has its own (shared PCA draws them).")
        return "none"
    chosen = widgets.choice("Paths", "paths", charts.TRAJECTORY_MODES, "selected")
    return "none" if hidden else chosen


def chart_request(
    model_id: str,
    parsed: ParsedSentences,
    view: JourneyView,
    settings: ViewSettings,
    follow: list[int],
    paths: str,
    readout: bool,
    presenter: bool,
) -> JourneyRequest:
    """The journey chart as one value (see `JourneyRequest`)."""
    return JourneyRequest(
        model_id=model_id,
        texts=parsed.sentences,
        groups=parsed.groups,
        method=view.projection.method,
        seed=settings.seed,
        hide_special=settings.hide_special,
        hide_punct=settings.hide_punct,
        fit_on=view.fit_on,
        follow=tuple(follow),
        paths=paths,
        readout=readout,
        labels=settings.labels,
        classroom=widgets.is_classroom(),
        presenter=presenter,
        height=chart_height(presenter),
    )


def has_grouped_words(tokens: JourneyTokens, groups: tuple[str, ...]) -> bool:
    """Whether group axes apply (a word is used in two sentences of each of two groups)."""
    return bool(groups) and bool(grouped_words(tokens.summary.tokens, groups, max_words=1))


def default_follow(tokens: pd.DataFrame, groups: tuple[str, ...]) -> list[int]:
    """Every occurrence of every grouped word (`grouped_words`: at most MAX_GROUPED_WORDS words and
    MAX_OCCURRENCES each); without one, the most repeated content word (`default_highlight`)."""
    words = grouped_words(tokens, groups)
    if words:
        return [r for w in words for r in w.rows]
    return default_highlight(tokens)


FOLLOW_LIMIT_TEXT = (
    f"Followed by default: every word used in two or more sentences of each of two or more groups, each "
    f"occurrence (at most "
    f"{MAX_GROUPED_WORDS} words, {MAX_OCCURRENCES} occurrences each)."
)


def picture_versus_space(view: JourneyView, summary_at_layer: pd.DataFrame, layer: int) -> list[str]:
    """One line per grouped word whose picture and full-space numbers disagree at `layer`: the full space
    beats 90% of relabellings but the word's points do not part on screen (drawn between/within distance
    under 1.5), or the points part on screen while the full space beats fewer than half."""
    lines = []
    points = view.points[view.points["layer"] == layer]
    for r in summary_at_layer.itertuples():
        if int(r.splits) < 10:
            continue
        mine = points[points["token"].str.lower() == r.word]
        if mine["group"].nunique() < 2:
            continue
        ratio = drawn_ratio(mine[["x", "y"]].to_numpy(float), mine["group"].tolist())
        strong = r.beats >= 0.9 * r.splits
        if strong and ratio < 1.5:
            lines.append(
                f"'{r.word}': the model's full space separates its groups at this layer ({beats_text(r)}), "
                f"but this picture cannot show it (drawn apart only {ratio:.1f}× their spread)."
            )
        elif not strong and r.beats < 0.5 * r.splits and ratio >= 2:
            lines.append(
                f"'{r.word}': its points look apart here ({ratio:.1f}× their spread), but in the full space "
                f"its groups are no closer than chance ({beats_text(r)})."
            )
    return lines


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
    method = widgets.projection_picker()  # one click from the default to shared PCA (and back)
    box = widgets.lazy_expander("View settings", "view_settings")
    draw = box.open
    with box:
        seed = (
            widgets.number("Seed", "seed", 0, "UMAP is random: the same seed gives the same picture.", draw)
            if method == "umap"
            else 0
        )
        hide_special = widgets.toggle(
            "Hide [CLS] / [SEP]", "hide_special", False, "Special tokens the model adds.", draw
        )
        hide_punct = widgets.toggle("Hide punctuation", "hide_punct", False, draw=draw)
        fit_followed = method in ("pca_shared", "groups") and widgets.toggle(
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


def chart_description(view: JourneyView, readout: Readout | None) -> str:
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
        f"dot each, on {'axes fitted per layer where the grouped words part' if view.axis_words else 'two fixed axes'}, "
        f"at every layer from {names[0]} to {names[-1]}; the Layer slider under the chart picks the layer drawn."
    ]
    if readout is not None and len(readout.summary):
        first, last = 0, int(readout.summary["layer"].max())
        for word, rows in readout.summary.groupby("word", sort=False):
            a, b = rows[rows["layer"] == first].iloc[0], rows[rows["layer"] == last].iloc[0]
            parts.append(
                f"'{word}', cosine in all {view.summary.width} dimensions, {names[first]} → {names[last]}: "
                f"same group {a.within:.2f} → {b.within:.2f}, other group {a.across:.2f} → {b.across:.2f}; at "
                f"{names[last]} it {beats_text(b)}."
            )
    elif readout is not None and len(readout.pairs):
        pairs = readout.pairs
        first, last = int(pairs["layer"].min()), int(pairs["layer"].max())
        start, end = pairs[pairs["layer"] == first], pairs[pairs["layer"] == last]
        moves = [
            f"{a} and {b} {c0:.2f} → {c1:.2f}"
            for a, b, c0, c1 in zip(start["a"], start["b"], start["cosine"], end["cosine"], strict=True)
        ]
        parts.append(
            f"Cosine of the followed tokens in all {view.summary.width} dimensions, {names[first]} → "
            f"{names[last]}: " + "; ".join(moves) + "."
        )
    return " ".join(parts)


def readout_table(readout: Readout) -> pd.DataFrame:
    """The readout's cosines as a table: one row per layer, one column per pair of occurrences of the same
    word (and, per grouped word, its within, across and splits beaten)."""
    pairs = readout.pairs
    names = [f"{a} ↔ {b}" for a, b in zip(pairs["a"], pairs["b"], strict=True)]
    table = pairs.assign(pair=names).pivot(index="layer", columns="pair", values="cosine")
    table = table[list(dict.fromkeys(names))]
    for word, rows in readout.summary.groupby("word", sort=False):
        rows = rows.set_index("layer")
        table[f"{word}: same group"] = rows["within"]
        table[f"{word}: other group"] = rows["across"]
        table[f"{word}: splits beaten"] = [
            f"{b} of {n}" for b, n in zip(rows["beats"], rows["splits"], strict=True)
        ]
    table.columns.name = "pair"
    return table.round(3)


CHART_KEY = "journey_chart"
CHART_HEIGHT = 520
PRESENTER_CHART_HEIGHT = 420  # with the controls row and the slider, inside a 720-px-high screen


def chart_height(presenter: bool) -> int:
    return PRESENTER_CHART_HEIGHT if presenter else CHART_HEIGHT


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


def layer_and_start(n_layers: int, chart_inputs: JourneyRequest) -> tuple[int, int, str]:
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


def chart_for(
    chart_inputs: JourneyRequest, start: int, drawing_of: Callable[[], charts.JourneyDrawing]
) -> dict:
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
        (chart_inputs.key, start), make, lambda built: len(built[0]) + sum(map(len, built[1].values()))
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
    words = view.axis_words
    axes = (
        f"x: where '{words[0]}' parts · y: where '{words[1]}' parts"
        if len(words) > 1
        else f"x: where '{words[0]}' parts"
        if words
        else ""
    )
    for explained, faithful in zip(view.projection.explained, view.projection.faithfulness, strict=True):
        parts = [axes] if axes else []
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
        "groups": "per layer, x along where the followed word's groups part, chosen among that word's three "
        "main directions of variation found without the groups (so shuffled groups cannot part on it), y "
        "along the other tokens' main direction (with a second grouped word: its own group axis)",
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


def separation_panel(view: JourneyView, readout: Readout, layer: int) -> None:
    """Under the chart: per grouped word, where its groups part (full-space gap per layer against the
    chance band, the layer shown marked), and a line wherever the picture and the full space disagree."""
    for line in picture_versus_space(view, readout.at(layer), layer):
        st.info(line, icon="🔎")
    strip = readout_lines.separation_strip(readout.summary, layer, widgets.is_classroom())
    st.vega_lite_chart(
        spec=as_sent(strip),
        width="content",
        alt="Per grouped word: the gap between same-group and other-group cosine in the model's full space "
        "at every layer, with the band that relabelled sentences reach by chance.",
    )
    st.caption(
        "Where the meanings part: the gap (same-group minus other-group cosine, all "
        f"{view.summary.width} dimensions) per layer; grey, where 90% of the relabellings of the same sentences "
        "fall by chance; ring, the layer shown."
    )


def lesson_measure(lesson: Lesson) -> Measured | None:
    """A journey lesson's answer measured on the sentences in the box: per grouped word, the first layer at
    which its meanings part (`separation.parting_layer`); the pick is judged against the first word."""
    if lesson.measure != "parting_layer":
        return None
    parsed = parse_sentences(st.session_state.get("sentences", ""), with_groups=True)
    if not parsed.sentences:
        return Measured("no sentences yet")
    model_id = kept("model_id", DEFAULT_MODEL_ID)  # set by the sidebar, which runs before the card
    with caches.running_model(model_id, len(parsed.sentences)):
        states = cached_states(model_id, parsed.sentences)
    words = grouped_words(states.tokens, parsed.groups)
    if not words:
        return Measured(
            "no word is used in two sentences of each of two groups yet: tag your sentences, "
            "[meaning] A sentence with the word."
        )
    parts, first = [], None
    for word in words:
        layer, how = parting_layer(word_separation(states.layers, word))
        said = f"layer {layer}" if layer is not None else "never"
        first = (str(layer) if layer is not None else "never") if first is None else first
        parts.append(f"'{word.word}' parts at {said} ({how})")
    return Measured("; ".join(parts), first)


# ---------------------------------------------------------------- follow picker, share links, export
def follow_picker(tokens: JourneyTokens, context: str, groups: tuple[str, ...] = ()) -> list[int]:
    """Tokens whose paths are drawn boldly; remembered per set of sentences, reset when they change (to
    every occurrence of the words used in two groups, see `default_follow`)."""
    names = tokens.options
    from_link = st.session_state.pop(_FOLLOW_FROM_LINK, None)
    if from_link is not None:
        set_value("follow", [u for u in from_link if u in names])
        set_value_silently("follow_context", context)
    elif kept("follow_context") != context:
        set_value("follow", [u for u in default_follow(tokens.summary.tokens, groups) if u in names])
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
        "cosines in the model's full space are written under the points. " + FOLLOW_LIMIT_TEXT,
        placeholder="Pick tokens to follow",
    )
    chosen = st.session_state["follow"]
    if len(chosen) > 6:  # many chips: say in one line what is followed
        counts: dict[str, int] = {}
        for u in chosen:
            word = names[u].split(" · ", 1)[-1].split(" (")[0]
            counts[word] = counts.get(word, 0) + 1
        st.caption(
            "Following " + ", ".join(f"{n} × {w}" for w, n in counts.items()) + ". " + FOLLOW_LIMIT_TEXT
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
