"""Labelled sentences for the Fine-tune page: cleaning a table of (text, label) rows, and the split into
rows that train the head and rows held out to score it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from explorer.inputs import clean_line

MAX_ROWS = 200
HELD_OUT_SHARE = 0.25
MIN_TRAIN_PER_LABEL = 2  # the contrastive loss needs a same-label partner for every training sentence


@dataclass(frozen=True)
class LabelledSet:
    """Cleaned (text, label) rows ready to train on, or an error saying what is missing."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    notices: tuple[str, ...] = ()
    error: str | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """Distinct labels in order of first appearance."""
        return tuple(dict.fromkeys(self.labels))


def clean_cell(value: object) -> str:
    """A table cell as one line of text; "" when it is empty, missing, or only invisible characters.

    The rule is the typed sentences' (inputs.clean_line): a cell of nothing but zero-width or other
    format characters is blank.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = " ".join(clean_line(str(value)).split())
    return "" if text in {"nan", "None", "<NA>"} else text


def _invisible(value: object) -> bool:
    """Something is there (not just spaces) but nothing of it can be seen."""
    return isinstance(value, str) and bool(value.strip()) and not clean_cell(value)


def prepare_labelled(rows: Iterable[tuple[object, object]], max_rows: int = MAX_ROWS) -> LabelledSet:
    """Clean table rows; keep labels with at least 2 examples; need at least 2 such labels."""
    raw = list(rows)
    cleaned = [(clean_cell(t), clean_cell(lab)) for t, lab in raw]
    notices: list[str] = []
    incomplete = [i for i, (t, lab) in enumerate(cleaned) if bool(t) != bool(lab)]
    cleaned = [(t, lab) for t, lab in cleaned if t and lab]
    if incomplete:
        invisible = any(_invisible(cell) for i in incomplete for cell in raw[i])
        notices.append(
            f"{len(incomplete)} row(s) without both a text and a label are left out"
            + (
                " (a cell of only invisible characters, such as zero-width spaces, counts as empty)."
                if invisible
                else "."
            )
        )
    if len(cleaned) > max_rows:
        notices.append(f"Using the first {max_rows} of {len(cleaned)} rows.")
        cleaned = cleaned[:max_rows]
    counts: dict[str, int] = {}
    for _, lab in cleaned:
        counts[lab] = counts.get(lab, 0) + 1
    lonely = [lab for lab, n in counts.items() if n < 2]
    if lonely:
        notices.append(
            "Labels with a single example are left out (nothing to pull them towards): "
            + ", ".join(f"'{lab}'" for lab in lonely[:8])
            + (" …" if len(lonely) > 8 else "")
        )
        cleaned = [(t, lab) for t, lab in cleaned if counts[lab] >= 2]
    kept = {lab for _, lab in cleaned}
    if len(kept) < 2:
        return LabelledSet(
            (),
            (),
            tuple(notices),
            error=(
                "The head needs at least 2 labels with at least 2 sentences each "
                f"(this table has {len(kept)} such label{'s' if len(kept) != 1 else ''}). "
                "Add rows, or pick a preset above."
            ),
        )
    return LabelledSet(tuple(t for t, _ in cleaned), tuple(lab for _, lab in cleaned), tuple(notices))


@dataclass(frozen=True)
class Split:
    """Which rows train the head and which are held out to score it."""

    train: tuple[int, ...]
    held_out: tuple[int, ...]


def stratified_split(labels: Sequence[str], held_out_share: float = HELD_OUT_SHARE, seed: int = 0) -> Split:
    """Hold out about `held_out_share` of each label (at least one), always leaving MIN_TRAIN_PER_LABEL
    rows of every label to train on: a label with only 2 rows keeps both for training."""
    if not 0.0 <= held_out_share < 1.0:
        raise ValueError(f"held_out_share must be in [0, 1), got {held_out_share}.")
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for lab in sorted(set(labels)):
        rows = np.array([i for i, x in enumerate(labels) if x == lab])
        if len(rows) <= MIN_TRAIN_PER_LABEL or held_out_share == 0:
            continue
        n_hold = min(len(rows) - MIN_TRAIN_PER_LABEL, max(1, round(held_out_share * len(rows))))
        held.extend(int(i) for i in rng.permutation(rows)[:n_hold])
    held_set = set(held)
    return Split(
        train=tuple(i for i in range(len(labels)) if i not in held_set),
        held_out=tuple(sorted(held_set)),
    )
