"""Group axes on two-sense words: how far the real senses part on screen, and how often shuffled labels
would look as good (issue 24's sensitivity and honesty figures).

For every word of a sense set (`tests/data/two_sense_words.txt`, or the file in `LSE_SENSE_SET`), its
sentences alone go through the model; the default view (group axes) is drawn with the real senses and
with every balanced relabelling of its sentences, and the drawn between/within distance ratio of the
word's points is measured at the output layer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from explorer.group_axes import drawn_ratio
from explorer.inputs import parse_sentences
from explorer.models import load_model
from explorer.projection import project
from explorer.separation import grouped_words, relabellings
from explorer.states import extract_states

SENSE_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "two_sense_words.txt"
TARGET_RATIO = 2.5


def word_sets(path: Path) -> list:
    """Each blank-line-separated block of '[sense] sentence' lines, parsed ('#' lines are comments)."""
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    keep = ["\n".join(x for x in b.splitlines() if x.strip() and not x.startswith("#")) for b in blocks]
    return [parse_sentences(b, with_groups=True) for b in keep if b]


def score_word(states, parsed) -> dict:
    """The output layer's drawn ratio for the real senses and for every balanced relabelling."""
    word = grouped_words(states.tokens, parsed.groups)[0]
    rows = list(word.rows)
    codes, _ = relabellings(word.groups)
    ratios = []
    for labels in codes:
        as_text = [str(c) for c in labels]
        coords = project(states.layers, "groups", words=[(rows, as_text)]).coords  # (L+1, N, 2)
        ratios.append(drawn_ratio(coords[-1, rows], as_text))
    real, shuffled = ratios[0], np.array(ratios[1:])
    per_layer = project(states.layers, "groups", words=[(rows, word.groups)]).coords
    return {
        "word": word.word,
        "ratio_by_layer": [round(drawn_ratio(c[rows], word.groups), 2) for c in per_layer],
        "ratio_output": round(real, 2),
        "rank_of_real": int((shuffled >= real).sum()) + 1,
        "splits": len(ratios),
        "shuffled_reaching_target": int((shuffled >= TARGET_RATIO).sum()),
    }


def run() -> dict:
    path = Path(os.environ.get("LSE_SENSE_SET", SENSE_SET))
    model = load_model()
    start = time.perf_counter()
    words = [score_word(extract_states(model, p.sentences), p) for p in word_sets(path)]
    shuffled = sum(w["splits"] - 1 for w in words)
    return {
        "sense_set": path.name,
        "words": words,
        "words_reaching_target": sum(w["ratio_output"] >= TARGET_RATIO for w in words),
        "words_in_top_10_percent": sum(w["rank_of_real"] <= 0.1 * w["splits"] for w in words),
        "shuffled_share_reaching_target": round(
            sum(w["shuffled_reaching_target"] for w in words) / shuffled, 4
        ),
        "seconds": round(time.perf_counter() - start, 1),
    }
