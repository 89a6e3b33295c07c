"""Lessons' answers measured live on what the page shows (beside the student's pick after Reveal): the
Sentence embedding page's and the Geometry lab's. (The Token journey's parting layer is measured in
`ui.journey.readout`, from the chart's own readout.)"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.assets import Lesson, geometry_corpus
from explorer.inputs import parse_sentences
from explorer.ledger import BudgetFull
from explorer.models import DEFAULT_MODEL_ID
from explorer.ui import keys
from explorer.ui.caches import cached_states
from explorer.ui.lab_measures import cached_measures
from explorer.ui.lessons import Measured
from explorer.ui.state import kept
from explorer.vectors import cosine

NEGATION_RANGES = (("above 0.9", 0.9), ("0.5 to 0.9", 0.5), ("−0.2 to 0.5", -0.2), ("below −0.2", -2.0))


def sentence_page(lesson: Lesson) -> Measured | None:
    """The Sentence embedding page's lessons. The negation lesson measured on the sentences in the box: the cosine of each sentence's embedding
    with its pair's (the two sentences that share a group), and the range their mean falls in."""
    if lesson.measure == "nearest_same_group":
        return _nearest_same_group()
    if lesson.measure != "negation_cosine":
        return None
    parsed = parse_sentences(st.session_state.get(keys.SENTENCES, ""), with_groups=True)
    pairs: dict[str, list[int]] = {}
    for i, group in enumerate(parsed.groups):
        pairs.setdefault(group, []).append(i)
    pairs = {g: rows for g, rows in pairs.items() if g and len(rows) == 2}
    if not pairs:
        return Measured("no pairs yet: tag each sentence and its negation with one group, [film] …")
    model_id = kept(keys.MODEL_ID, DEFAULT_MODEL_ID)
    embeddings = cached_states(model_id, parsed.sentences).pooled  # (S, D), what encode returns
    cosines = {g: float(cosine(embeddings[a], embeddings[b])) for g, (a, b) in pairs.items()}
    mean = sum(cosines.values()) / len(cosines)
    option = next(name for name, low in NEGATION_RANGES if mean > low)
    each = ", ".join(f"{g} {c:.2f}" for g, c in cosines.items())
    return Measured(f"mean cosine {mean:.2f} over {len(cosines)} pairs ({each})", option)


def _nearest_same_group() -> Measured:
    """Each tagged sentence's nearest other sentence by the cosine of their embeddings: how many of them
    find a sentence of their own group first."""
    parsed = parse_sentences(st.session_state.get(keys.SENTENCES, ""), with_groups=True)
    tagged = [i for i, g in enumerate(parsed.groups) if g and parsed.groups.count(g) >= 2]
    if len(tagged) < 2:
        return Measured("no pairs yet: tag each sentence and its partner with one group, [pair] …")
    embeddings = cached_states(kept(keys.MODEL_ID, DEFAULT_MODEL_ID), parsed.sentences).pooled  # (S, D)
    similarity = np.asarray(cosine(embeddings[:, None, :], embeddings[None, :, :]), dtype=float)  # (S, S)
    np.fill_diagonal(similarity, -np.inf)
    found = sum(parsed.groups[int(np.argmax(similarity[i]))] == parsed.groups[i] for i in tagged)
    option = "its partner (same meaning)" if found >= 0.75 * len(tagged) else "no pattern"
    return Measured(f"{found} of {len(tagged)} sentences find a sentence of their own group nearest", option)


def geometry_lab(lesson: Lesson) -> Measured | None:
    """The anisotropy lesson measured on the words the lab measures now (the corpus or your sentences):
    the layer where words from unrelated sentences are most alike, and the output layer's value."""
    if lesson.measure != "peak_anisotropy":
        return None
    if kept(keys.GEOMETRY_SOURCE, "corpus") == "corpus":
        texts = geometry_corpus()
    else:
        texts = parse_sentences(st.session_state.get(keys.SENTENCES, "")).sentences
    if not texts:
        return Measured("no sentences to measure yet")
    try:  # the measures claim their peak on the server's ledger
        view = cached_measures(kept(keys.MODEL_ID, DEFAULT_MODEL_ID), texts, False)
    except BudgetFull as exc:
        return Measured(f"not measured now: {exc}")
    anisotropy = view.measures["anisotropy"].to_numpy(dtype=float)  # one value per layer, 0 … L
    if not np.isfinite(anisotropy).any():
        return Measured("too few words from different sentences to measure")
    peak = int(np.nanargmax(anisotropy))
    last = len(anisotropy) - 1
    return Measured(
        f"anisotropy peaks at layer {peak} ({anisotropy[peak]:.2f}); at the output layer {last} it is "
        f"{anisotropy[last]:.2f}, over {view.n_words:,} words",
        str(peak),
    )
