"""The Token journey's view: which tokens are drawn, the projection of every layer and its frames, computed once per set of inputs (UMAP in the background)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from explorer.assets import DEFAULT_SET, sentence_sets
from explorer.charts import journey as charts
from explorer.inputs import parse_sentences
from explorer.peaks import umap_peak_bytes
from explorer.projection import Projection, project
from explorer.separation import (
    grouped_words,
    ordinal,
)
from explorer.states import (
    LayerStates,
    StatesSummary,
    layer_names,
    token_mask,
)
from explorer.ui import caches, claims, jobs, memory
from explorer.ui.caches import cached_states

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
        names = distinct_labels(
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
    model_id: str,
    texts: tuple[str, ...],
    hide_special: bool,
    hide_punct: bool,
    before_stop: Callable[[], None] = lambda: None,
) -> JourneyTokens:
    # typed text is claimed on the server's memory ledger like a link's (a forward pass over long input is
    # the heavy part); with no room, a warning and nothing drawn (`before_stop()` is drawn before it stops)
    states = claims.states_or_warning(model_id, texts, "drawing the journey")
    if states is None:
        before_stop()
        st.stop()
    with caches.running_model(model_id, texts):  # `states` held here: found again, never made twice
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


def _fitted_umap(*inputs) -> JourneyView:
    """`make_journey` for a UMAP view, the fit claimed on the server's memory ledger at its bound (the job
    waits for room, then fails with the ledger's message and the page shows shared PCA)."""
    model_id, texts, _, _, _, hide_special, hide_punct = inputs
    tokens = cached_tokens(model_id, texts, hide_special, hide_punct)
    need = umap_peak_bytes(int(tokens.shown.sum()), tokens.summary.n_layers, tokens.summary.width)
    with memory.quiet_room(caches.UMAP_CLAIM, need):
        return make_journey(*inputs)


def _umap_job(inputs: tuple):
    return jobs.started(inputs, partial(_fitted_umap, *inputs))


def _prepare_preset_umaps(model_id: str) -> None:
    """Fit each shipped set's UMAP view in the background (see caches.warm_umap: after the first UMAP a
    visitor asks for, or at start with LSE_WARM_UP=umap), the default set first, one at a time (a visitor's
    own UMAP waits for one of them at most): the next visitor who picks UMAP for a set sees it at once."""
    names = [DEFAULT_SET, *(n for n in sentence_sets() if n != DEFAULT_SET)]
    for name in names:
        parsed = parse_sentences(sentence_sets()[name].text, with_groups=True)
        _umap_job(_umap_inputs(model_id, parsed.sentences, parsed.groups, 0, False, False)).result()


caches.on_umap_warm_up(_prepare_preset_umaps)


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
        caches.umap_wanted(model_id)  # the shipped sets' views next, once per server
        fitted = jobs.ready_or_said(
            job,
            "Fitting aligned UMAP across every layer; shared PCA meanwhile",
            "a few seconds; up to a minute for the server's first UMAP",
            "UMAP could not be fitted ({error}); showing shared PCA.",
        )
        if fitted is not None:
            return fitted
        fit_on = ()
        method = "pca_shared"
    else:
        jobs.drop_mine()  # a fit this session asked for before is not waited for any more
    with caches.running_model(model_id, texts):
        return cached_journey(model_id, texts, groups, method, 0, hide_special, hide_punct, fit_on)


def distinct_labels(labels: list[str]) -> list[str]:
    """The labels, a repeated one numbered from its second time on ('S1 bank', 'S1 bank (2nd)'): a
    sentence can hold the followed word twice, and each pair's line must say which one it means."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        n = seen[label]
        out.append(label if n == 1 else f"{label} ({ordinal(n)})")
    return out
