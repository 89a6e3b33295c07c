"""Streamlit side of 'going further' on the Fine-tune page: tune the top layers of a private copy of the
model (one per person, in st.session_state) and show what moved. The shared model is never touched."""

from __future__ import annotations

import gc

import streamlit as st

from explorer.charts import finetune as fc
from explorer.finetune import tuning
from explorer.finetune.labelled import LabelledSet, Split
from explorer.inputs import escape_markdown
from explorer.states import layer_names
from explorer.ui import widgets
from explorer.ui.caches import cached_model, load_states
from explorer.ui.finetune import TUNED, table_key
from explorer.ui.widgets import is_classroom


# ---------------------------------------------------------------- going further: the private copy
def release_copy() -> None:
    """Drop this user's tuned model copy and free its memory."""
    tuned = st.session_state.pop(TUNED, None)
    del tuned
    gc.collect()


def going_further(model_id: str, labelled: LabelledSet, split: Split, n_layers: int, seed: int) -> None:
    """Tune the top k layers of a private copy; show per-layer CKA and the fingerprints."""
    st.markdown(
        "A head leaves the model alone. To move the **latent space itself**, weights inside the model must "
        "change. This trains the top layers of a private copy of the model (yours only, never the shared "
        "one) with the same loss, then measures how far each layer's token vectors moved."
    )
    cols = st.columns([2, 1, 1])
    if n_layers > 1:
        k = cols[0].slider("Unfreeze the top k layers", 1, n_layers, 1, key="ft_k")
    else:  # a slider needs two ends; a one-layer model can only tune its one layer
        k = 1
        cols[0].caption("This model has a single transformer layer: k = 1 (the whole stack) is tuned.")
    with cols[1]:
        st.write("")
        tune = st.button("Tune a private copy", type="primary", width="stretch")
    with cols[2]:
        st.write("")
        reset = st.button("Reset (free the copy)", disabled=TUNED not in st.session_state, width="stretch")
    if reset:
        release_copy()
        st.rerun()
    if tune:
        release_copy()  # at most one copy per user
        bar = st.progress(0.0, text="Copying the model and training its top layers…")
        try:
            tuned = tuning.tune_top_layers(
                cached_model(model_id), labelled, split, k=k, seed=seed,
                before=load_states(model_id, labelled.texts),
                progress=lambda done, total: bar.progress(done / total, text=f"Tuning… step {done}/{total}"),
            )  # fmt: skip
        except ValueError as exc:
            bar.empty()
            st.warning(f"The private copy could not be tuned: {escape_markdown(str(exc))}", icon="⚠️")
            return
        bar.empty()
        st.session_state[TUNED] = (table_key(model_id, labelled), tuned)
        st.rerun()  # redraw the buttons (Reset is now enabled)
    stored = st.session_state.get(TUNED)
    if stored is None:
        return
    key, tuned = stored
    if key != table_key(model_id, labelled):
        st.info("The copy was tuned on another table. Tune again, or reset to free it.", icon="ℹ️")
        return
    names = layer_names(n_layers)
    chart = fc.cka_chart(names, tuned.cka, tuned.tuned_layers, classroom=is_classroom())
    st.altair_chart(chart, width="stretch")
    st.caption(
        "Linear CKA between each layer's token vectors before and after tuning (1 = the same geometry). "
        f"Frozen layers stay at exactly 1.000; the tuned top {tuned.k} moved."
    )
    cols = st.columns(3)
    widgets.big_stat(cols[0], "Model fingerprint before", f"`{tuned.fingerprint_before}`")
    widgets.big_stat(cols[1], "Fingerprint of your tuned copy", f"`{tuned.fingerprint_after}` (changed)")
    widgets.big_stat(
        cols[2],
        "Held-out accuracy, tuned copy",
        f"{widgets.score_text(tuned.after.nn_accuracy, percent=True)} (was {widgets.score_text(tuned.before.nn_accuracy, percent=True)})",
    )
    shared_ok = tuned.shared_fingerprint_after == tuned.fingerprint_before
    st.caption(
        f"The latent space changed because weights did. The shared model everyone uses still has fingerprint "
        f"`{tuned.shared_fingerprint_after}`{' (untouched)' if shared_ok else ' (CHANGED: a bug)'}. "
        f"Loss went from {tuned.losses[0]:.2f} to {tuned.losses[-1]:.2f} in {len(tuned.losses) - 1} steps."
    )
