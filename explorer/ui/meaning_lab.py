"""Geometry lab: where does meaning emerge? Over the meaning index's sense-tagged words, per layer, how
often a word's nearest uses carry its sense, against chance (`explorer.meaning_emergence.sense_agreement`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.charts.geometry import emergence_chart
from explorer.meaning import MeaningIndex, meaning_corpus
from explorer.meaning_emergence import sense_agreement, sense_agreement_bytes
from explorer.models import ModelInfo
from explorer.states import layer_names
from explorer.ui import meaning_index, memory, widgets

EMERGENCE_HEIGHT = 420
AGREEMENT_CLAIM = "sense_agreement"  # the ledger name of the measure in progress (nothing is kept under it)


@st.cache_resource(show_spinner=False, max_entries=4)
def _agreement(folder: str, standardised: bool) -> pd.DataFrame:
    """Measured once per index and measure for the whole server (a few seconds); callers never change it."""
    index = next(i for i in meaning_index.loaded() if str(i.folder) == folder)
    return sense_agreement(index, standardised=standardised)


def emergence_box(info: ModelInfo, classroom: bool) -> None:
    """The folded box 'Where does meaning emerge?', filled only while open."""
    box = widgets.lazy_expander(
        "🔎 Where does meaning emerge? A word's nearest uses, layer by layer", "meaning_lab"
    )
    if box.open:
        with box:
            emergence_panel(info, classroom)


def emergence_panel(info: ModelInfo, classroom: bool) -> None:
    index = meaning_index.ready_or_button(info, "meaning_build_lab")
    if index is None:
        return
    measure = widgets.choice(
        "Similarity", "meaning_lab_measure", {"std": "standardised cosine", "raw": "raw cosine"}, "std"
    )
    try:
        with (
            memory.quiet_room(AGREEMENT_CLAIM, sense_agreement_bytes(index)),
            st.spinner("Measuring every layer…"),
        ):
            frame = _agreement(str(index.folder), measure == "std")
    except memory.BudgetFull as exc:
        st.warning(f"Not measured now: {exc}", icon="⏳")
        return
    if not frame["tokens"].iloc[0]:
        st.info("The corpus has no word with two senses that each have two tagged uses.", icon="ℹ️")
        return
    st.altair_chart(
        emergence_chart(frame, layer_names(len(frame) - 1), classroom=classroom),
        width="stretch",
        height=EMERGENCE_HEIGHT + 60 * classroom,  # the plot, its axis and the legend under it
        alt="Lines per layer: the share of a word's 5 nearest uses that carry its sense, its chance level, and "
        "how often a word's nearest word in the corpus is itself.",
    )
    st.caption(_caption(frame, index))


def _caption(frame: pd.DataFrame, index: MeaningIndex) -> str:
    corpus = meaning_corpus()
    wordnet = sum(s == "WordNet" for s in corpus.sources)
    first, last = frame.iloc[0], frame.iloc[-1]
    source = (
        "WordNet 3.0's examples (each tagged with its synset) and this app's" if wordnet else "this app's"
    )
    return (
        f"Over {int(first['tokens']):,} sense-tagged uses of {int(first['words']):,} words with two senses or "
        f"more, from {source} word senses, among the {index.n_tokens:,} words of the meaning index. At layer 0 "
        f"{first['agreement']:.0%} of a use's 5 nearest uses carry its sense (chance {first['chance']:.0%}); at "
        f"the output {last['agreement']:.0%}. Its nearest word in the whole corpus is the same word "
        f"{first['same_word']:.0%} of the time at layer 0 and {last['same_word']:.0%} at the output (over a "
        "sample of 500 uses). Each use's own sentence is left out."
    )
