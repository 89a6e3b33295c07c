"""The Fine-tune page's labelled table: the preset, the editor, the held-out split, the training settings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import assets
from explorer.finetune import head as hd
from explorer.finetune.labelled import LabelledSet, Split, prepare_labelled, stratified_split
from explorer.inputs import escape_markdown
from explorer.ui import widgets
from explorer.ui.finetune.keys import (
    BASE,
    HELD_OUT_OPEN,
    LR,
    PRESET,
    RANK,
    ROWS,
    SEED,
    STEPS,
    VERSION,
    table_editor,
)
from explorer.ui.state import persisted, remember, remembered

SEED_MAX = 9999
STEP_CHOICES = range(10, 601, 10)  # the Steps slider's values


def rows_frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"text": t, "label": lab} for t, lab in rows], columns=["text", "label"])


def use_rows(frame: pd.DataFrame) -> None:
    """Replace the table (a preset or a loaded head): a fresh editor starts from these rows."""
    st.session_state[ROWS] = frame
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def _load_preset() -> None:
    remember(PRESET)
    use_rows(rows_frame(assets.labelled_set(st.session_state[PRESET]).rows))


def labelled_editor() -> LabelledSet:
    """Preset picker and the editable (text, label) table; shows notices or what is missing."""
    persisted(PRESET, assets.DEFAULT_LABELLED_SET)
    if ROWS not in st.session_state:
        use_rows(rows_frame(assets.labelled_set(st.session_state[PRESET]).rows))
    st.selectbox(
        "Labelled set", list(assets.labelled_sets()), key=PRESET, on_change=_load_preset,
        help="Picking a set replaces the table below.",
    )  # fmt: skip
    preset = assets.labelled_sets().get(st.session_state[PRESET])
    if preset is not None:
        st.caption(preset.about)
    key = table_editor(st.session_state[VERSION])
    if key not in st.session_state:  # a fresh editor (new rows, or back from another page)
        st.session_state[BASE] = st.session_state[ROWS]
    edited = st.data_editor(
        st.session_state[BASE],
        key=key,
        num_rows="dynamic",
        hide_index=True,
        height=300,
        column_config={
            "text": st.column_config.TextColumn("sentence", width=250),
            "label": st.column_config.TextColumn("label", width=85),
        },
    )
    st.session_state[ROWS] = edited
    labelled = prepare_labelled(edited[["text", "label"]].itertuples(index=False, name=None))
    for notice in labelled.notices:
        st.info(escape_markdown(notice), icon="ℹ️")
    if labelled.error:
        st.warning(labelled.error, icon="✍️")
    return labelled


def split_summary(labelled: LabelledSet, seed: int) -> Split:
    """The held-out rows (about a quarter of each label), listed so nobody wonders which they are."""
    split = stratified_split(labelled.labels, seed=seed)
    st.caption(
        f"**{len(split.train)} sentences train the head; {len(split.held_out)} are held out** (▲ in the chart) "
        "to score it on sentences it never saw."
    )
    if not split.held_out:
        st.caption(
            "Every label has fewer than 3 sentences, so all of them train the head and the held-out "
            "accuracy cannot be measured. Add a third sentence to a label to hold one out."
        )
    box = widgets.lazy_expander("Held-out sentences", HELD_OUT_OPEN)  # folded: no table to draw
    if box.open:
        with box:
            st.dataframe(
                pd.DataFrame(
                    {"sentence": [labelled.texts[i] for i in split.held_out],
                     "label": [labelled.labels[i] for i in split.held_out]}
                ),
                hide_index=True,
            )  # fmt: skip
    return split


def settings() -> hd.HeadConfig:
    """Training settings with sensible defaults; they survive page switches."""
    defaults = hd.HeadConfig()
    for key, value in ((RANK, defaults.rank), (STEPS, defaults.steps), (LR, defaults.lr)):
        persisted(key, value)
    persisted(SEED, defaults.seed)
    with st.expander("Training settings"):
        st.select_slider(
            "Head size (rank)", list(hd.RANKS), **remembered(RANK),
            help="Width of the head's bottleneck: y = x + B·(A·x), A is rank × 384.",
        )  # fmt: skip
        st.slider(
            "Steps",
            STEP_CHOICES.start,
            STEP_CHOICES[-1],
            step=STEP_CHOICES.step,
            **remembered(STEPS),
        )
        st.select_slider("Learning rate", list(hd.LEARNING_RATES), **remembered(LR))
        st.number_input(
            "Seed", 0, SEED_MAX, **remembered(SEED),
            help="Same seed and table, same head, same picture.",
        )  # fmt: skip
    return hd.HeadConfig(
        rank=int(st.session_state[RANK]),
        steps=int(st.session_state[STEPS]),
        lr=float(st.session_state[LR]),
        seed=int(st.session_state[SEED]),
    )


def table_key(model_id: str, labelled: LabelledSet) -> tuple:
    """What a head (or a tuned copy) is kept for: the model and the table it was trained on."""
    return (model_id, labelled.texts, labelled.labels)
