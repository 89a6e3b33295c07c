"""Why did it move? The followed tokens' updates split (`explorer.decomposition`), joined to the chart.

For each followed token (the first WHY_MAX_TOKENS of them) and each layer from 1 on: the few source tokens
that sent it the most through attention, drawn as lines on the journey at that layer, and what each part
(itself, the other tokens, the feed-forward block, the biases) added to its move. One forward pass per
sentence with a followed token, cached for the server; the lines ride in the chart's own tables, so the
Layer slider and Play move them in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from explorer.assets import Lesson, stopwords
from explorer.charts.style import MAX_LABEL_CHARS
from explorer.charts.transport import as_sent
from explorer.charts.why import update_parts_chart
from explorer.decomposition import PULLS_BY, NotCovered, decompose, move_table, pull_table
from explorer.inputs import shorten
from explorer.models import DEFAULT_MODEL_ID, model_lock
from explorer.peaks import why_peak_bytes
from explorer.ui import keys, memory
from explorer.ui.caches import cached_model
from explorer.ui.journey.readout import default_follow, states_in_the_box
from explorer.ui.journey.view import JourneyView
from explorer.ui.lessons import Measured
from explorer.ui.state import kept

WHY_MAX_TOKENS = 6  # followed tokens split (each sentence is one more forward pass)
PULL_COLUMNS = ("layer", "x", "y", "x2", "y2", "x_prev", "y_prev", "x2_prev", "y2_prev", "width", "source",
                "target", "share", "source_uid")  # fmt: skip
WHY_CLAIM = "why_split"  # the ledger name of an exact split in progress (nothing is kept under it)
TOP_SOURCES = 3  # lines per followed token and layer; the rest are summed in the bars' tooltip
MEASURE_SAID = 4  # the live measure names this many followed tokens' top senders (one card line)


@dataclass(frozen=True)
class WhyView:
    lines: pd.DataFrame  # the chart's 'pulls' table: layer, x, y, x2, y2, their places a layer before
    # (x_prev, y_prev, x2_prev, y2_prev: Play glides the lines with the dots), width, source, target, share
    moves: pd.DataFrame  # layer, token, part, along, move (see `decomposition.move_table`)
    split: int  # followed tokens split
    followed: int  # followed tokens in all
    message: str | None = None  # why nothing is drawn (another architecture)
    by: str = "parts"  # what ranks the lines: the exact split's parts, or attention weights


def _split_sentence(
    model_id: str, text: str, rows: tuple[int, ...]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    model = cached_model(model_id)
    with model_lock(model):  # the tokenizer and model are shared by every session
        features = model.preprocess([text])
    n_tokens = int(features["input_ids"].shape[1])
    config = model[0].auto_model.config
    n_layers, dim = int(config.num_hidden_layers), int(config.hidden_size)
    need = why_peak_bytes(n_tokens, len(rows), n_layers, dim, int(getattr(config, "num_attention_heads", 16)))
    with memory.quiet_room(WHY_CLAIM, need), model_lock(model):  # claimed before the split runs
        layers = decompose(model[0].auto_model, features, rows)
    return {by: pull_table(layers, by) for by in PULLS_BY}, move_table(layers)


_cached_split = st.cache_resource(show_spinner=False, max_entries=64)(_split_sentence)


def why_view(view: JourneyView, follow: list[int], by: str = "parts") -> WhyView:
    """The lines and parts for the first WHY_MAX_TOKENS followed tokens of `view` (token rows); the lines
    ranked `by` the exact split's parts or, for comparison, by attention weights."""
    points = view.points
    tokens = view.states.tokens
    chosen = [uid for uid in follow if uid in tokens.index][:WHY_MAX_TOKENS]
    lines, moves = [], []
    try:
        for sentence in dict.fromkeys(int(tokens.at[uid, "sentence"]) for uid in chosen):
            mine = [uid for uid in chosen if int(tokens.at[uid, "sentence"]) == sentence]
            rows = tuple(int(tokens.at[uid, "position"]) for uid in mine)
            pulls, parts = _cached_split(view.model_id, view.summary.texts[sentence], rows)
            uid_of = dict(zip(rows, mine, strict=True))
            lines.append(_placed(pulls[by], points, sentence, uid_of, tokens))
            label = {
                row: f"S{sentence + 1} {_label(str(tokens.at[uid, 'text']))}" for row, uid in uid_of.items()
            }
            moves.append(parts.assign(token=parts["target"].map(label)).drop(columns="target"))
    except NotCovered as exc:
        empty = pd.DataFrame()
        return WhyView(empty, empty, 0, len(follow), f"{exc} Nothing is drawn rather than something wrong.")
    except memory.BudgetFull as exc:  # the split claims its peak on the server's ledger
        empty = pd.DataFrame()
        return WhyView(empty, empty, 0, len(follow), f"The why lines are not drawn now: {exc}")
    return WhyView(
        pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(),
        pd.concat(moves, ignore_index=True) if moves else pd.DataFrame(),
        len(chosen),
        len(follow),
        by=by,
    )


def _placed(pulls: pd.DataFrame, points: pd.DataFrame, sentence: int, uid_of: dict[int, int],
            tokens: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """The top sources' lines, each from the source's dot to the followed token's dot at that layer
    (sources hidden from the chart, such as [CLS] when hidden, get no line)."""
    top = pulls[pulls["rank"] <= TOP_SOURCES]
    mine = points[points["sentence_id"] == sentence]
    place = {
        (int(p), int(layer)): (x, y)
        for p, layer, x, y in mine[["position", "layer", "x", "y"]].itertuples(index=False)
    }
    rows = []
    for layer, target, source, share in top[["layer", "target", "source", "share"]].itertuples(index=False):
        start, end = place.get((int(source), int(layer))), place.get((int(target), int(layer)))
        before = place.get((int(source), int(layer) - 1)), place.get((int(target), int(layer) - 1))
        if start is None or end is None or None in before:
            continue
        uid = uid_of[int(target)]
        source_row = tokens[(tokens["sentence"] == sentence) & (tokens["position"] == source)]
        source_text = source_row["text"]
        rows.append(
            {
                "layer": int(layer),
                "x": start[0], "y": start[1], "x2": end[0], "y2": end[1],
                "x_prev": before[0][0], "y_prev": before[0][1], "x2_prev": before[1][0], "y2_prev": before[1][1],
                "width": round(1.0 + 9.0 * float(share), 2),
                "source": _label(str(source_text.iloc[0])) if len(source_text) else "?",
                "target": _label(str(tokens.at[uid, "text"])),
                "share": round(float(share), 3),
                "source_uid": int(source_row.index[0]) if len(source_row) else -1,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=[*PULL_COLUMNS])


def why_caption(why: WhyView) -> str:
    more = (
        f" Lines for the first {why.split} of the {why.followed} followed tokens."
        if why.followed > why.split
        else ""
    )
    if why.by == "rollout":
        return (
            "👀 Lines: attention rollout (Abnar & Zuidema, 2020): how much of each input token reached the "
            "followed token through attention alone, multiplied over the layers so far, half of each layer "
            "counted as the token keeping itself. Not an explanation of its move: it leaves out the values "
            "and the feed-forward blocks." + more
        )
    if why.by == "attention":
        return (
            "👀 Lines: attention weights, averaged over the heads: where the followed token looked at the layer "
            "shown. Not an explanation of its move: over 200 sentences they rank the tokens whose removal "
            "moves it most far worse (Spearman 0.65) than the exact split does (0.98)." + more
        )
    return (
        "🧲 Lines: at the layer shown, the tokens that sent each followed token the most on its way from "
        "the layer before, thicker for a bigger share. Each share is the length of what that token sent "
        "through attention (every head, the value and output maps and both LayerNorms: an exact split of "
        "the layer's update, not attention weights, which agree far less with what moves a token)." + more
    )


def why_panel(why: WhyView, classroom: bool) -> None:
    """Under the chart: what the lines are, and per layer what each part added to the followed tokens'
    moves (or, for a model the split does not cover, why nothing is drawn)."""
    if why.message:
        st.info(why.message, icon="ℹ️")
        return
    st.caption(why_caption(why))
    if len(why.moves):
        st.vega_lite_chart(
            spec=as_sent(update_parts_chart(why.moves, classroom)),
            width="content",
            alt="Bars per layer: how far the token itself, the other tokens, the feed-forward block and the "
            "biases carried each followed token along its move from the layer before.",
        )
        st.caption(
            "Bars: how far each part carried the token along its move from the layer before (they add up to "
            "the move's length; below zero, a part pulled back). 'itself' is the token's own vector, "
            "re-scaled by the LayerNorms, and what it sent itself; 'other tokens' is the sum of the lines."
        )


def _label(text: str) -> str:
    return shorten(text, MAX_LABEL_CHARS)


def top_source_measure(lesson: Lesson) -> Measured:
    """The 'what pulls bank' lesson measured on the sentences in the box: at the lesson's layer, which
    token sent each followed token the most (by the exact split), and what kind of word that is, the
    kind most of them share matched against the lesson's options (in order: a content word, a small
    word, a special token)."""
    found = states_in_the_box()
    if isinstance(found, Measured):
        return found
    (parsed, states), model_id = found, kept(keys.MODEL_ID, DEFAULT_MODEL_ID)
    layer = int(lesson.view.get("layer", 2))
    tokens = states.tokens
    from_readout = default_follow(tokens, parsed.groups)[:WHY_MAX_TOKENS]
    if not from_readout:
        return Measured("no word is repeated in these sentences: nothing is followed")
    small = stopwords()
    kinds, said = [], []
    for uid in from_readout:
        sentence, position = int(tokens.at[uid, "sentence"]), int(tokens.at[uid, "position"])
        try:
            pulls, _ = _cached_split(model_id, parsed.sentences[sentence], (position,))
        except memory.BudgetFull as exc:
            return Measured(f"not measured now: {exc}")
        except NotCovered as exc:
            return Measured(f"not measured: {exc}")
        top = pulls["parts"][(pulls["parts"]["layer"] == layer) & (pulls["parts"]["rank"] == 1)]
        if not len(top):
            continue
        source = tokens[(tokens["sentence"] == sentence) & (tokens["position"] == int(top["source"].iloc[0]))]
        text, special = str(source["text"].iloc[0]), bool(source["special"].iloc[0])
        word = text.lower()
        kinds.append(2 if special else 1 if word in small or not any(c.isalnum() for c in word) else 0)
        said.append(f"'{_label(text)}' (S{sentence + 1}, {float(top['share'].iloc[0]):.0%})")
    if not kinds:
        return Measured(f"the model has no layer {layer}")
    kind = max(set(kinds), key=kinds.count)
    options = lesson.pick_options
    word = _label(str(tokens.at[from_readout[0], "text"]))
    option = options[kind] if kind < len(options) else None
    kind_said = f" (most often: {option})" if option else ""
    more = f" and {len(said) - MEASURE_SAID} more" if len(said) > MEASURE_SAID else ""
    listed = ", ".join(said[:MEASURE_SAID]) + more
    return Measured(
        f"at layer {layer}, the token that sent each '{word}' the most: {listed}{kind_said}", option
    )
