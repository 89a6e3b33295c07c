"""What does a followed token mean here? Its nearest words in context at every layer (`explorer.meaning`).

The corpus index is built once per model, on a click, in the background (about half a minute for the
bundled model on two cores), kept on the server's disk and memory-mapped from there by every session: its
pages are shared and read-only. Every similarity shown is computed exactly from the neighbour's own vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer.assets import Lesson, stopwords
from explorer.charts.style import MAX_LABEL_CHARS
from explorer.inputs import escape_markdown, shorten
from explorer.meaning import (
    MeaningIndex,
    content_mask,
    exact_similarity,
    in_context,
    nearest,
)
from explorer.models import DEFAULT_MODEL_ID, ModelInfo
from explorer.states import layer_names
from explorer.ui import caches, jobs, keys, lessons, meaning_index, widgets
from explorer.ui.caches import cached_states
from explorer.ui.journey.readout import default_follow, states_in_the_box
from explorer.ui.journey.view import JourneyView
from explorer.ui.lessons import Measured
from explorer.ui.state import kept

PAGE = "pages/1_Token_journey.py"
OTHER_WORDS = 3  # other words shown per layer
SAME_WORD = 1  # nearest uses of the same word shown per layer
MAX_TOKENS = 3  # followed tokens the panel offers


@dataclass(frozen=True)
class Found:
    """One neighbour as shown, and where its vector comes from (to check it)."""

    layer: int
    kind: str  # "other" (another word) or "same" (another use of the followed word)
    word: str
    where: str  # its sentence with the word marked «so» (on screen: "S2 (on screen): …")
    similarity: float  # exact: float64 from the neighbour's own vector
    sense: str = ""
    corpus_sentence: int = -1  # its corpus sentence, or -1 for a token on screen
    position: int = -1  # its position there (the model's tokens)
    screen_row: int = -1  # its row in the page's states, for a token on screen


def meaning_box(view: JourneyView, follow: list[int], info: ModelInfo, layer: int) -> None:
    """The folded box 'What does it mean here?', filled only while open (a lesson may hide its table);
    `layer` is the chart's: the box leads with that layer's neighbours."""
    box = widgets.lazy_expander("🔎 What does it mean here? Nearest words, layer by layer", keys.MEANING_HERE)
    if box.open:
        with box:
            meaning_panel(view, follow, info, layer, hidden=lessons.hidden(PAGE, "meaning"))


def meaning_panel(view: JourneyView, follow: list[int], info: ModelInfo, layer: int = 0,
                  hidden: bool = False) -> None:  # fmt: skip
    """The folded box's content: the index (or the button that builds it), then a followed token's nearest
    other words and nearest use of the same word at the chart's `layer`, and the same at every layer in a
    table (that layer's row marked), exactly measured, beside the baseline."""
    if hidden:  # a lesson asks about them: Reveal shows them (and builds the index if it must)
        st.caption("🔒 The nearest words appear when you reveal the answer.")
        return
    index = meaning_index.ready_or_button(info, "meaning_build")
    if index is None:
        return
    _neighbours_view(view, follow, info, index, layer)


def _neighbours_view(view: JourneyView, follow: list[int], info: ModelInfo, index: MeaningIndex,
                     layer: int) -> None:  # fmt: skip
    tokens = view.states.tokens
    chosen = [uid for uid in follow if uid in tokens.index][:MAX_TOKENS]
    if not chosen:
        st.caption("Follow a token (above the chart) to see what it is nearest to at every layer.")
        return
    names = {
        uid: f"S{int(tokens.at[uid, 'sentence']) + 1} · {shorten(str(tokens.at[uid, 'text']), MAX_LABEL_CHARS)}"
        for uid in chosen
    }
    left, middle, right = st.columns([1.3, 1.3, 1.4])
    uid = left.selectbox("Token", chosen, format_func=names.get, key="meaning_token")
    with middle:
        measure = widgets.choice(
            "Similarity", "meaning_measure", {"std": "standardised cosine", "raw": "raw cosine"}, "std"
        )
    with right:
        own = widgets.toggle("Also search the sentences on screen", "meaning_own", False)
    standardised = measure == "std"
    found = _cached_neighbours(info.model_id, view.states.texts, uid, str(index.folder), standardised, own)
    word = shorten(str(tokens.at[uid, "text"]), MAX_LABEL_CHARS)
    baselines = index.baseline_std if standardised else index.baseline_raw
    layer = min(max(layer, 0), view.summary.n_layers)
    name = layer_names(view.summary.n_layers)[layer]
    st.markdown(
        f"**At layer {escape_markdown(name)}** (the chart's), '{escape_markdown(word)}' is nearest to "
        f"(random pairs of words: {_plain(float(baselines[layer])):.2f}):"
    )
    st.dataframe(
        layer_table(found, layer),
        hide_index=True,
        width="stretch",
        column_config={"similarity": st.column_config.NumberColumn(format="%.2f", width=90)},
    )
    table = neighbour_table(found, word, baselines, view.summary.n_layers)
    st.dataframe(
        table.style.apply(lambda row: [MARKED if row.name == layer else ""] * len(row), axis=1),
        hide_index=True,
        width="stretch",
        column_config={
            "layer": st.column_config.TextColumn(width=120),
            "random pairs": st.column_config.TextColumn(width=110),
        },
    )
    st.caption(
        f"What '{word}' is nearest to, layer by layer, among {index.n_tokens:,} content words in "
        f"{meaning_index.corpus_said()}. "
        + (
            "Similarity: cosine after each dimension is centred and scaled over the corpus at that layer "
            "(raw cosine is dominated by a few dimensions and is high for any two tokens). "
            if standardised
            else "Similarity: raw cosine (a few dimensions dominate it). "
        )
        + "'Random pairs': the mean similarity of 4,000 pairs of corpus words from different sentences at "
        "that layer: a neighbour means something only well above it. The word's own sentence is left out."
    )


def neighbours(view: JourneyView, uid: int, index: MeaningIndex, model_id: str, standardised: bool,
               own: bool) -> list[Found]:  # fmt: skip
    """Per layer, the followed token `uid`'s nearest other words (OTHER_WORDS, each word once) and nearest
    other use of its own word (SAME_WORD) among the corpus's content words, its own sentence left out,
    and with `own` the other content words on screen too; every similarity exact (float64 from the
    neighbour's own vector, the corpus's sentences run through the model again)."""
    return _neighbours_of(view.states, uid, index, model_id, standardised, own)


@st.cache_resource(show_spinner=False, max_entries=64)
def _cached_neighbours(model_id: str, texts: tuple[str, ...], uid: int, folder: str, standardised: bool,
                       own: bool) -> tuple[Found, ...]:  # fmt: skip
    """`neighbours` once per sentences, token and setting for the whole server (fourteen queries and a
    forward pass: not on every rerun of the page); frozen records, shared read-only."""
    index = next(i for i in meaning_index.loaded() if str(i.folder) == folder)
    return tuple(_neighbours_of(cached_states(model_id, texts), uid, index, model_id, standardised, own))


def _neighbours_of(states, uid: int, index: MeaningIndex, model_id: str, standardised: bool,
                   own: bool) -> list[Found]:  # fmt: skip
    own_text = states.texts[int(states.tokens.at[uid, "sentence"])]
    word = str(states.tokens.at[uid, "text"]).lower()
    n_layers = states.layers.shape[0]
    picks = []
    for layer in range(n_layers):
        query = states.layers[layer, uid]
        others = nearest(index, query, layer, OTHER_WORDS, standardised, [own_text], word, distinct=True)
        same = [
            n for n in nearest(index, query, layer, 8, standardised, [own_text]) if n.word.lower() == word
        ]
        picks.append((others, same[:SAME_WORD]))
    wanted = sorted({n.sentence for pair in picks for group in pair for n in group})
    exact = _exact_vectors(model_id, index, wanted)
    screen = _own_candidates(states, uid) if own else np.zeros(0, dtype=int)
    found: list[Found] = []
    for layer, (others, same) in enumerate(picks):
        query = states.layers[layer, uid]
        layer_found = [
            _found(n, kind, query, exact, index, layer, standardised)
            for kind, group in (("other", others), ("same", same))
            for n in group
        ]
        for row in screen:
            text = str(states.tokens.at[row, "text"])
            sentence = int(states.tokens.at[row, "sentence"])
            place = f"S{sentence + 1} (on screen): {in_context(states.texts[sentence], text)}"
            similarity = exact_similarity(query, states.layers[layer, row], index, layer, standardised)
            kind = "same" if text.lower() == word else "other"
            layer_found.append(Found(layer, kind, text, place, similarity, screen_row=int(row)))
        for kind, keep in (("other", OTHER_WORDS), ("same", SAME_WORD)):
            ranked = sorted((f for f in layer_found if f.kind == kind), key=lambda f: -f.similarity)
            seen: set[str] = set()
            for f in ranked:
                if len(seen) < keep and (kind == "same" or f.word.lower() not in seen):
                    seen.add(f.word.lower() if kind == "other" else f"{len(seen)}")
                    found.append(f)
    return found


MARKED = "background-color: rgba(255, 200, 0, 0.25); font-weight: bold"  # the chart's layer in the table


def layer_table(found: Sequence[Found], layer: int) -> pd.DataFrame:
    """The neighbours at the chart's `layer`, each in its sentence with the neighbour marked «so»: the
    nearest other words, then the nearest other use of the followed word (text, never HTML)."""
    rows = [
        {
            "neighbour": _short(f.word) if f.kind == "other" else f"{_short(f.word)} (same word)",
            "in its sentence": shorten(f.where, 120) + (f" [{f.sense}]" if f.sense else ""),
            "similarity": round(f.similarity, 4),
        }
        for kind in ("other", "same")
        for f in found
        if f.layer == layer and f.kind == kind
    ]
    return pd.DataFrame(rows, columns=["neighbour", "in its sentence", "similarity"])


def neighbour_table(found: Sequence[Found], word: str, baselines: np.ndarray, n_layers: int) -> pd.DataFrame:
    """One row per layer: the nearest other words, the nearest other use of `word` in its sentence, and
    the random-pairs baseline."""
    names = layer_names(n_layers)
    rows = []
    for layer in range(n_layers + 1):
        here = [f for f in found if f.layer == layer]
        others = " · ".join(f"{_short(f.word)} {f.similarity:.2f}" for f in here if f.kind == "other")
        same = "; ".join(
            f"{shorten(f.where, 90)} ({f.similarity:.2f})" + (f" [{f.sense}]" if f.sense else "")
            for f in here
            if f.kind == "same"
        )
        rows.append(
            {
                "layer": names[layer],
                "nearest other words": others,
                f"nearest other use of '{_short(word)}'": same or "none in the corpus",
                "random pairs": f"{_plain(float(baselines[layer])):.2f}",
            }
        )
    return pd.DataFrame(rows)


def _found(n, kind: str, query: np.ndarray, exact: dict, index: MeaningIndex, layer: int,
           standardised: bool) -> Found:  # fmt: skip
    """A corpus neighbour as shown: its sentence with the word marked, its exact similarity, its sense
    when the sentence is an example of that word's sense."""
    vector = exact[(n.sentence, n.position)][layer]
    sense = index.corpus.senses[n.sentence] if _is_lemma(n.word, index.corpus.lemmas[n.sentence]) else ""
    similarity = exact_similarity(query, vector, index, layer, standardised)
    where = in_context(index.corpus.texts[n.sentence], n.word)
    return Found(layer, kind, n.word, where, similarity, sense, n.sentence, n.position)


def _plain(value: float) -> float:
    """No '-0.00' for a value that rounds to zero."""
    return 0.0 if abs(value) < 0.005 else value


def _short(text: str) -> str:
    return shorten(text, MAX_LABEL_CHARS)


def _is_lemma(word: str, lemma: str) -> bool:
    word = word.lower()
    return bool(lemma) and word in (lemma, lemma + "s", lemma + "es")


def _exact_vectors(
    model_id: str, index: MeaningIndex, sentences: list[int]
) -> dict[tuple[int, int], np.ndarray]:
    """(corpus sentence, position) → that token's exact vector at every layer (L+1, D), from the model run
    again over the neighbours' sentences (through the states cache and its ledger claim)."""
    if not sentences:
        return {}
    texts = tuple(index.corpus.texts[i] for i in sentences)
    with caches.running_model(model_id, texts):
        states = cached_states(model_id, texts)
    found = {}
    for local, sentence in enumerate(sentences):
        rows = states.tokens.index[states.tokens["sentence"] == local]
        for row in rows:
            found[(sentence, int(states.tokens.at[row, "position"]))] = states.layers[:, row]
    return found


def _own_candidates(states, uid: int) -> np.ndarray:
    """The on-screen content words other than the followed token itself (token rows)."""
    mask = content_mask(states.tokens, stopwords())
    rows = np.flatnonzero(mask)
    return rows[rows != uid]


# ---------------------------------------------------------------- the lesson's live answer
MEASURE_TOKENS = 4
BUILD_WAIT_SECONDS = 300


def meaning_measure(lesson: Lesson) -> Measured:
    """'What does bank mean at layer 0, and at the output?' measured on the sentences in the box: for the
    followed tokens (as the readout picks them), their three nearest other words at layer 0 and at the
    output, and how many of them the tokens share at each (all alike at layer 0 but not at the output:
    the context, not the word, decides its neighbours there). Options in order: alike at both; alike at
    layer 0, apart at the output; apart already at layer 0."""
    model_id = kept(keys.MODEL_ID, DEFAULT_MODEL_ID)  # set by the sidebar, which runs before the card
    info = caches.cached_model_info(model_id)
    index = meaning_index.ready(info)
    if (
        index is None
    ):  # Reveal was the click: the index is built now, once per model (seconds to half a minute)
        future = meaning_index.build_job(info)
        with st.spinner("Building the meaning index of this model (once for the server)…"):
            futures.wait([future], timeout=BUILD_WAIT_SECONDS)
        index, error = jobs.result_or_none(future, wait=0)
        if index is None:
            return Measured(
                f"not measured: the meaning index is {'not built' if error else 'still being built'}"
            )
    found = states_in_the_box()
    if isinstance(found, Measured):
        return found
    parsed, states = found
    follow = default_follow(states.tokens, parsed.groups)[:MEASURE_TOKENS]
    if len(follow) < 2:
        return Measured("follow at least two uses of a word to compare their neighbours")
    last = states.layers.shape[0] - 1
    words: dict[int, list[list[str]]] = {}
    for layer in (0, last):
        for uid in follow:
            word = str(states.tokens.at[uid, "text"]).lower()
            found = nearest(index, states.layers[layer, uid], layer, OTHER_WORDS, True, parsed.sentences, word,
                            distinct=True)  # fmt: skip
            words.setdefault(layer, []).append([n.word.lower() for n in found])
    shared = {layer: _shared(lists) for layer, lists in words.items()}
    options = lesson.pick_options
    kind = 2 if shared[0] < 0.5 else 0 if shared[last] >= shared[0] - 0.34 else 1
    label = {uid: f"S{int(states.tokens.at[uid, 'sentence']) + 1}" for uid in follow}
    at_output = "; ".join(f"{label[uid]} {', '.join(w)}" for uid, w in zip(follow, words[last], strict=True))
    return Measured(
        f"the followed words share {shared[0]:.1f} of their 3 nearest other words at layer 0 "
        f"({', '.join(words[0][0])}) and {shared[last]:.1f} at the output ({at_output})",
        options[kind] if kind < len(options) else None,
    )


def _shared(lists: list[list[str]]) -> float:
    """How many words two lists have in common, on average over every pair."""
    pairs = [(a, b) for i, a in enumerate(lists) for b in lists[i + 1 :]]
    return float(np.mean([len(set(a) & set(b)) for a, b in pairs])) if pairs else 0.0
