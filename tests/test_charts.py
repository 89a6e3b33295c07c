"""charts: tidy frames in, Altair specs out; axes fixed across layers; user text stays data."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from explorer.charts.faithfulness import layer_scores_chart
from explorer.charts.journey import (
    journey_chart,
    journey_chart_of,
    journey_drawing,
    journey_frames,
    sentence_labels,
)
from explorer.charts.layer_slider import (
    LAYER_PARAM,
    PLAY_PARAM,
    LayerChartPlan,
    picked_layer,
    plan_layer_chart,
    shown_layer,
)
from explorer.charts.readout import readout_frame
from explorer.charts.transport import spec_and_tables
from explorer.projection import project
from explorer.states import extract_states, layer_names, token_mask
from explorer.vectors import cosine_matrix


@pytest.fixture(scope="module")
def frames(bank_states):
    proj = project(bank_states.layers, "pca_shared", pooled=bank_states.pooled_raw)
    return journey_frames(bank_states.tokens, bank_states.texts, proj, layer_names(bank_states.n_layers))


def _layers_by_mark(spec: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for layer in spec["layer"]:
        mark = layer["mark"] if isinstance(layer["mark"], dict) else {"type": layer["mark"]}
        found.setdefault(mark["type"], []).append(layer)
    return found


def test_frames_have_a_row_per_token_and_layer(bank_states, frames) -> None:
    points, pooled = frames
    n_tokens, n_layers1 = len(bank_states.tokens), bank_states.n_layers + 1
    assert len(points) == n_tokens * n_layers1
    assert len(pooled) == bank_states.n_sentences * n_layers1
    assert set(points["layer"]) == set(range(n_layers1))
    assert {"token", "sentence", "layer_name", "x", "y"} <= set(points.columns)


def test_frames_follow_the_mask(bank_states) -> None:
    shown = token_mask(bank_states.tokens, hide_special=True)
    proj = project(bank_states.layers[:, shown], "pca_shared")
    points, pooled = journey_frames(bank_states.tokens, bank_states.texts, proj, layer_names(6), shown)
    assert "[CLS]" not in set(points["token"]) and pooled is None
    with pytest.raises(ValueError, match="points"):
        journey_frames(bank_states.tokens, bank_states.texts, proj, layer_names(6))


def _tick_labels(chart) -> list[list[str]]:
    """Each axis's tick labels, as drawn (vl-convert's SVG)."""
    svg = vlc.vegalite_to_svg(chart.to_json())
    groups = re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.S)
    return [re.findall(r"<text[^>]*>([^<]*)</text>", group) for group in groups]


def _layer(spec: dict, name: str) -> dict:
    return next(layer for layer in spec["layer"] if layer.get("name") == name)


def test_axes_do_not_move_between_layers(frames) -> None:
    """The axes' extent is the invisible frame layer's two corners: the same at every layer, around every
    point and pooled point of every layer, and what is drawn."""
    points, pooled = frames
    first, last = journey_chart(points, pooled, 0), journey_chart(points, pooled, 6)
    corners = []
    for chart in (first, last):
        spec = chart.to_dict()
        corners.append(pd.DataFrame(spec["datasets"][_layer(spec, "frame")["data"]["name"]]))
    pd.testing.assert_frame_equal(*corners)
    for axis in ("x", "y"):
        lo, hi = corners[0][axis]
        assert lo < min(points[axis].min(), pooled[axis].min())
        assert hi > max(points[axis].max(), pooled[axis].max())
    ticks = _tick_labels(first)
    assert ticks == _tick_labels(last) and len(ticks) == 2 and all(len(t) >= 3 for t in ticks)


def test_a_spec_serves_every_drawing_of_its_shape(model) -> None:
    """The page builds a spec once per drawing shape and sends other sentences' tables with it: that is
    only right if the spec takes nothing from the tables. Two sets of sentences of one shape give the same
    spec and other tables; the legend keeps the sentences' order."""
    sent = []
    for texts in (["I sat by the river bank.", "The bank lent me money.", "Fog rolled over the bank."],
                  ["Bank holidays are long.", "We fished from the bank.", "She robbed the bank at noon.",
                   "A bank of fog.", "Ten banks merged."]):  # fmt: skip
        states = extract_states(model, texts)
        proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
        points, pooled = journey_frames(states.tokens, texts, proj, layer_names(states.n_layers))
        follow = points[points["token"].str.lower() == "bank"]["uid"].unique()[:3].tolist()
        chosen = points[points["uid"].isin(follow) & (points["layer"] == 0)]
        readout = readout_frame(
            cosine_matrix(states.layers[:, follow]), chosen["token"].tolist(), ["a", "a", "b"], 384
        )
        drawing = journey_drawing(points, pooled, follow, notes=[str(i) for i in range(7)], readout=readout)
        chart = journey_chart_of(drawing, 6)
        svg = vlc.vegalite_to_svg(chart.to_json())
        legend = re.findall(r"<text[^>]*>(S\d+ · [^<]*)</text>", svg)
        assert [label.split(" · ")[0] for label in legend] == [f"S{i + 1}" for i in range(len(texts))]
        sent.append((drawing.shape, *spec_and_tables(journey_chart_of(drawing, 6), drawing.tables)))
    (shape_a, spec_a, tables_a), (shape_b, spec_b, tables_b) = sent
    assert shape_a == shape_b
    assert json.dumps(spec_a, sort_keys=True) == json.dumps(spec_b, sort_keys=True)
    assert tables_a.keys() == tables_b.keys() and tables_a["points"] != tables_b["points"]


def test_chart_layers_paths_points_and_pooled(frames) -> None:
    points, pooled = frames
    follow = points[points["token"] == "bank"]["uid"].unique().tolist()
    spec = journey_chart(points, pooled, 3, highlight=follow, trajectories="selected").to_dict()
    marks = _layers_by_mark(spec)
    assert "line" in marks and "point" in marks and "text" in marks
    diamonds = [m for m in marks["point"] if m["mark"].get("shape") == "diamond"]
    assert len(diamonds) == 1
    data = spec["datasets"]
    current = next(layer for layer in spec["layer"] if layer.get("name") == "current")
    # Every layer travels in the chart; its own slider starts at layer 3 and filters in the browser.
    assert {row["layer"] for row in data[current["data"]["name"]]} == set(range(7))
    assert {"filter": shown_layer()} in current["transform"]
    param, frame = spec["params"]
    assert frame["name"] == PLAY_PARAM and frame["value"] == -1  # Play is not running
    assert param["value"] == [{"layer": 3}] and param["bind"]["input"] == "range"
    assert (param["bind"]["min"], param["bind"]["max"]) == (0, 6)
    paths = marks["line"]
    path_uids = {row["uid"] for layer in paths for row in data[layer["data"]["name"]]}
    assert path_uids == set(follow)


def test_no_paths_when_asked(frames) -> None:
    points, pooled = frames
    spec = journey_chart(points, pooled, 1, trajectories="none").to_dict()
    assert "line" not in _layers_by_mark(spec)
    with pytest.raises(ValueError, match="Valid modes"):
        journey_chart(points, pooled, 1, trajectories="some")


def test_html_in_sentences_is_data_not_markup(model) -> None:
    texts = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]
    states = extract_states(model, texts)
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
    points, pooled = journey_frames(states.tokens, texts, proj, layer_names(6))
    spec = journey_chart(points, pooled, 6).to_dict()
    values = [
        v for rows in spec["datasets"].values() for row in rows for v in row.values() if isinstance(v, str)
    ]
    assert any("<script>" in v for v in values), "the sentence travels as plain text data"
    assert sentence_labels(texts)[0].startswith("S1 · <script>")


def test_layer_scores_chart_drops_undefined_scores() -> None:
    spec = layer_scores_chart(
        layer_names(2), np.array([0.5, np.nan, 0.2]), np.array([0.4, 0.3, 0.2]), 1
    ).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 5


def test_layer_notes_sit_in_the_corner_one_per_layer(frames) -> None:
    points, pooled = frames
    notes = [f"note for layer {i}" for i in range(7)]
    spec = journey_chart(points, pooled, 2, notes=notes).to_dict()
    corner_rows = [
        row for name, rows in spec["datasets"].items() for row in rows if "note" in row and "title" in row
    ]
    assert [row["note"] for row in sorted(corner_rows, key=lambda r: r["layer"])] == notes
    assert corner_rows[0]["title"].startswith("layer 0")


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({LAYER_PARAM: [{"layer": 4}]}, 4),
        ({LAYER_PARAM: [{"layer": 0}]}, 0),
        ({LAYER_PARAM: [{"layer": 6.0}]}, 6),
        ({LAYER_PARAM: [{"layer": 7}]}, None),  # past the last layer
        ({LAYER_PARAM: [{"layer": -1}]}, None),
        ({LAYER_PARAM: [{"layer": 2.5}]}, None),
        ({LAYER_PARAM: [{"layer": True}]}, None),
        ({LAYER_PARAM: [{"layer": "3"}]}, None),
        ({LAYER_PARAM: []}, None),  # the slider cleared
        ({LAYER_PARAM: {}}, None),
        ({}, None),
        (None, None),
    ],
)
def test_picked_layer_reads_only_valid_layers(selection, expected) -> None:
    assert picked_layer(selection, 6) == expected


def _plan(layer, previous_start=6, generation=0, rendered=True, reported=None, same_chart=True, n_layers=6):
    return plan_layer_chart(layer, n_layers, previous_start, generation, rendered, reported, same_chart)


def test_a_slider_move_keeps_the_chart_as_it_is() -> None:
    # The user dragged the chart's slider to 2: the browser shows 2 already; resending the same spec
    # (start 6, same key) means the browser does not rebuild the view.
    assert _plan(2, reported=2) == LayerChartPlan(start=6, generation=0)


def test_a_changed_chart_starts_at_the_layer_the_slider_holds() -> None:
    # Something else changed (sentences, paths...): the view is rebuilt, so start where the user is.
    assert _plan(2, reported=2, same_chart=False) == LayerChartPlan(start=2, generation=0)


def test_the_server_moving_the_layer_gets_a_fresh_chart() -> None:
    # Play ended on 6, a share link said 1, or a model with fewer layers: the browser remembers the
    # slider's 2 for this key and would restore it, so the chart needs a new key.
    assert _plan(6, previous_start=0, reported=2) == LayerChartPlan(start=6, generation=1)
    assert _plan(1, reported=2, generation=4) == LayerChartPlan(start=1, generation=5)
    assert _plan(6, reported=10, previous_start=10) == LayerChartPlan(start=6, generation=1)


def test_a_chart_not_drawn_last_time_gets_a_fresh_key() -> None:
    assert _plan(3, rendered=False, reported=None) == LayerChartPlan(start=3, generation=1)


def test_an_untouched_chart_simply_starts_at_the_layer() -> None:
    assert _plan(4, previous_start=6, reported=None) == LayerChartPlan(start=4, generation=0)
    assert _plan(2, previous_start=9, reported=2) == LayerChartPlan(start=2, generation=0)  # 9 > 6 layers


@pytest.mark.parametrize("trajectories", ["all", "selected", "none"])
def test_layer_names_are_unique(frames, trajectories) -> None:
    """Vega refuses a spec whose layers share a name ('Duplicate data set name'): the chart vanishes."""
    points, pooled = frames
    follow = points[points["token"] == "bank"]["uid"].unique().tolist()
    spec = journey_chart(points, pooled, 2, highlight=follow, trajectories=trajectories).to_dict()
    names = [layer["name"] for layer in spec["layer"] if "name" in layer]
    assert len(names) == len(set(names))
