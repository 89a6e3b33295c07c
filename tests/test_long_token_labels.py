"""A 20,000-character "word" is shown cut short on every chart (label, tooltip, axis, readout line) and
kept whole where it is data: the frames the page exports and the readout's pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer import sentence as sm
from explorer.charts import finetune as fc
from explorer.charts import geometry as gc
from explorer.charts import sentence as sc
from explorer.charts.journey import journey_chart_of, journey_drawing, journey_frames
from explorer.charts.readout import readout_frame, separation_strip
from explorer.charts.style import MAX_LABEL_CHARS
from explorer.charts.transport import spec_and_tables
from explorer.projection import project
from explorer.states import extract_states, layer_names
from explorer.vectors import cosine_matrix

WORD = "supercalifragilistic" * 1000  # 20,000 characters: one [UNK] piece whose text is the whole word
CUT = WORD[: MAX_LABEL_CHARS - 1] + "…"
TEXTS = (f"The {WORD} sat on the river bank.", "The bank lent me money.", "We fished from the bank.")


@pytest.fixture(scope="module")
def states(model):
    states = extract_states(model, list(TEXTS))
    assert (states.tokens["text"] == WORD).sum() == 1
    return states


def _strings(spec: dict) -> list[str]:
    """Every text cell of every table a spec carries (Altair's to_dict puts them in `datasets`)."""
    return [
        v for rows in spec["datasets"].values() for row in rows for v in row.values() if isinstance(v, str)
    ]


def test_the_journey_chart_labels_a_long_token_cut_short_and_the_frames_keep_it(states) -> None:
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
    points, pooled = journey_frames(states.tokens, TEXTS, proj, layer_names(states.n_layers))
    long_uid = int(states.tokens.index[states.tokens["text"] == WORD][0])
    follow = [long_uid, *points.loc[points["token"] == "bank", "uid"].unique().tolist()]
    chosen = states.tokens.loc[follow]
    names = [f"S{s + 1} {t}" for s, t in zip(chosen["sentence"], chosen["text"], strict=True)]
    readout = readout_frame(cosine_matrix(states.layers[:, follow]), names, ["a", "a", "b", "b"], 384)
    drawing = journey_drawing(points, pooled, follow, readout=readout)

    shown = drawing.tables["points"]
    mine = shown[shown["token"] == CUT]
    assert len(mine) == states.n_layers + 1 and mine["show_label"].all()  # followed: labelled at every layer
    cells = [v for t in drawing.tables.values() for c in t for v in t[c] if isinstance(v, str)]
    assert max(map(len, cells)) <= 90, "no table the chart sends holds the word whole"
    lines = drawing.tables["readout"]["text"]
    assert lines.str.contains(f"S1 {WORD[: MAX_LABEL_CHARS - 4]}…", regex=False).any()
    assert (points["token"] == WORD).sum() == states.n_layers + 1, "the view's frame (exported) keeps it"
    assert (readout["a"] == f"S1 {WORD}").any(), "the readout's pairs (its table) keep it"
    _, tables = spec_and_tables(journey_chart_of(drawing, 6), drawing.tables)
    assert sum(map(len, tables.values())) < 200_000  # 282,504 bytes with the word sent whole


def test_the_sentence_page_charts_cut_a_long_token(states) -> None:
    cloud = sm.cloud_frames(states)
    spec = sc.cloud_chart(cloud.tokens, cloud.pooled).to_dict()
    assert CUT in _strings(spec) and max(map(len, _strings(spec))) <= 90
    assert (cloud.tokens["token"] == WORD).any(), "the exported coordinates keep the word"
    measures = sm.token_measures(states, 0)
    spec = sc.token_importance_chart(measures).to_dict()
    assert f" 2 · {WORD[: MAX_LABEL_CHARS - 6]}…" in _strings(spec)
    assert max(map(len, _strings(spec))) <= MAX_LABEL_CHARS


def test_the_geometry_and_tuning_charts_cut_a_long_token(states) -> None:
    n = len(states.tokens)
    rows = np.arange(n)
    changes = np.ones((n, states.n_layers))
    heat = gc.change_heatmap(gc.change_frame(changes, states.tokens, TEXTS, rows)).to_dict()
    assert f"S1 ·  2 · {CUT}" in _strings(heat) and max(map(len, _strings(heat))) <= 90
    xy = np.zeros((states.n_layers + 1, n, 2))
    frame = fc.tuning_frame(
        xy, xy, np.zeros((states.n_layers + 1, n)), states.tokens, ["x"] * 3, layer_names(6)
    )
    spec = fc.tuning_chart(frame, 3).to_dict()
    assert CUT in _strings(spec) and max(map(len, _strings(spec))) <= 90
    summary = pd.DataFrame(
        {"word": [WORD] * 2, "layer": [0, 1], "gap": [0.1, 0.2], "chance_low": [0.0] * 2,
         "chance_high": [0.1] * 2, "beats": [3, 4], "splits": [5, 5]}
    )  # fmt: skip
    strip = separation_strip(summary, 1).to_dict()
    assert CUT in _strings(strip) and WORD not in strip["description"]
