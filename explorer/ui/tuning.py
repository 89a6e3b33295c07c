"""Streamlit side of 'going further' on the Fine-tune page: tune the top layers of a private copy of the
model (one per person at a time, under the server's memory budget: see ui/memory.py) and show what
moved. The shared model is never touched; the copy is freed once measured, only its results are kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.budget import return_freed_memory
from explorer.charts import finetune as fc
from explorer.finetune import tuning
from explorer.finetune.labelled import LabelledSet, Split
from explorer.inputs import escape_markdown
from explorer.projection import fit_map
from explorer.states import LayerStates, layer_names
from explorer.ui import claims, lessons, memory, widgets
from explorer.ui.caches import cached_model
from explorer.ui.finetune.keys import TOP_K, TUNED
from explorer.ui.finetune.table import table_key
from explorer.ui.widgets import is_classroom


# ---------------------------------------------------------------- going further: the private copy
def release_copy() -> None:
    """Drop this user's tuning results and give their memory back to the server."""
    memory.release(TUNED)


TITLE = "3 · Going further: tune the model itself, and its latent space moves"
LEAD_TITLE = "3 · Tune the model itself"
PICTURE_HEIGHT = 360  # the token picture and the move bars side by side, under the Tune button
LEAD_HEIGHT = 180  # under a lesson's card in 1280 x 720: the controls beside the picture and the bars
SLIDER_HEIGHT = 34  # the Layer slider Vega draws under the picture: the bars beside it are this much taller
PICTURE_ALT = (
    "Each token through the base model (grey ring) and the tuned copy (dot), with a line for how far it "
    "moved, at the layer the chart's own slider picks."
)


def leads(page: str) -> bool:
    """Whether this section goes first on `page`: the lesson running there asks how tuning moves the layers
    (it hides the movement until Reveal), so its button and its picture belong under the lesson's card."""
    lesson = lessons.active(page)
    return lesson is not None and "movement" in lesson.hides


def going_further(
    model_id: str,
    labelled: LabelledSet,
    split: Split,
    n_layers: int,
    seed: int,
    answer: bool = True,
    lead: bool = False,
) -> None:
    """Tune the top k layers of a private copy; right under the Tune button, how each token moved at each
    layer and how far per layer; then the shared model's fingerprint (unchanged) and the copy's.
    `answer=False` (a lesson asks for a prediction first) leaves out the per-layer bars and the verdicts.
    `lead` (the section is first on the page, under a lesson's card): no introduction, and the controls
    beside a shorter picture and the bars, so card, button and picture share one screen."""
    if lead:
        controls, picture, bars = st.columns([1, 2.4, 1.6], gap="medium")
        controls.markdown(f"**{LEAD_TITLE}**")
        tune_at, reset_at, k_at = controls.container(), controls.container(), controls.container()
        slots = (k_at, tune_at, reset_at)  # the button first, in view under the card; k (1 by default) last
    else:
        st.subheader(TITLE)
        st.markdown(
            "A head leaves the model alone. To move the **latent space itself**, weights inside the model "
            "must change. This trains the top layers of a private copy of the model (yours only, never the "
            "shared one) with the same loss, then measures how far each layer's token vectors moved."
        )
        slots = tuple(st.columns([2, 1, 1], vertical_alignment="bottom"))
    k, tune, reset = _controls(slots, n_layers)
    if reset:
        release_copy()
        st.rerun()
    if tune:
        with picture if lead else st.container():  # the progress bar where the picture will be
            if not _tune(model_id, labelled, split, k, seed, n_layers):
                return
        st.rerun()  # redraw the buttons (Reset is now enabled)
    stored = memory.held(TUNED)
    if stored is None:
        if lead:
            picture.caption("Press **Tune a private copy**: each token through the base model and the copy.")
        return
    key, tuned, frame = stored
    if key != table_key(model_id, labelled):
        (picture if lead else st).info(
            "The copy was tuned on another table. Tune again, or reset to free it.", icon="ℹ️"
        )
        return
    if not lead:
        picture, bars = st.columns([3, 2], gap="medium")
    with picture:
        _picture(tuned, frame, LEAD_HEIGHT if lead else PICTURE_HEIGHT, answer, compact=lead)
    with bars:
        if answer:
            _bars(tuned, n_layers, (LEAD_HEIGHT if lead else PICTURE_HEIGHT) + SLIDER_HEIGHT, compact=lead)
        else:
            lessons.placeholder("how far the tokens moved at each layer")
    proof_line(tuned, verdict=answer)
    if not answer:
        return
    widgets.big_stat(
        st.container(),
        "Held-out accuracy, tuned copy",
        f"{widgets.score_text(tuned.after.nn_accuracy, percent=True)} "
        f"(base model: {widgets.score_text(tuned.before.nn_accuracy, percent=True)})",
    )
    st.caption(
        f"Loss went from {tuned.losses[0]:.2f} to {tuned.losses[-1]:.2f} in {len(tuned.losses) - 1} steps."
    )


def _controls(slots: tuple, n_layers: int) -> tuple[int, bool, bool]:
    """The k slider, Tune and Reset in `slots` (three columns of a row, or one column three times):
    (k, whether Tune was pressed, whether Reset was)."""
    if n_layers > 1:
        k = slots[0].slider("Unfreeze the top k layers", 1, n_layers, 1, key=TOP_K)
    else:  # a slider needs two ends; a one-layer model can only tune its one layer
        k = 1
        slots[0].caption("This model has a single transformer layer: k = 1 (the whole stack) is tuned.")
    tune = slots[1].button("Tune a private copy", type="primary", width="stretch")
    reset = slots[2].button("Reset (free the copy)", disabled=memory.held(TUNED) is None, width="stretch")
    return k, tune, reset


def _picture(tuned: tuning.TunedModel, frame: pd.DataFrame, height: int, answer: bool, compact: bool) -> None:
    """Base and tuned tokens on the same axes, at the layer the chart's own slider picks."""
    first = min(tuned.tuned_layers)
    st.altair_chart(
        fc.tuning_chart(frame, first, height=height, classroom=is_classroom(), compact=compact, moves=answer),
        width="stretch",
        alt=PICTURE_ALT,
    )
    st.caption(
        "Each token of your sentences through the base model (grey ring) and through your tuned copy (dot, "
        "coloured by label), on one pair of axes for both models (this layer's PCA of the two together); the "
        "line is how it moved. Drag the Layer slider through the layers."
        + (
            f" Below layer {first} nothing moves, because those layers' weights did not change."
            if answer
            else ""
        )
    )


def _bars(tuned: tuning.TunedModel, n_layers: int, height: int, compact: bool) -> None:
    """The mean move per layer: exactly 0 below the tuned layers."""
    mean_moved = tuned.moved.mean(axis=1)
    st.altair_chart(
        fc.movement_chart(
            layer_names(n_layers), mean_moved, tuned.cka, tuned.tuned_layers, height=height,
            classroom=is_classroom(), compact=compact,
        ),
        width="stretch",
        alt=f"Bar chart of the mean move per layer: exactly 0 below layer {min(tuned.tuned_layers)}, "
        f"{mean_moved[-1]:.2f} at the output.",
    )  # fmt: skip
    st.caption(
        "Mean move: how far a token's vector moved between base and tuned copy, in all "
        f"{tuned.after_layers.shape[2]} dimensions. Frozen layers moved by exactly 0; the tuned top "
        f"{tuned.k} moved. CKA (in the tooltip) compares the shape of a layer's whole cloud before and "
        "after: 1 means the same geometry, however the cloud is turned."
    )


def _tune(model_id: str, labelled: LabelledSet, split: Split, k: int, seed: int, n_layers: int) -> bool:
    """Tune a private copy under the server's memory budget and keep its results; False (with a message)
    if it could not. Its measured peak (`tuning.peak_bytes`) is claimed before anything runs: a tuning
    larger than the whole budget is refused at once, before the model reads the table; the table's states
    are read under their own claim first (`claims.claimed_states`)."""
    model = cached_model(model_id)
    try:
        need = tuning.peak_bytes(model, labelled, split, k)
        memory.ledger().check_size(need)
        before = claims.claimed_states(model_id, labelled.texts, "running the model over the table")
        with memory.room(TUNED, need, "tuning a private copy"):
            bar = st.progress(0.0, text="Copying the model and training its top layers…")
            try:
                tuned = tuning.tune_top_layers(
                    model, labelled, split, k=k, seed=seed, before=before,
                    progress=lambda done, total: bar.progress(done / total, text=f"Tuning… step {done}/{total}"),
                )  # fmt: skip
            finally:
                bar.empty()
            frame = movement_frame(tuned, before, labelled, n_layers)
            kept_bytes = tuned.nbytes + int(frame.memory_usage(deep=True).sum())
            memory.keep(TUNED, (table_key(model_id, labelled), tuned, frame), kept_bytes)
    except memory.BudgetFull as exc:
        st.warning(f"{exc} Fewer or shorter rows, or fewer tuned layers (k), need less.", icon="⏳")
        return False
    except ValueError as exc:
        st.warning(f"The private copy could not be tuned: {escape_markdown(str(exc))}", icon="⚠️")
        return False
    finally:
        return_freed_memory()  # the copy, its gradients and Adam's moments are gone: give the memory back
    return True


def proof_line(tuned: tuning.TunedModel, verdict: bool = True) -> None:
    """Under the picture and the bars: the shared model's fingerprint before → after (the after only with
    `verdict`: a lesson asks for a prediction first), and the copy's."""
    shared_ok = tuned.shared_fingerprint_after == tuned.fingerprint_before
    said = "✅ identical" if shared_ok else "❌ CHANGED (a bug)"
    after = f"`{tuned.shared_fingerprint_after}` {said}" if verdict else f"🔒 {lessons.WHEN_REVEALED}"
    cols = st.columns(2)
    widgets.big_stat(cols[0], "Shared model (everyone's): fingerprint before → after",
                     f"`{tuned.fingerprint_before}` → {after}")  # fmt: skip
    widgets.big_stat(cols[1], "Your tuned copy", f"`{tuned.fingerprint_after}` (its weights changed)")


def movement_frame(
    tuned: tuning.TunedModel, before: LayerStates, labelled: LabelledSet, n_layers: int
) -> pd.DataFrame:
    """Base and tuned tokens at every layer on that layer's PCA of both together (the same axes for the
    two models), with how far each token moved in the full space."""
    n = before.layers.shape[1]
    coords = np.stack(
        [
            fit_map(np.concatenate([b, a])).coords
            for b, a in zip(before.layers, tuned.after_layers, strict=True)
        ]
    )  # (L+1, 2N, 2)
    names = layer_names(n_layers)
    return fc.tuning_frame(coords[:, :n], coords[:, n:], tuned.moved, before.tokens, labelled.labels, names)
