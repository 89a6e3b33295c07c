"""Training the Fine-tune page's head (or loading one), and the view shown: run, 2-D frame and proof."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer.charts import finetune as fc
from explorer.finetune import head as hd
from explorer.finetune import head_file
from explorer.finetune.labelled import LabelledSet, Split, stratified_split
from explorer.finetune.proof import FrozenProof, prove_unchanged
from explorer.inputs import escape_markdown
from explorer.models import weights_fingerprint
from explorer.ui import caches, memory
from explorer.ui.caches import cached_model
from explorer.ui.finetune.keys import PENDING, RUN, STEP, UPLOAD_MESSAGE
from explorer.ui.finetune.table import table_key
from explorer.ui.widgets import is_classroom


@dataclass(frozen=True)
class FineTuneView:
    """What the page draws: a run (or the untrained preview), its 2-D frame, and the proof."""

    key: tuple
    run: hd.HeadRun
    frame: pd.DataFrame
    source: str  # "preview", "trained" or "loaded"
    proof: FrozenProof | None = None


def _view(key: tuple, run: hd.HeadRun, source: str, proof: FrozenProof | None = None) -> FineTuneView:
    frame = fc.snapshot_frame(
        [s.step for s in run.snapshots],
        [s.outputs for s in run.snapshots],
        run.labelled.texts,
        run.labelled.labels,
        run.split.held_out,
    )
    return FineTuneView(key, run, frame, source, proof)


def _view_bytes(view: FineTuneView) -> int:
    snapshots = sum(s.outputs.nbytes + s.head.down.nbytes + s.head.up.nbytes for s in view.run.snapshots)
    return int(snapshots + view.frame.memory_usage(deep=True).sum())


def _keep_view(view: FineTuneView) -> None:
    """Keep a trained or loaded head for this user, counted against the server's memory budget."""
    memory.keep(RUN, view, _view_bytes(view))


def train(model_id: str, labelled: LabelledSet, config: hd.HeadConfig, show_step: int | None = None) -> None:
    """Train a head with a progress bar and a live loss curve; keep the run for this user (ui/memory.py).

    `show_step` (from a share link) picks the snapshot shown afterwards; by default the last one. The
    table's vectors, then the training with its proof, each claim their measured peak on the server's
    memory ledger first (see `run_peak_bytes`); with no room, a warning and nothing trained.
    """
    pooled = pooled_or_warning(model_id, labelled.texts)
    if pooled is None:
        return
    model = cached_model(model_id)
    fingerprint_before = weights_fingerprint(model)
    split = stratified_split(labelled.labels, seed=config.seed)
    need = run_peak_bytes(
        pooled, caches.pooled_peak(model_id, labelled.texts), hd.N_SNAPSHOTS + 1, config.rank
    )
    try:
        with memory.room(RUN, need, "training the head"):
            before = caches.computed_pooled(model_id, labelled.texts)  # this machine's bits, not stored ones
            run = _train_run(pooled, labelled, split, config)
            if run is None:
                return
            with st.spinner("Checking the model did not change…"):
                checked = prove_unchanged(model, labelled.texts, fingerprint_before, before)
            _keep_view(_view(table_key(model_id, labelled), run, "trained", checked))
    except memory.BudgetFull as exc:
        st.warning(str(exc), icon="⏳")
        return
    steps = [s.step for s in run.snapshots]
    st.session_state[STEP] = show_step if show_step in steps else steps[-1]


def run_peak_bytes(pooled: np.ndarray, proof_pass: int, snapshots: int, rank: int) -> int:
    """What training (or loading) a head claims on the ledger: every snapshot's outputs and the 2-D frame
    drawn from them (each as large as `pooled`), the head's weights at every snapshot, and the proof's
    pass over the table (`proof_pass`: `caches.pooled_peak`). Measured on the largest table at rank 64
    and 600 steps: see bench/bench_peaks.py (train_table)."""
    head = 2 * rank * pooled.shape[1] * 4  # down (r, D) and up (D, r), float32
    return int(snapshots * (2 * pooled.nbytes + head) + proof_pass)


def _train_run(pooled: np.ndarray, labelled: LabelledSet, split: Split, config: hd.HeadConfig):
    """Train with a progress bar and a live loss curve; the run, or None (with a message) if it failed."""
    bar = st.progress(0.0, text="Training the head…")
    curve = st.empty()
    snapshots = []
    try:
        for snap in hd.train_head(pooled, labelled.labels, split.train, config):
            snapshots.append(snap)
            bar.progress(snap.step / config.steps, text=f"Training the head… step {snap.step}/{config.steps}")
            curve.altair_chart(
                fc.loss_chart(snap.losses, total_steps=config.steps, classroom=is_classroom()),
                width="stretch",
            )
        return hd.finish_run(labelled, split, config, snapshots)
    except ValueError as exc:
        st.warning(f"The head could not be trained on this table: {escape_markdown(str(exc))}", icon="✍️")
        return None
    finally:
        bar.empty()
        curve.empty()


def current_view(model_id: str, labelled: LabelledSet, split: Split, config: hd.HeadConfig):
    """The trained (or loaded) run for this table, or the untrained preview (step 0 only)."""
    key = table_key(model_id, labelled)
    if st.session_state.get(PENDING) is not None:  # an upload: the model reads its table twice
        rows = len(labelled.texts)
        # a crafted head of 200 rows of 256 word pieces took 61-81 s here with nothing on screen
        with st.spinner(
            f"Loading the head: the model reads its table of {rows} sentences, then reads it again to "
            "prove the model unchanged (up to a minute for 200 long rows)…",
            show_time=True,
        ):
            pooled = pooled_or_stop(model_id, labelled)  # a loaded head waits with its table if no room
            _load_pending(model_id, labelled, pooled, st.session_state.pop(PENDING))
    view = memory.held(RUN)
    if isinstance(view, FineTuneView) and view.key == key:
        return view
    pooled = pooled_or_stop(model_id, labelled)
    first = hd.Snapshot(0, float("nan"), *hd.untrained_preview(pooled, config.rank))
    return _view(key, hd.finish_run(labelled, split, config, [first]), "preview")


def _load_pending(model_id: str, labelled: LabelledSet, pooled: np.ndarray, pending) -> None:
    """Rebuild an uploaded head's picture and prove the model unchanged, claimed like training; what went
    wrong (a head for another model, no room) is said under the upload box."""
    model = cached_model(model_id)
    fingerprint_before = weights_fingerprint(model)
    need = run_peak_bytes(pooled, caches.pooled_peak(model_id, labelled.texts), 2, pending.head.rank)
    try:
        with memory.room(RUN, need, "loading the head"):
            before = caches.computed_pooled(model_id, labelled.texts)  # this machine's bits, not stored ones
            run = head_file.run_from_saved(pending, pooled)
            checked = prove_unchanged(model, labelled.texts, fingerprint_before, before)
            _keep_view(_view(table_key(model_id, labelled), run, "loaded", checked))
    except (ValueError, memory.BudgetFull) as exc:
        st.session_state[UPLOAD_MESSAGE] = ("error", str(exc))
        return
    st.session_state[STEP] = run.snapshots[-1].step


TABLE_RUN = "running the model over the table"


def pooled_or_warning(model_id: str, texts: tuple[str, ...]) -> np.ndarray | None:
    """(S, D) the table's sentence vectors (`caches.cached_pooled`: no token's layers are kept). A forward
    pass first claims its measured peak on the server's memory ledger, waiting for room with a message;
    None, with a warning that says why, if there is none."""
    texts = tuple(texts)
    if caches.pooled_ready(model_id, texts):
        return caches.cached_pooled(model_id, texts)
    try:
        need = caches.pooled_peak(model_id, texts)
        with memory.room(caches.STATES_CLAIM, need, TABLE_RUN), caches.running_model(model_id, texts):
            return caches.cached_pooled(model_id, texts)
    except memory.BudgetFull as exc:
        memory.say_full(exc)
        return None


def pooled_or_stop(model_id: str, labelled: LabelledSet) -> np.ndarray:
    """The table's sentence vectors, their forward pass claimed; with no room, the page says so and stops."""
    pooled = pooled_or_warning(model_id, labelled.texts)
    if pooled is None:
        st.stop()
    return pooled
