"""The Token journey's share link and export bundle."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import numpy as np
import pandas as pd

from explorer import share
from explorer.animation import layer_sweep
from explorer.charts import journey as charts
from explorer.charts.layer_slider import without_play_input
from explorer.decomposition import PULLS_BY
from explorer.export import LayerChartExport, base_manifest, build_bundle, chart_spec, table_arrays
from explorer.journey_request import JourneyRequest
from explorer.models import ModelInfo
from explorer.projection import METHODS
from explorer.provenance import provenance
from explorer.states import (
    MAX_LAYERS,
)
from explorer.ui import keys, links
from explorer.ui.exports import Exports
from explorer.ui.journey.lesson import lesson_pack
from explorer.ui.journey.view import MAX_SHOWN_TOKENS, JourneyView
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.widgets import SEED_MAX

LINK = LinkSpec(
    {
        **links.sentence_fields(),
        "layer": LinkField(share.is_int_between(0, MAX_LAYERS), keys.LAYER),
        "projection": LinkField(share.is_one_of(METHODS), keys.PROJECTION),
        "hide_special": LinkField(share.is_bool, keys.HIDE_SPECIAL),
        "hide_punct": LinkField(share.is_bool, keys.HIDE_PUNCT),
        "labels": LinkField(share.is_bool, keys.LABELS),
        "paths": LinkField(share.is_one_of(charts.TRAJECTORY_MODES), keys.PATHS),
        "seed": LinkField(share.is_int_between(0, SEED_MAX), keys.SEED),
        "fit_followed": LinkField(share.is_bool, keys.FIT_FOLLOWED),
        "why_lines": LinkField(share.is_bool, keys.WHY_LINES),
        "why_by": LinkField(share.is_one_of(PULLS_BY), keys.WHY_BY),
        "meaning_here": LinkField(share.is_bool, keys.MEANING_HERE),  # the box open: it builds nothing itself
        "follow": LinkField(share.is_int_list(MAX_SHOWN_TOKENS)),  # token rows: applied once the view exists
    }
)


def receive_link() -> None:
    """Apply a shared view from the URL (asking first if it would replace typed sentences)."""
    state = links.receive_sentences_link(LINK)
    if state is not None and "follow" in state:
        links.park(keys.FOLLOW, state["follow"])


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
    return build_bundle(coords, vectors, without_play_input(chart), manifest)


def exports(
    view: JourneyView,
    drawing_of: Callable[[], charts.JourneyDrawing],
    layer: int,
    state: dict,
    info: ModelInfo,
    request: JourneyRequest,
) -> Exports:
    """The share menu's exports of the journey: the ZIP bundle, and the chart as the page draws it (its
    paths, labels, readout and corner notes) for the animated sweep and the offline chart, and, while a
    lesson runs, its lesson pack. Each is made only when its button is pressed."""

    def chart() -> alt.LayerChart:
        return charts.journey_chart_of(drawing_of(), layer)

    def layer_chart(link: str) -> LayerChartExport:
        settings = {k: v for k, v in state.items() if k not in ("sentences", "model_id")}
        return LayerChartExport(
            spec=chart_spec(without_play_input(chart())),
            layer_names=tuple(view.names),
            page="Token journey",
            model=info.display_name,
            provenance=provenance("Token journey", info, view.states.texts, settings, link),
            stem="token_journey",
        )

    return Exports(
        bundle=lambda: export_bundle(view, chart(), state, info),
        layer_chart=layer_chart,
        sweep=lambda link, settings: layer_sweep(layer_chart(link), settings),
        lesson_pack=lesson_pack(view, request, layer, state, info),
    )
