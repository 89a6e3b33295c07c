"""Where the journey chart's token labels go: at every layer, which tokens get a label and on which side
of their point, so that no two labels collide and none covers the corner's layer name or the readout.

Decided in Python for every layer at once (the chart's slider only filters), on a pixel grid of the
plot's cautious size (`plot_size`): the followed tokens always, then as many others as fit
(`label_places`). No Streamlit, no model."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Token labels are kept only where they do not collide, judged in Python for every layer at the chart's
# narrowest usual size: 547 px wide (the right-hand column at 1280×720 with the sidebar open). A wider
# chart only spreads the points further apart, so labels kept there stay apart.
LABEL_FIT_WIDTH = 547
LABEL_CHAR_WIDTH = 0.6  # a label's width ≈ this × font size per character (generous for sans-serif)
LABEL_OFFSET = 7  # px from the point to the label's near corner
# Where a label may sit, tried in order: right and up (the usual place), right and down, left and up,
# left and down. (dx, dy) of the text's middle-baseline anchor; a negative dx right-aligns the text.
LABEL_PLACES = ((1, -1), (1, 1), (-1, -1), (-1, 1))
LABEL_TRIES = 400  # other tokens tried per layer, the least crowded first (few more would ever fit)
LABEL_GAP = 2  # px kept clear around a label: room for the chart being a little smaller than estimated
SPECIAL_TOKEN = r"\[[A-Z]+\]|<[^>]+>"  # [CLS], [SEP], <s>, …: labelled after the words


def plot_size(width: int, height: int, font: int, legend_rows: int) -> tuple[float, float]:
    """A cautious estimate of the plotting area, in px, of a chart `width` × `height` px overall.

    Streamlit fits axes and the legend inside the chart's size (its theme pads axis labels and titles
    by 16 px and the legend by 8 px), so the legend's rows take height from the plot.
    """
    axis_text = font + (font + 1)  # tick labels and the axis title
    plot_width = width - 10 - (3 * LABEL_CHAR_WIDTH * font + 32 + font + 1)
    legend = 18 + 16 + (font + 1) + 8 + legend_rows * (font + 4)
    return plot_width, height - 10 - (axis_text + 32) - legend


def corner_boxes(points: pd.DataFrame, notes: Sequence[str] | None, classroom: bool) -> list[tuple]:
    """Pixel boxes (x0, y0, x1, y1) of the layer's name and note in the top-left corner."""
    title_size, note_size = (30, 16) if classroom else (22, 12)
    longest = max((len(f"layer {n}") for n in points["layer_name"].unique()), default=0)
    boxes = [(10.0, 8.0, 10 + LABEL_CHAR_WIDTH * title_size * longest, 8.0 + 1.2 * title_size)]
    if notes:
        top = 44.0 if classroom else 36.0
        boxes.append(
            (11.0, top, 11 + LABEL_CHAR_WIDTH * note_size * max(map(len, notes)), top + 1.2 * note_size)
        )
    return boxes


class _Pixels:
    """Which pixels of the plot are taken: one bit per pixel, each row of pixels one Python int (fast to
    test and set a box's rows). A box takes every pixel it touches: columns `left` to `right` - 1 and rows
    `top` to `bottom` - 1 (whole pixels). Only the plot's own pixels are kept: a label is placed only
    where its whole box lies inside the plot, so a pixel outside could never block one, and the ints stay
    as narrow as the plot (a drawing took 22.3 ms against 24.8 ms with ints 4,096 px wider)."""

    def __init__(self, width: float, height: float) -> None:
        self.width = math.ceil(width)
        self.rows = [0] * math.ceil(height)

    def free(self, left: int, right: int, top: int, bottom: int) -> bool:
        """Whether a box inside the plot (0 <= left, right <= width, 0 <= top, bottom <= height) is free."""
        mask = ((1 << (right - left)) - 1) << left
        for row in self.rows[top:bottom]:  # noqa: SIM110 (a plain loop: half the time of any() over a generator)
            if row & mask:
                return False
        return True

    def take(self, left: int, right: int, top: int, bottom: int) -> None:
        left, right = max(left, 0), min(right, self.width)
        if right > left:
            mask, rows = ((1 << (right - left)) - 1) << left, self.rows
            for y in range(max(top, 0), min(bottom, len(rows))):
                rows[y] |= mask


def _pixel_span(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    """The whole pixels a box touches: (left, right, top, bottom), right and bottom excluded."""
    return math.floor(x0), math.ceil(x1), math.floor(y0), math.ceil(y1)


def label_places(
    points: pd.DataFrame,
    followed: set[int],
    everyone: bool,
    x_domain: Sequence[float],
    y_domain: Sequence[float],
    plot: tuple[float, float],
    font: int,
    blocked: Sequence[tuple[float, float, float, float]] = (),
    first: np.ndarray | None = None,
) -> pd.DataFrame:
    """Which tokens are labelled at each layer, and where: `show_label`, `label_dx`, `label_dy` per row.
    Rows marked in `first` (a boolean per row: the tokens a 'why' line starts from) are tried before the
    other tokens, and even when `everyone` is False.

    Greedy, one layer at a time, on a pixel grid of the plot (`plot` = width, height in px; the axes'
    domains are fixed across layers): the followed tokens first, always (when their usual place is
    taken, the next free one of LABEL_PLACES, else a place stacked further up or down), then, when
    `everyone`, each other token in its first free place, if any: words before special tokens, and
    points in sparse places before crowded ones (at most LABEL_TRIES of them: a bound on the work). A label's box is its text (LABEL_CHAR_WIDTH × `font`
    per character) one `font` tall, centred where the middle-baseline text is drawn; `blocked` boxes
    (the corner's name, the readout band) are never written over. A label must lie inside the plot: one
    drawn outside floats away from its point.

    The other tokens' boxes at the usual places are measured for all rows at once (numpy); only the
    greedy choice, which depends on the labels already placed, runs token by token.
    """
    n = len(points)
    width, height = plot
    px = (points["x"].to_numpy(float) - x_domain[0]) / (x_domain[1] - x_domain[0]) * width
    py = (y_domain[1] - points["y"].to_numpy(float)) / (y_domain[1] - y_domain[0]) * height
    text_width = LABEL_CHAR_WIDTH * font * points["token"].astype(str).str.len().to_numpy()
    is_followed = points["uid"].isin(followed).to_numpy()
    special = points["piece"].astype(str).str.fullmatch(SPECIAL_TOKEN).to_numpy()
    # Crowding: how many points share a cell about one short label in size.
    cell = np.floor(px / (4 * font)) * 1e6 + np.floor(py / (1.5 * font)) + points["layer"].to_numpy() * 1e12
    _, where, count = np.unique(cell, return_inverse=True, return_counts=True)
    crowd = count[where]
    step = font + 2
    usual = [(sx * LABEL_OFFSET, sy * LABEL_OFFSET) for sx, sy in LABEL_PLACES]
    stacked = [  # further up or down, then also further left or right (near an edge, some are outside)
        (sx * (LABEL_OFFSET + j * 4 * font), sy * (LABEL_OFFSET + k * step))
        for j in range(3)
        for k in range(1, len(followed) + 4)
        for sx, sy in LABEL_PLACES
    ]

    def box(x: float, y: float, text: float, dx: float, dy: float) -> tuple[float, float, float, float]:
        x0 = x + dx - (text if dx < 0 else 0) - LABEL_GAP / 2
        y0 = y + dy - (font + LABEL_GAP) / 2
        return x0, y0, x0 + text + LABEL_GAP, y0 + font + LABEL_GAP

    # Every row's box at each usual place (rows × places), as `box` measures it, in whole pixels.
    dx = np.array([p[0] for p in usual], dtype=float)
    dy = np.array([p[1] for p in usual], dtype=float)
    x0 = px[:, None] + dx - np.where(dx < 0, text_width[:, None], 0.0) - LABEL_GAP / 2
    y0 = py[:, None] + dy - (font + LABEL_GAP) / 2
    x1, y1 = x0 + text_width[:, None] + LABEL_GAP, y0 + font + LABEL_GAP
    inside = ((x0 >= 0) & (y0 >= 0) & (x1 <= width) & (y1 <= height)).tolist()
    left, right = np.floor(x0).astype(int).tolist(), np.ceil(x1).astype(int).tolist()
    top, bottom = np.floor(y0).astype(int).tolist(), np.ceil(y1).astype(int).tolist()

    xs, ys, texts = px.tolist(), py.tolist(), text_width.tolist()
    show, label_dx, label_dy = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n)
    layer_of = points["layer"].to_numpy()
    early = np.zeros(n, dtype=bool) if first is None else np.asarray(first, dtype=bool)
    for layer in np.unique(layer_of):
        rows = np.flatnonzero(layer_of == layer)
        taken = _Pixels(width, height)
        for b in blocked:
            taken.take(*_pixel_span(*b))
        for i in rows[is_followed[rows]].tolist():
            boxes = ((p, box(xs[i], ys[i], texts[i], *p)) for p in usual + stacked)
            place = next(
                (p for p, (a, b, c, d) in boxes if a >= 0 and b >= 0 and c <= width and d <= height
                 and taken.free(*_pixel_span(a, b, c, d))),
                usual[0],
            )  # fmt: skip
            taken.take(*_pixel_span(*box(xs[i], ys[i], texts[i], *place)))
            show[i], (label_dx[i], label_dy[i]) = True, place
        rest = rows[~is_followed[rows]]
        if not everyone:
            rest = rest[early[rest]]
        for i in rest[np.lexsort((rest, crowd[rest], special[rest], ~early[rest]))][:LABEL_TRIES].tolist():
            inside_i, left_i, right_i, top_i, bottom_i = inside[i], left[i], right[i], top[i], bottom[i]
            for p, place in enumerate(usual):
                span = left_i[p], right_i[p], top_i[p], bottom_i[p]
                if inside_i[p] and taken.free(*span):
                    taken.take(*span)
                    show[i], (label_dx[i], label_dy[i]) = True, place
                    break
    return pd.DataFrame({"show_label": show, "label_dx": label_dx, "label_dy": label_dy}, index=points.index)
