"""The Token journey's full-space readout: the followed words' cosines against chance as data, the lines, table and text alternative made from it, the per-word strip, and the journey lessons' live measure."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from explorer.assets import Lesson
from explorer.charts import readout as readout_lines
from explorer.charts.readout import beats_text
from explorer.charts.transport import as_sent
from explorer.group_axes import drawn_ratio
from explorer.inputs import ParsedSentences, parse_sentences
from explorer.models import DEFAULT_MODEL_ID
from explorer.separation import (
    MAX_GROUPED_WORDS,
    MAX_OCCURRENCES,
    GroupedWord,
    grouped_words,
    parting_layer,
    readout_pairs,
    readout_summary,
    word_separation,
)
from explorer.states import (
    LayerStates,
    default_highlight,
)
from explorer.ui import caches, keys, widgets
from explorer.ui.caches import cached_states
from explorer.ui.journey.view import JourneyTokens, JourneyView, distinct_labels
from explorer.ui.lessons import Measured
from explorer.ui.state import kept
from explorer.vectors import cosine_matrix


@dataclass(frozen=True)
class Readout:
    """The followed tokens' full-space numbers at every layer, as data: `pairs` (layer, word, a, b, cosine,
    relation), one row per pair of occurrences of the same word (never two different words); `summary`
    (word, layer, within, across, gap, chance band, beats, splits), one row per grouped word and layer;
    `lines`, the chart band's text made from them."""

    pairs: pd.DataFrame
    summary: pd.DataFrame
    lines: pd.DataFrame
    dim: int

    def at(self, layer: int) -> pd.DataFrame:
        return self.summary[self.summary["layer"] == layer]


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_readout(
    model_id: str, texts: tuple[str, ...], groups: tuple[str, ...], rows: tuple[int, ...]
) -> Readout:
    """The followed tokens' cosines in the model's full space, at every layer. With groups: per grouped
    word, its occurrences among `rows` against every relabelling of their sentences; without, the pairs
    of the first followed tokens."""
    states = cached_states(model_id, texts)
    dim = states.layers.shape[2]
    words = _followed_words(states.tokens, groups, rows)
    if words:
        separations = [word_separation(states.layers, w) for w in words]
        summary = readout_summary(separations)
        return Readout(readout_pairs(separations), summary, readout_lines.word_lines(summary, dim), dim)
    tokens = states.tokens.loc[list(rows)]
    labels = distinct_labels(
        [f"S{s + 1} {t}" for s, t in zip(tokens["sentence"], tokens["text"], strict=True)]
    )
    group_of = [groups[s] if groups else f"S{s + 1}" for s in tokens["sentence"]]
    cosines = cosine_matrix(states.layers[:, list(rows)])  # (L+1, k, k)
    lines = readout_lines.readout_frame(cosines, labels, group_of, dim)
    pairs = lines[lines["a"] != ""].assign(word="", relation="")[
        ["layer", "word", "a", "b", "cosine", "relation"]
    ]
    return Readout(pairs.reset_index(drop=True), readout_summary([]), lines, dim)


def _followed_words(
    tokens: pd.DataFrame, groups: tuple[str, ...], rows: tuple[int, ...]
) -> list[GroupedWord]:
    """The grouped words, each with only its followed occurrences (kept while they span two groups)."""
    followed = set(rows)
    out = []
    for word in grouped_words(tokens, groups, max_words=len(tokens), max_occurrences=len(tokens)):
        keep = [i for i, r in enumerate(word.rows) if r in followed]
        if len({word.groups[i] for i in keep}) >= 2:
            out.append(
                GroupedWord(
                    word.word,
                    tuple(word.rows[i] for i in keep),
                    tuple(word.sentences[i] for i in keep),
                    tuple(word.groups[i] for i in keep),
                )
            )
    return out[:MAX_GROUPED_WORDS]


def readout(view: JourneyView, groups: tuple[str, ...], follow: list[int]) -> Readout | None:
    """The readout of the followed tokens (None with fewer than two)."""
    rows = tuple(u for u in follow if u in set(view.summary.tokens.index))
    if len(rows) < 2:
        return None
    return cached_readout(view.model_id, view.summary.texts, groups, rows)


def has_grouped_words(tokens: JourneyTokens, groups: tuple[str, ...]) -> bool:
    """Whether group axes apply (a word is used in two sentences of each of two groups)."""
    return bool(groups) and bool(grouped_words(tokens.summary.tokens, groups, max_words=1))


def default_follow(tokens: pd.DataFrame, groups: tuple[str, ...]) -> list[int]:
    """Every occurrence of every grouped word (`grouped_words`: at most MAX_GROUPED_WORDS words and
    MAX_OCCURRENCES each); without one, the most repeated content word (`default_highlight`)."""
    words = grouped_words(tokens, groups)
    if words:
        return [r for w in words for r in w.rows]
    return default_highlight(tokens)


FOLLOW_LIMIT_TEXT = (
    f"Followed by default: every word used in two or more sentences of each of two or more groups, each "
    f"occurrence (at most "
    f"{MAX_GROUPED_WORDS} words, {MAX_OCCURRENCES} occurrences each)."
)


def picture_versus_space(view: JourneyView, summary_at_layer: pd.DataFrame, layer: int) -> list[str]:
    """One line per grouped word whose picture and full-space numbers disagree at `layer`: the full space
    beats 90% of relabellings but the word's points do not part on screen (drawn between/within distance
    under 1.5), or the points part on screen while the full space beats fewer than half."""
    lines = []
    points = view.points[view.points["layer"] == layer]
    for r in summary_at_layer.itertuples():
        if int(r.splits) < 10:
            continue
        mine = points[points["token"].str.lower() == r.word]
        if mine["group"].nunique() < 2:
            continue
        ratio = drawn_ratio(mine[["x", "y"]].to_numpy(float), mine["group"].tolist())
        strong = r.beats >= 0.9 * r.splits
        if strong and ratio < 1.5:
            lines.append(
                f"'{r.word}': the model's full space separates its groups at this layer ({beats_text(r)}), "
                f"but this picture cannot show it (drawn apart only {ratio:.1f}× their spread)."
            )
        elif not strong and r.beats < 0.5 * r.splits and ratio >= 2:
            lines.append(
                f"'{r.word}': its points look apart here ({ratio:.1f}× their spread), but in the full space "
                f"its groups are no closer than chance ({beats_text(r)})."
            )
    return lines


def chart_description(view: JourneyView, readout: Readout | None) -> str:
    """The journey chart in words, for screen readers (the chart's text alternative).

    It describes the whole journey, first layer to output, not the layer shown: the chart's slider moves
    in the browser, and a description that changed with the layer would make the page rebuild the chart.
    New sentences do change it, so the browser builds a new view for them instead of swapping the data;
    measured in turns in the browser, that costs next to nothing (ten new sentences of the same length:
    522 ms, against 498 ms when neither this nor any row count changed; medians of 15), and the numbers
    are worth it here.
    """
    names = view.names
    parts = [
        f"Token journey chart: {int(view.shown.sum()):,} tokens of {len(view.summary.texts)} sentences, one "
        f"dot each, on {'axes fitted per layer where the grouped words part' if view.axis_words else 'two fixed axes'}, "
        f"at every layer from {names[0]} to {names[-1]}; the Layer slider under the chart picks the layer drawn."
    ]
    if readout is not None and len(readout.summary):
        first, last = 0, int(readout.summary["layer"].max())
        for word, rows in readout.summary.groupby("word", sort=False):
            a, b = rows[rows["layer"] == first].iloc[0], rows[rows["layer"] == last].iloc[0]
            parts.append(
                f"'{word}', cosine in all {view.summary.width} dimensions, {names[first]} → {names[last]}: "
                f"same group {a.within:.2f} → {b.within:.2f}, other group {a.across:.2f} → {b.across:.2f}; at "
                f"{names[last]} it {beats_text(b)}."
            )
    elif readout is not None and len(readout.pairs):
        pairs = readout.pairs
        first, last = int(pairs["layer"].min()), int(pairs["layer"].max())
        start, end = pairs[pairs["layer"] == first], pairs[pairs["layer"] == last]
        moves = [
            f"{a} and {b} {c0:.2f} → {c1:.2f}"
            for a, b, c0, c1 in zip(start["a"], start["b"], start["cosine"], end["cosine"], strict=True)
        ]
        parts.append(
            f"Cosine of the followed tokens in all {view.summary.width} dimensions, {names[first]} → "
            f"{names[last]}: " + "; ".join(moves) + "."
        )
    return " ".join(parts)


def readout_table(readout: Readout) -> pd.DataFrame:
    """The readout's cosines as a table: one row per layer, one column per pair of occurrences of the same
    word (and, per grouped word, its within, across and splits beaten)."""
    pairs = readout.pairs
    names = [f"{a} ↔ {b}" for a, b in zip(pairs["a"], pairs["b"], strict=True)]
    table = pairs.assign(pair=names).pivot(index="layer", columns="pair", values="cosine")
    table = table[list(dict.fromkeys(names))]
    for word, rows in readout.summary.groupby("word", sort=False):
        rows = rows.set_index("layer")
        table[f"{word}: same group"] = rows["within"]
        table[f"{word}: other group"] = rows["across"]
        table[f"{word}: splits beaten"] = [
            f"{b} of {n}" for b, n in zip(rows["beats"], rows["splits"], strict=True)
        ]
    table.columns.name = "pair"
    return table.round(3)


def separation_panel(view: JourneyView, readout: Readout, layer: int) -> None:
    """Under the chart: per grouped word, where its groups part (full-space gap per layer against the
    chance band, the layer shown marked), and a line wherever the picture and the full space disagree."""
    for line in picture_versus_space(view, readout.at(layer), layer):
        st.info(line, icon="🔎")
    strip = readout_lines.separation_strip(readout.summary, layer, widgets.is_classroom())
    spec = as_sent(strip)
    # the strip's own description (it names the words) is its text alternative: a description left in the
    # spec beside an alt made Streamlit log a warning with a stack trace on every run
    st.vega_lite_chart(spec=spec, width="content", alt=spec.pop("description"))
    st.caption(
        "Where the meanings part: the gap (same-group minus other-group cosine, all "
        f"{view.summary.width} dimensions) per layer; grey, where 90% of the relabellings of the same sentences "
        "fall by chance; ring, the layer shown."
    )


def states_in_the_box() -> tuple[ParsedSentences, LayerStates] | Measured:
    """What a journey lesson's card measures: the sentences in the shared box and their states under
    the model in use (the sidebar, which runs before the card, has set it); a Measured saying there are
    no sentences yet when the box is empty."""
    parsed = parse_sentences(st.session_state.get(keys.SENTENCES, ""), with_groups=True)
    if not parsed.sentences:
        return Measured("no sentences yet")
    model_id = kept(keys.MODEL_ID, DEFAULT_MODEL_ID)
    with caches.running_model(model_id, parsed.sentences):
        return parsed, cached_states(model_id, parsed.sentences)


def parting_measure(lesson: Lesson) -> Measured | None:
    """A journey lesson's answer measured on the sentences in the box: per grouped word, the first layer at
    which its meanings part (`separation.parting_layer`); the pick is judged against the first word."""
    if lesson.measure != "parting_layer":
        return None
    found = states_in_the_box()
    if isinstance(found, Measured):
        return found
    parsed, states = found
    words = grouped_words(states.tokens, parsed.groups)
    if not words:
        return Measured(
            "no word is used in two sentences of each of two groups yet: tag your sentences, "
            "[meaning] A sentence with the word."
        )
    parts, first = [], None
    for word in words:
        layer, how = parting_layer(word_separation(states.layers, word))
        said = f"layer {layer}" if layer is not None else "never"
        first = (str(layer) if layer is not None else "never") if first is None else first
        parts.append(f"'{word.word}' parts at {said} ({how})")
    return Measured("; ".join(parts), first)
