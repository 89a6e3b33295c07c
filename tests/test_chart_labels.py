"""Token journey labels stay readable: rendered to SVG at the chart's size in a 1280×720 window, no two
drawn token labels overlap, at the first layer, a middle one and the output, in both type sizes, and
every followed token keeps its label."""

from __future__ import annotations

import copy
import html
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from explorer.assets import bundled_corpus, sentence_set
from explorer.charts.journey import journey_chart, journey_frames
from explorer.charts.layer_slider import LAYER_PARAM, PLAY_PARAM
from explorer.charts.readout import fit_readout, readout_frame
from explorer.projection import project
from explorer.states import default_highlight, extract_states, layer_names
from explorer.vectors import cosine_matrix

# The chart's size on screen at 1280×720 with the sidebar open (measured in Chromium): the right-hand
# column is 547 px wide, and the chart is 520 px tall (Streamlit fits legend and axes inside that).
WIDTH, HEIGHT = 547, 520
# What Streamlit's own Vega theme adds around the plot (its spacing: lg 16 px, sm 8 px, twoXS 2 px), so
# the plot area rendered here is about as large as in the browser. The chart's own config wins over it.
STREAMLIT_THEME = {
    "axis": {"ticks": False, "domain": False, "titlePadding": 16, "labelPadding": 16, "labelFontSize": 12},
    "legend": {"titlePadding": 8, "labelPadding": 16, "columnPadding": 8, "rowPadding": 2, "padding": 8},
}
CHAR_WIDTH = 0.6  # a label's width ≈ this × font size per character (generous for sans-serif type)
LAYERS = (0, 3, 6)
LABEL_GROUP = re.compile(r'<g class="mark-text role-mark labels_marks"[^>]*>(.*?)</g>', re.S)
TEXT = re.compile(
    r'<text[^>]*aria-label="([^"]*)"[^>]*text-anchor="(\w+)"[^>]*'
    r'transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*font-size="([\d.]+)px"[^>]*>([^<]*)</text>'
)


@dataclass(frozen=True)
class Case:
    points: pd.DataFrame
    pooled: pd.DataFrame | None
    follow: list[int]
    readout: pd.DataFrame | None


def _case(model, texts: tuple[str, ...], groups: tuple[str, ...] = ()) -> Case:
    """What the page draws by default: shared PCA fitted on the default followed tokens, with readout."""
    states = extract_states(model, list(texts))
    follow = default_highlight(states.tokens)
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw, fit_rows=follow)
    points, pooled = journey_frames(states.tokens, texts, proj, layer_names(states.n_layers), None, groups)
    chosen = states.tokens.loc[follow]
    names = [f"S{s + 1} {t}" for s, t in zip(chosen["sentence"], chosen["text"], strict=True)]
    group_of = [groups[s] if groups else f"S{s + 1}" for s in chosen["sentence"]]
    cosines = cosine_matrix(states.layers[:, follow])  # (L+1, k, k)
    return Case(points, pooled, follow, readout_frame(cosines, names, group_of, states.layers.shape[2]))


@pytest.fixture(scope="module")
def cases(model) -> dict[str, Case]:
    bank = sentence_set("Word senses: bank")
    return {
        "bank": _case(model, bank.sentences, bank.groups),
        "30 sentences": _case(model, bundled_corpus().texts[:30]),
    }


def _render(spec: dict, layer: int, frame: float = -1) -> str:
    """The chart as SVG, at the on-screen size, showing `layer` (its own slider set there), or with Play
    at `frame` when that is not -1."""
    spec = copy.deepcopy(spec)
    (param,) = [p for p in spec["params"] if p["name"] == LAYER_PARAM]
    param["value"] = [{"layer": layer}]
    (play,) = [p for p in spec["params"] if p["name"] == PLAY_PARAM]
    play["value"] = frame
    spec["width"], spec["height"] = WIDTH, HEIGHT
    spec["autosize"] = {"type": "fit", "contains": "padding"}  # as Streamlit's theme sets it
    config = spec.setdefault("config", {})
    for part, settings in STREAMLIT_THEME.items():
        config[part] = {**settings, **config.get(part, {})}
    return vlc.vegalite_to_svg(spec)


@dataclass(frozen=True)
class Box:
    text: str
    description: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


def _label_boxes(svg: str) -> list[Box]:
    """The drawn token labels' boxes in pixels. Vega puts a middle-baseline text's baseline a quarter
    of the font size below its centre; the box is one font size tall around that centre."""
    (group,) = LABEL_GROUP.findall(svg)
    boxes = []
    for description, anchor, x, y, size, text in TEXT.findall(group):
        text, size, x, y = html.unescape(text), float(size), float(x), float(y)
        width = CHAR_WIDTH * size * len(text)
        left = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
        middle = y - 0.25 * size
        boxes.append(
            Box(text, html.unescape(description), left, middle - size / 2, left + width, middle + size / 2)
        )
    return boxes


def _overlapping(boxes: list[Box]) -> list[tuple[str, str]]:
    return [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


@pytest.mark.parametrize("classroom", [False, True], ids=["default", "classroom"])
@pytest.mark.parametrize("name", ["bank", "30 sentences"])
def test_drawn_labels_never_overlap_and_followed_tokens_keep_theirs(cases, name, classroom) -> None:
    case = cases[name]
    spec = journey_chart(
        case.points, case.pooled, 0, case.follow, "selected", True, classroom=classroom, readout=case.readout
    ).to_dict()
    followed = case.points[case.points["uid"].isin(case.follow)]
    for layer in LAYERS:
        boxes = _label_boxes(_render(spec, layer))
        assert len(boxes) >= len(case.follow), f"layer {layer}: too few labels drawn"
        clashes = _overlapping(boxes)
        assert not clashes, f"{name}, layer {layer}: {len(clashes)} overlapping labels, e.g. {clashes[:5]}"
        # Every followed token's label is drawn (its tooltip names its sentence and position).
        for row in followed[followed["layer"] == layer].itertuples():
            where = f"sentence: {row.full_sentence}; layer: {row.layer_name}; position: {row.position};"
            assert any(b.text == row.token and where in b.description for b in boxes), (
                f"layer {layer}: followed {row.token!r} unlabelled"
            )


def test_labels_off_still_labels_the_followed_tokens_apart(cases) -> None:
    case = cases["bank"]
    spec = journey_chart(
        case.points, case.pooled, 0, case.follow, labels=False, readout=case.readout
    ).to_dict()
    boxes = _label_boxes(_render(spec, 0))  # at layer 0 the four 'bank's sit almost on one spot
    assert sorted(b.text for b in boxes) == ["bank"] * len(case.follow)
    assert not _overlapping(boxes)


RING = re.compile(r'<g class="mark-symbol role-mark followed_marks"[^>]*>(.*?)</g>', re.S)
PLACE = re.compile(r'transform="translate\(([-\d.e]+),([-\d.e]+)\)"')
CORNER = re.compile(r'<g class="mark-text role-mark[^"]*"[^>]*>\s*<text[^>]*>(layer [^<]*)</text>', re.S)


def _followed_places(svg: str) -> list[tuple[float, float]]:
    (group,) = RING.findall(svg)
    return [(float(x), float(y)) for x, y in PLACE.findall(group)]


def test_play_glides_the_points_between_layers(cases) -> None:
    """While Play runs, frame 2.5 draws every followed token halfway between its places at layers 2 and
    3, names layer 2 in the corner; frame 2 draws exactly what the slider shows at layer 2."""
    case = cases["bank"]
    spec = journey_chart(
        case.points, case.pooled, 6, case.follow, "selected", True, readout=case.readout
    ).to_dict()
    at_2, at_3 = _followed_places(_render(spec, 2)), _followed_places(_render(spec, 3))
    halfway_svg = _render(spec, 6, frame=2.5)
    halfway = _followed_places(halfway_svg)
    assert len(at_2) == len(at_3) == len(halfway) == len(case.follow)
    moved = max(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(at_2, at_3, strict=True))
    assert moved > 20, "the followed tokens move between layers 2 and 3 (or the test shows nothing)"
    for a, b, mid in zip(at_2, at_3, halfway, strict=True):
        assert abs(mid[0] - (a[0] + b[0]) / 2) < 0.6 and abs(mid[1] - (a[1] + b[1]) / 2) < 0.6
    assert "layer 2" in CORNER.findall(halfway_svg)
    assert _followed_places(_render(spec, 6, frame=2.0)) == at_2


READOUT = re.compile(r'<g class="mark-text role-mark readout(?:_title)?_marks"[^>]*>(.*?)</g>', re.S)
LINE = re.compile(
    r'<text[^>]*transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*font-size="([\d.]+)px"[^>]*>([^<]*)</text>'
)
MORE = re.compile(r"… (\d+) more lines?: the table under the chart lists every cosine")


@pytest.mark.parametrize("classroom", [False, True], ids=["default", "classroom"])
def test_readout_lines_stay_a_type_size_apart_when_100_sentences_share_the_word(model, classroom) -> None:
    """With 100 sentences the legend takes much of the chart's height: the readout's rows were drawn
    10.5 px apart in 12 px type (12.2 in 17 px). Now the rows that fit are drawn, and a line says how
    many more the table under the chart has."""
    case = _case(model, tuple(f"The bank {i}." for i in range(100)))
    spec = journey_chart(
        case.points, case.pooled, 3, case.follow, "selected", True, classroom=classroom, readout=case.readout
    ).to_dict()
    lines = [
        (float(y), float(size), html.unescape(text))
        for group in READOUT.findall(_render(spec, 3))
        for _, y, size, text in LINE.findall(group)
    ]
    rows = sorted({y for y, _, _ in lines})
    size = lines[0][1]
    assert len(rows) >= 2 and min(b - a for a, b in itertools.pairwise(rows)) >= size, rows
    texts = [text for _, _, text in lines]
    wanted = case.readout[case.readout["layer"] == 3]["text"].tolist()
    more = [int(m.group(1)) for t in texts if (m := MORE.fullmatch(t))]
    if classroom:  # one pair to a row: not all 7 lines fit
        assert len(more) == 1 and len(texts) - 1 + more[0] == len(wanted)
    else:
        assert not more and sorted(texts) == sorted(wanted)
    assert set(texts) - {t for t in texts if MORE.fullmatch(t)} <= set(wanted)


def test_fit_readout_keeps_the_title_and_the_summary_and_counts_what_is_left_out() -> None:
    cosines = np.ones((2, 4, 4))
    readout = readout_frame(cosines, ["a", "b", "c", "d"], ["x", "x", "y", "y"], 384)  # rows 0-4, 8 lines
    assert fit_readout(readout, "row", 5).equals(readout)
    fitted = fit_readout(readout, "row", 4)  # the title, one row of two pairs, the summary, the rest said
    at_0 = fitted[fitted["layer"] == 0]
    assert at_0["row"].tolist() == [0, 1, 1, 2, 3] and at_0["col"].tolist() == [0, 0, 1, 0, 0]
    assert at_0["line"].tolist() == [0, 1, 2, 3, 4]
    assert at_0["text"].tolist()[1:] == [
        "a ↔ b: 1.00", "a ↔ c: 1.00", "same group 1.00 · other group 1.00",
        "… 4 more lines: the table under the chart lists every cosine",
    ]  # fmt: skip
    one_column = fit_readout(readout, "line", 0)  # never fewer than the title and the line saying more
    assert one_column[one_column["layer"] == 1]["text"].tolist()[1:] == [
        "… 7 more lines: the table under the chart lists every cosine"
    ]
