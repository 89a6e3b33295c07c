"""Streamlit side of the Fine-tune page's head: the labelled table, training with progress, the snapshot
view, the proof beside the button, saving/loading a head, and the page's link and export bundle.
(Tuning a private copy is `ui.tuning`.)

Everything a person builds here (their table, the trained head and its snapshots) lives in
st.session_state, so it belongs to that person only. The cached model is never modified.

Why one module of ~580 lines: every function here reads or writes the same few session keys (the
table, its version, the run); split, each part would import the others' keys and private helpers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer import assets, share
from explorer.charts import finetune as fc
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.finetune import head as hd
from explorer.finetune import head_file
from explorer.finetune.labelled import MAX_ROWS, LabelledSet, Split, prepare_labelled, stratified_split
from explorer.finetune.proof import FrozenProof, prove_unchanged
from explorer.inputs import escape_markdown
from explorer.models import ModelInfo, weights_fingerprint
from explorer.ui import caches, links, memory, share_menu, widgets
from explorer.ui.caches import cached_model
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.state import kept, persisted, remember, set_value
from explorer.ui.widgets import is_classroom

RUN = "ft_run"
TUNED = "ft_tuned"
SNAPSHOT_ALT = (
    "Scatter of every labelled sentence through the head at the training step shown, coloured by label; "
    "held-out sentences are triangles. The Training step slider moves through training."
)
PENDING = "ft_pending_head"
UPLOAD_MESSAGE = "ft_upload_message"
ROWS = "ft_rows"
BASE = "ft_base"
VERSION = "ft_table_version"
LINK_STEP = "ft_link_step"
TABLE_PART = "table"  # a link's long table: held (see links.hold) until Train or the notice's button
PLAY_SECONDS_PER_SNAPSHOT = 0.12
SEED_MAX = 9999
STEP_CHOICES = range(10, 601, 10)  # the Steps slider's values


@dataclass(frozen=True)
class FineTuneView:
    """What the page draws: a run (or the untrained preview), its 2-D frame, and the proof."""

    key: tuple
    run: hd.HeadRun
    frame: pd.DataFrame
    source: str  # "preview", "trained" or "loaded"
    proof: FrozenProof | None = None


# ---------------------------------------------------------------- the labelled table
def _rows_frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"text": t, "label": lab} for t, lab in rows], columns=["text", "label"])


def _use_rows(frame: pd.DataFrame) -> None:
    """Replace the table (a preset or a loaded head): a fresh editor starts from these rows."""
    st.session_state[ROWS] = frame
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def _load_preset() -> None:
    remember("ft_preset")
    _use_rows(_rows_frame(assets.labelled_set(st.session_state["ft_preset"]).rows))


def labelled_editor() -> LabelledSet:
    """Preset picker and the editable (text, label) table; shows notices or what is missing."""
    persisted("ft_preset", assets.DEFAULT_LABELLED_SET)
    if ROWS not in st.session_state:
        _use_rows(_rows_frame(assets.labelled_set(st.session_state["ft_preset"]).rows))
    st.selectbox(
        "Labelled set", list(assets.labelled_sets()), key="ft_preset", on_change=_load_preset,
        help="Picking a set replaces the table below.",
    )  # fmt: skip
    preset = assets.labelled_sets().get(st.session_state["ft_preset"])
    if preset is not None:
        st.caption(preset.about)
    key = f"ft_table_{st.session_state[VERSION]}"
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
    with st.expander("Held-out sentences"):
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
    for key, value in (("ft_rank", defaults.rank), ("ft_steps", defaults.steps), ("ft_lr", defaults.lr)):
        persisted(key, value)
    persisted("ft_seed", defaults.seed)
    with st.expander("Training settings"):
        st.select_slider(
            "Head size (rank)", list(hd.RANKS), key="ft_rank", on_change=remember, args=("ft_rank",),
            help="Width of the head's bottleneck: y = x + B·(A·x), A is rank × 384.",
        )  # fmt: skip
        st.slider(
            "Steps",
            STEP_CHOICES.start,
            STEP_CHOICES[-1],
            step=STEP_CHOICES.step,
            key="ft_steps",
            on_change=remember,
            args=("ft_steps",),
        )
        st.select_slider(
            "Learning rate", list(hd.LEARNING_RATES), key="ft_lr", on_change=remember, args=("ft_lr",)
        )
        st.number_input(
            "Seed", 0, SEED_MAX, key="ft_seed", on_change=remember, args=("ft_seed",),
            help="Same seed and table, same head, same picture.",
        )  # fmt: skip
    return hd.HeadConfig(
        rank=int(st.session_state["ft_rank"]),
        steps=int(st.session_state["ft_steps"]),
        lr=float(st.session_state["ft_lr"]),
        seed=int(st.session_state["ft_seed"]),
    )


# ---------------------------------------------------------------- training and the current view
def table_key(model_id: str, labelled: LabelledSet) -> tuple:
    return (model_id, labelled.texts, labelled.labels)


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
            run = _train_run(pooled, labelled, split, config)
            if run is None:
                return
            with st.spinner("Checking the model did not change…"):
                checked = prove_unchanged(model, labelled.texts, fingerprint_before, pooled)
            _keep_view(_view(table_key(model_id, labelled), run, "trained", checked))
    except memory.BudgetFull as exc:
        st.warning(str(exc), icon="⏳")
        return
    steps = [s.step for s in run.snapshots]
    st.session_state["ft_step"] = show_step if show_step in steps else steps[-1]


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
    if st.session_state.get(PENDING) is not None:
        pooled = _pooled_or_stop(model_id, labelled)  # a loaded head waits with its table if no room
        _load_pending(model_id, labelled, pooled, st.session_state.pop(PENDING))
    view = memory.held(RUN)
    if isinstance(view, FineTuneView) and view.key == key:
        return view
    pooled = _pooled_or_stop(model_id, labelled)
    start = hd.identity_head(pooled.shape[1], config.rank, config.seed)
    first = hd.Snapshot(0, float("nan"), hd.apply_head(start, pooled), start, ())
    return _view(key, hd.finish_run(labelled, split, config, [first]), "preview")


def _load_pending(model_id: str, labelled: LabelledSet, pooled: np.ndarray, pending) -> None:
    """Rebuild an uploaded head's picture and prove the model unchanged, claimed like training; what went
    wrong (a head for another model, no room) is said under the upload box."""
    model = cached_model(model_id)
    fingerprint_before = weights_fingerprint(model)
    need = run_peak_bytes(pooled, caches.pooled_peak(model_id, labelled.texts), 2, pending.head.rank)
    try:
        with memory.room(RUN, need, "loading the head"):
            run = head_file.run_from_saved(pending, pooled)
            checked = prove_unchanged(model, labelled.texts, fingerprint_before, pooled)
            _keep_view(_view(table_key(model_id, labelled), run, "loaded", checked))
    except (ValueError, memory.BudgetFull) as exc:
        st.session_state[UPLOAD_MESSAGE] = ("error", str(exc))
        return
    st.session_state["ft_step"] = run.snapshots[-1].step


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
        with memory.room(caches.STATES_CLAIM, need, TABLE_RUN), caches.running_model(model_id, len(texts)):
            return caches.cached_pooled(model_id, texts)
    except memory.BudgetFull as exc:
        st.warning(f"{exc} Fewer or shorter sentences need less.", icon="⏳")
        return None


def _pooled_or_stop(model_id: str, labelled: LabelledSet) -> np.ndarray:
    """The table's sentence vectors, their forward pass claimed; with no room, the page says so and stops."""
    pooled = pooled_or_warning(model_id, labelled.texts)
    if pooled is None:
        st.stop()
    return pooled


def _snapshot_caption(view: FineTuneView, step: int) -> str:
    n_labels = len(view.run.labelled.classes)
    where = (
        "the model's own embeddings (the head is still the identity)" if step == 0 else "the head's output"
    )
    return (
        f"**Step {step}** · each point is one sentence: {where}, scaled to unit length and drawn on the first "
        f"two principal axes of step 0, fixed for every step. Colour = label ({n_labels} labels), ● = train, "
        "▲ = held out; a faint line joins each point to where it started."
    )


PRESENTER_SNAPSHOT_HEIGHT = 300  # under the title, the button row and the step slider in 1280 x 720
LESSON_SNAPSHOT_HEIGHT = 230  # under a lesson's card in 1280 x 720, Train and the step slider beside it
STEP_HINT = (
    "This is step 0: the model's own embeddings. Press **Train the head** and watch same-label sentences "
    "pull together."
)


def stage(presenter: bool, label: str, compact: bool = False):
    """Where the page's parts go (`widgets.Stage`), and where the fingerprint line and the step slider go
    when they sit beside the picture (else None).

    `compact` (a lesson's card is on top of the presenter view): the picture starts right under the card,
    and beside it, from the top: Train, the fingerprint line and the step slider, then the inputs and the
    share menu; so the card, the button, the picture and the verdict share the first screen. Otherwise
    `widgets.settings_and_stage`."""
    if not compact:
        return widgets.settings_and_stage(presenter, label, [1.15, 1.6]), None
    picture, column = st.columns([2.4, 1], gap="medium")
    action, beside, rest = column.container(), column.container(), column.container()
    return widgets.Stage(rest.popover(label, width="stretch"), picture, action, rest), beside


def head_view(
    view: FineTuneView, fingerprint_now: str, presenter: bool = False, verdict: bool = True, beside=None
) -> tuple[int, alt.TopLevelMixin]:
    """Under the Train button: the fingerprint line, the step slider and the snapshot chart. With `beside`
    (see `stage`): the fingerprint line and the slider go there, the chart is shorter and there is no
    step-0 hint (the lesson's card says what to do). Returns the step shown and its chart."""
    if beside is None:
        proof_line(view, fingerprint_now, verdict)
        if view.source == "preview":
            st.info(STEP_HINT, icon="👆")
        return snapshot_view(view, PRESENTER_SNAPSHOT_HEIGHT if presenter else fc.SNAPSHOT_HEIGHT)
    with beside:
        proof_line(view, fingerprint_now, verdict)
    return snapshot_view(view, LESSON_SNAPSHOT_HEIGHT, controls=beside)


def snapshot_view(
    view: FineTuneView, height: int = fc.SNAPSHOT_HEIGHT, controls=None
) -> tuple[int, alt.TopLevelMixin]:
    """Step slider and Play over the snapshots, the 2-D chart on fixed axes and its caption. With
    `controls` (a column beside the chart) the slider and Play go there and the chart is a compact one.

    Returns the step shown and its chart (for the share link and the export bundle).
    """
    steps = [s.step for s in view.run.snapshots]
    if len(steps) > 1:
        if st.session_state.get("ft_step") not in steps:
            st.session_state["ft_step"] = steps[-1]
        left, right = st.columns([5, 1]) if controls is None else (controls, controls)
        left.select_slider("Training step", steps, key="ft_step")
        if controls is None:
            right.write("")  # level with the slider's track
        play = right.button("▶ Play", help="Replay training from step 0.", width="stretch")
    else:
        play = False
    chart_slot, caption_slot = st.empty(), st.empty()

    def draw(step: int) -> alt.TopLevelMixin:
        chart = fc.snapshot_chart(
            view.frame, step, height=height, classroom=is_classroom(), compact=controls is not None
        )
        chart_slot.altair_chart(chart, width="stretch", alt=SNAPSHOT_ALT)
        caption_slot.caption(_snapshot_caption(view, step))
        return chart

    if play:
        for step in steps:
            draw(step)
            time.sleep(PLAY_SECONDS_PER_SNAPSHOT)
        st.session_state.pop("ft_step", None)  # the slider restarts at the last step
        st.rerun()
    shown = int(st.session_state.get("ft_step", steps[-1])) if len(steps) > 1 else steps[0]
    return shown, draw(shown)


def _delta(change: float, percent: bool = False) -> str | None:
    """A metric's change since step 0, or None when it cannot be measured (e.g. nothing held out)."""
    if np.isnan(change):
        return None
    return f"{change:+.0%} vs step 0" if percent else f"{change:+.2f} vs step 0"


def separation_panel(view: FineTuneView) -> None:
    """Held-out nearest-neighbour accuracy and silhouette, before vs after training."""
    run = view.run
    trained = len(run.snapshots) > 1
    cols = st.columns(2)
    before, after = run.before, run.after
    cols[0].metric(
        "Held-out accuracy",
        widgets.score_text(after.nn_accuracy if trained else before.nn_accuracy, percent=True),
        delta=_delta(after.nn_accuracy - before.nn_accuracy, percent=True) if trained else None,
        help="Each held-out sentence takes the label of its nearest (cosine) training sentence: how often is it right?",
    )
    cols[1].metric(
        "Silhouette",
        widgets.score_text(after.silhouette if trained else before.silhouette),
        delta=_delta(after.silhouette - before.silhouette) if trained else None,
        help="From −1 to 1: high when each sentence is closer to its own label than to the nearest other.",
    )
    if trained:
        step = int(st.session_state.get("ft_step", 0))
        st.altair_chart(
            fc.loss_chart(run.losses, step, classroom=is_classroom()),
            width="stretch",
            alt=f"Line chart of the training loss at every step, from {run.losses[0]:.2f} to {run.losses[-1]:.2f}.",
        )
        c = run.config
        st.caption(
            f"Loss at every step (supervised contrastive: same label pulls together, others push apart). "
            f"Head rank {c.rank} · {c.steps} steps · learning rate {c.lr:g} · seed {c.seed}"
            f"{' · loaded from a file' if view.source == 'loaded' else ''}."
        )


def proof_line(view: FineTuneView, fingerprint_now: str, verdict: bool = True) -> None:
    """Next to the Train button: the base model's fingerprint before → after training, in one line
    (without saying 'identical' when a lesson asks for a prediction first)."""
    proof = view.proof
    if proof is None:
        st.caption(
            f"Base model fingerprint now: `{fingerprint_now}`. Train the head to compare it before and after."
        )
        return
    if not verdict:
        st.markdown(
            f"**Base model fingerprint** before → after training: `{proof.fingerprint_before}` → "
            f"`{proof.fingerprint_after}`. Compare them, then reveal the answer."
        )
        return
    same = "✅ identical" if proof.unchanged else "❌ CHANGED (a bug)"
    st.markdown(
        f"**Base model fingerprint** before → after training: `{proof.fingerprint_before}` → "
        f"`{proof.fingerprint_after}` {same}; embeddings "
        + (
            "identical bit for bit."
            if proof.embeddings_identical
            else f"changed by {proof.max_embedding_change:.2g}."
        )
    )


def proof_panel(view: FineTuneView, fingerprint_now: str, verdict: bool = True) -> None:
    """'The head changed, the model did not': fingerprints and embeddings before vs after."""
    if not verdict:
        return  # the line beside the Train button shows both fingerprints; the verdict waits for Reveal
    proof = view.proof
    if proof is None:  # nothing trained yet: the line beside the Train button says what will be compared
        return
    with st.container(border=True):
        st.markdown("##### Proof: the head changed, the model did not")
        cols = st.columns(3)
        widgets.big_stat(cols[0], "Model fingerprint before", f"`{proof.fingerprint_before}`")
        widgets.big_stat(cols[1], "Model fingerprint after", f"`{proof.fingerprint_after}`")
        widgets.big_stat(
            cols[2],
            "Embeddings re-computed after",
            "identical" if proof.embeddings_identical else f"changed by {proof.max_embedding_change:.2g}",
        )
        up = float(np.linalg.norm(view.run.head.up))
        if proof.unchanged:
            st.success(
                f"Same weights (`{proof.fingerprint_after}`), same embeddings bit for bit. Only the head "
                f"learned: its B matrix grew from 0 to size {up:.2f}.",
                icon="✅",
            )
        else:
            st.error("The model or its embeddings changed during training. This should never happen.")


# ---------------------------------------------------------------- saving and loading the head
def _on_upload(dim: int | None = None) -> None:
    """Read an uploaded head (checked against the model's embedding size `dim`) or say what is wrong."""
    uploaded = st.session_state.get("ft_upload")
    if uploaded is None:
        return
    try:
        saved = head_file.head_from_bytes(uploaded.getvalue(), dim=dim)
    except ValueError as exc:
        st.session_state[UPLOAD_MESSAGE] = ("error", str(exc))
        return
    _use_rows(_rows_frame(zip(saved.labelled.texts, saved.labelled.labels, strict=True)))
    for key, value, allowed in (
        ("ft_rank", saved.config.rank, hd.RANKS),
        ("ft_lr", saved.config.lr, hd.LEARNING_RATES),
        ("ft_steps", saved.config.steps, STEP_CHOICES),
    ):
        if value in allowed:
            set_value(key, value)
    if 0 <= saved.config.seed <= SEED_MAX:
        set_value("ft_seed", saved.config.seed)
    st.session_state[PENDING] = saved
    st.session_state[UPLOAD_MESSAGE] = ("success", f"Loaded a rank-{saved.config.rank} head and its table.")


def head_files(view: FineTuneView, model_id: str, fingerprint: str) -> None:
    """Download the trained head (zip: weights + JSON) and load one back."""
    cols = st.columns([1, 2], gap="large")
    with cols[0]:
        if len(view.run.snapshots) > 1:
            st.download_button(
                "⬇ Download head (.zip)", head_file.head_to_bytes(view.run, model_id, fingerprint),
                file_name="head.zip", mime="application/zip", on_click="ignore",
                help="head.safetensors (weights) + head.json (settings, sentences, split, loss curve).",
            )  # fmt: skip
        else:
            st.caption("Train a head to download it.")
    with cols[1]:
        st.file_uploader(
            "Load a head", type=["zip"], key="ft_upload", on_change=_on_upload, max_upload_size=5,
            args=(int(view.run.snapshots[0].outputs.shape[1]),),
            help="A head.zip downloaded from this page: restores its table and its picture.",
        )  # fmt: skip
    message = st.session_state.pop(UPLOAD_MESSAGE, None)
    if message is not None:
        (st.error if message[0] == "error" else st.success)(escape_markdown(message[1]))


# ---------------------------------------------------------------- share links and the export bundle
MAX_LINK_CELL_CHARS = 1000


def _is_rows(value: object) -> bool:
    """A list of [text, label] pairs of short strings, at most MAX_ROWS of them."""
    return (
        isinstance(value, list)
        and 0 < len(value) <= MAX_ROWS
        and all(
            isinstance(row, list)
            and len(row) == 2
            and all(isinstance(cell, str) and len(cell) <= MAX_LINK_CELL_CHARS for cell in row)
            for row in value
        )
    )


def _is_number_in(options, kinds: tuple[type, ...]) -> share.Validator:
    allowed = set(options)
    return lambda v: isinstance(v, kinds) and not isinstance(v, bool) and v in allowed


LINK = LinkSpec(
    {
        "labelled_set": LinkField(share.is_one_of(assets.labelled_sets()), "ft_preset"),
        "rows": LinkField(_is_rows),  # the table: applied as a fresh editor
        "model_id": LinkField(share.is_model_id, links.MODEL_BOX),
        "rank": LinkField(_is_number_in(hd.RANKS, (int,)), "ft_rank"),
        "steps": LinkField(_is_number_in(STEP_CHOICES, (int,)), "ft_steps"),
        "lr": LinkField(_is_number_in(hd.LEARNING_RATES, (int, float)), "ft_lr"),
        "seed": LinkField(share.is_int_between(0, SEED_MAX), "ft_seed"),
        "trained": LinkField(share.is_bool),  # re-train on open (seeded: the same head)
        "step": LinkField(share.is_int_between(0, STEP_CHOICES[-1])),  # the snapshot shown
    }
)


def _pairs(rows) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A table as the (texts, labels) the page would train on: blank rows and stray spaces ignored."""
    if isinstance(rows, pd.DataFrame):
        rows = rows[["text", "label"]].itertuples(index=False, name=None)
    labelled = prepare_labelled(rows)
    return labelled.texts, labelled.labels


def _link_rows(state: dict) -> list[tuple[str, str]]:
    """A link carries its rows; one without rows means its labelled set as shipped."""
    if "rows" in state:
        return [(text, label) for text, label in state["rows"]]
    return list(assets.labelled_set(state.get("labelled_set", assets.DEFAULT_LABELLED_SET)).rows)


def receive_link() -> None:
    """Apply a shared view from the URL before any widget is drawn (asking first if it would replace
    a table this user edited). A trained view is re-trained: training is seeded, so it is the same head."""

    def user_edited(state: dict) -> bool:
        current = st.session_state.get(ROWS)
        if current is None:
            return False
        mine = _pairs(current)
        preset = assets.labelled_sets().get(kept("ft_preset", assets.DEFAULT_LABELLED_SET))
        return mine != _pairs(_link_rows(state)) and (preset is None or mine != _pairs(preset.rows))

    state = LINK.receive(user_edited, what="the labelled table you edited")
    if state is None:
        return
    rows = _link_rows(state)
    _use_rows(_rows_frame(rows))
    texts = prepare_labelled(rows).texts
    if sum(map(len, texts)) > links.LIGHT_LINK_CHARS:  # the model reads a long table only on a click
        links.hold(TABLE_PART, texts)
    memory.release(RUN)  # the shared view replaces whatever head was shown
    st.session_state.pop("ft_step", None)
    if state.get("trained") and prepare_labelled(rows).error is None:
        st.session_state[LINK_STEP] = int(state.get("step", 10**6))


def linked_training(train: bool) -> int | None:
    """A link of a trained view asks for its head to be trained again, but heavy work waits for a click:
    until Train is pressed this says so; on the click it returns the step the link showed (else None)."""
    if train:
        return st.session_state.pop(LINK_STEP, None)
    step = st.session_state.get(LINK_STEP)
    if step is not None:
        st.info(
            "This link shows a trained head. Press **Train the head** to train it again here: the same "
            "table, settings and seed give the same result, and the view opens at the linked step.",
            icon="👆",
        )
    return None


def wait_for_click(model_id: str, train: bool, labelled: LabelledSet) -> None:
    """A link's long table waits for a click before the model reads it: pressing Train is one, and so is
    the notice's own button. Stops the page while it waits, or while the server has no room for the
    model's run (the table then still waits); editing the table lifts the hold."""
    if not links.holding(TABLE_PART, labelled.texts):
        return
    notice = None
    if not train:
        chars = sum(map(len, labelled.texts))
        reasons = [f"runs the model over {chars:,} characters in {len(labelled.texts)} rows"]
        notice = links.ask_to_run("show this table at step 0", reasons)
        if notice is None:
            st.stop()
    _pooled_or_stop(model_id, labelled)
    links.lift(TABLE_PART)
    if notice is not None:
        notice.empty()


def view_state(model_id: str, view: FineTuneView, step: int) -> dict:
    """This page's view as a share-link state: the table, the settings of the run shown, the step."""
    config = view.run.config
    labelled = view.run.labelled
    return {
        "labelled_set": kept("ft_preset", assets.DEFAULT_LABELLED_SET),
        "rows": [[text, label] for text, label in zip(labelled.texts, labelled.labels, strict=True)],
        "model_id": model_id,
        "rank": config.rank,
        "steps": config.steps,
        "lr": config.lr,
        "seed": config.seed,
        "trained": len(view.run.snapshots) > 1,
        "step": step,
    }


def export_bundle(view: FineTuneView, chart, step: int, state: dict, info: ModelInfo) -> bytes:
    """ZIP: the 2-D coordinates shown, base embeddings and head outputs at that step (NPZ with the table),
    the chart (HTML/PNG/SVG) and a manifest (model, fingerprint, settings, seed)."""
    run = view.run
    snapshot = next((s for s in run.snapshots if s.step == step), None)
    if snapshot is None:
        raise ValueError(f"No snapshot at step {step}. Valid steps: {[s.step for s in run.snapshots]}")
    texts = list(run.labelled.texts)
    coords = view.frame[view.frame["step"] == step].reset_index(drop=True)
    coords = coords.assign(text=[texts[i] for i in coords["row"]])
    held = set(run.split.held_out)
    split = ["held out" if i in held else "train" for i in range(len(texts))]
    table = pd.DataFrame({"text": texts, "label": list(run.labelled.labels), "split": split})
    vectors = {
        "base_embeddings": run.snapshots[0].outputs,  # (S, D): step 0, the head is the identity
        "head_outputs": snapshot.outputs,  # (S, D) at the step shown
        "head_down": snapshot.head.down,  # (r, D)
        "head_up": snapshot.head.up,  # (D, r)
        "held_out": np.asarray(run.split.held_out, dtype=np.int64),
        **table_arrays(table, prefix="sentence_"),
    }
    config = run.config
    manifest = {
        **base_manifest("Fine-tune", info, config.seed, {k: v for k, v in state.items() if k != "rows"}),
        "head": {
            "rank": config.rank,
            "steps": config.steps,
            "lr": config.lr,
            "temperature": config.temperature,
        },
        "step_shown": step,
        "source": view.source,
        "separation": {
            "before": {
                "nn_accuracy": _number(run.before.nn_accuracy),
                "silhouette": _number(run.before.silhouette),
            },
            "after": {
                "nn_accuracy": _number(run.after.nn_accuracy),
                "silhouette": _number(run.after.silhouette),
            },
        },
        "how_to_reproduce": "pooled = explorer.states.pooled_vectors(load_model(model_id), texts) (the same bits "
        "as extract_states(...).pooled); "
        "split = explorer.finetune.labelled.stratified_split(labels, seed=seed); snapshots = "
        "explorer.finetune.head.train_head(pooled, "
        "labels, split.train, HeadConfig(rank, steps, lr, seed)); the 2-D axes are "
        "explorer.charts.finetune.fixed_axes(step-0 outputs).",
    }
    return build_bundle(coords, vectors, chart, manifest)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def share_panel(model_id: str, view: FineTuneView, step: int, chart, info: ModelInfo) -> None:
    """The "Share or export" popover for the view shown."""
    state = view_state(model_id, view, step)
    share_menu.share_and_export(state, lambda: export_bundle(view, chart, step, state, info), "fine_tune.zip")
