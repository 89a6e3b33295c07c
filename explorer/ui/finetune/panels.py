"""What the Fine-tune page draws of a view: its layout, the snapshot chart, scores, proof, head files."""

from __future__ import annotations

import time

import altair as alt
import numpy as np
import streamlit as st

from explorer.charts import finetune as fc
from explorer.finetune import head as hd
from explorer.finetune import head_file
from explorer.inputs import escape_markdown
from explorer.ui import lessons, widgets
from explorer.ui.finetune.keys import LR, PENDING, RANK, SEED, STEP, STEPS, UPLOAD, UPLOAD_MESSAGE
from explorer.ui.finetune.table import SEED_MAX, STEP_CHOICES, rows_frame, use_rows
from explorer.ui.finetune.training import FineTuneView
from explorer.ui.state import set_value
from explorer.ui.widgets import is_classroom

SNAPSHOT_ALT = (
    "Scatter of every labelled sentence through the head at the training step shown, coloured by label; "
    "held-out sentences are triangles. The Training step slider moves through training."
)
PLAY_SECONDS_PER_SNAPSHOT = 0.12
PRESENTER_SNAPSHOT_HEIGHT = 300  # under the title, the button row and the step slider in 1280 x 720
LESSON_SNAPSHOT_HEIGHT = 230  # under a lesson's card in 1280 x 720, Train and the step slider beside it
STEP_HINT = (
    "This is step 0: the model's own embeddings. Press **Train the head** and watch same-label sentences "
    "pull together."
)


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
        if st.session_state.get(STEP) not in steps:
            st.session_state[STEP] = steps[-1]
        left, right = st.columns([5, 1]) if controls is None else (controls, controls)
        left.select_slider("Training step", steps, key=STEP)
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
        st.session_state.pop(STEP, None)  # the slider restarts at the last step
        st.rerun()
    shown = int(st.session_state.get(STEP, steps[-1])) if len(steps) > 1 else steps[0]
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
        step = int(st.session_state.get(STEP, 0))
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
            f"**Base model fingerprint** before training: `{proof.fingerprint_before}`; after training: "
            f"🔒 {lessons.WHEN_REVEALED}."
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


def _on_upload(dim: int | None = None) -> None:
    """Read an uploaded head (checked against the model's embedding size `dim`) or say what is wrong."""
    uploaded = st.session_state.get(UPLOAD)
    if uploaded is None:
        return
    try:
        saved = head_file.head_from_bytes(uploaded.getvalue(), dim=dim)
    except ValueError as exc:
        st.session_state[UPLOAD_MESSAGE] = ("error", str(exc))
        return
    use_rows(rows_frame(zip(saved.labelled.texts, saved.labelled.labels, strict=True)))
    for key, value, allowed in (
        (RANK, saved.config.rank, hd.RANKS),
        (LR, saved.config.lr, hd.LEARNING_RATES),
        (STEPS, saved.config.steps, STEP_CHOICES),
    ):
        if value in allowed:
            set_value(key, value)
    if 0 <= saved.config.seed <= SEED_MAX:
        set_value(SEED, saved.config.seed)
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
            "Load a head", type=["zip"], key=UPLOAD, on_change=_on_upload, max_upload_size=5,
            args=(int(view.run.snapshots[0].outputs.shape[1]),),
            help="A head.zip downloaded from this page: restores its table and its picture.",
        )  # fmt: skip
    message = st.session_state.pop(UPLOAD_MESSAGE, None)
    if message is not None:
        (st.error if message[0] == "error" else st.success)(escape_markdown(message[1]))
