"""Fine-tune's lesson packs: what the page shows after the visitor's own run (the head's training, or the
private copy's tuning), never a run of its own. With no run yet, the share menu says what to do first.

The chart is the page's picture as it stands before Reveal (the head's last training step; the tuned
copy's tokens with their Layer slider). What these lessons hide is a verdict, in the answer's measured
line (an inert template until Reveal), and the moves per layer, drawn under the picture after Reveal."""

from __future__ import annotations

from typing import Any

from explorer.charts import finetune as fc
from explorer.charts.layer_slider import without_play_input
from explorer.export import chart_spec
from explorer.lesson_pack import PackChart
from explorer.models import ModelInfo
from explorer.ui import lessons, memory
from explorer.ui.finetune.keys import TUNED
from explorer.ui.finetune.table import table_key
from explorer.ui.finetune.training import FineTuneView
from explorer.ui.lesson_packs import FINETUNE_PAGE, PackMaker, made_pack, pack_settings
from explorer.ui.lessons import WHEN_REVEALED, Measured

TRAIN_FIRST = "Train the head first (🎯 Train the head): the pack shows your run, with its fingerprints."
TUNE_FIRST = (
    "Tune a private copy first (section 3, 'Tune a private copy'): the pack shows your copy's tokens at "
    "every layer and how far they moved."
)
HEAD_CAPTION = (
    "Each dot is one labelled sentence through the head after your training, on the axes of the model's "
    "own geometry (step 0); faint lines lead back to where each started."
)
TUNED_CAPTION = (
    "Each token of your sentences through the base model (grey ring) and your tuned copy (dot, coloured by "
    "label), on one pair of axes per layer; the line is how it moved. Drag the Layer slider."
)
PICTURE_HEIGHT = 330  # with the slider and the bars, about one 1280 x 720 screen
VERDICT_WAIT = f"🎓 The base model's fingerprint after training {WHEN_REVEALED}."
MOVES_WAIT = (
    f"🎓 How far the tokens moved at each layer, and the shared model's fingerprint: each {WHEN_REVEALED}."
)


def _tuned(view: FineTuneView, model_id: str) -> tuple[Any, Any] | None:
    """The private copy tuned on the table shown and its picture's frame (None: not tuned on it)."""
    stored = memory.held(TUNED)
    if stored is None or stored[0] != table_key(model_id, view.run.labelled):
        return None
    return stored[1], stored[2]


def head_verdict(view: FineTuneView) -> Measured:
    """The head lesson's answer as the page's verdict states it: the base model's fingerprint before and
    after the visitor's training, and whether its embeddings moved."""
    proof = view.proof
    same = "identical" if proof.unchanged else "CHANGED (a bug)"
    embeddings = "identical bit for bit" if proof.embeddings_identical else "changed"
    return Measured(
        f"base model fingerprint before → after your training: {proof.fingerprint_before} → "
        f"{proof.fingerprint_after}, {same}; its embeddings {embeddings}",
        "no" if proof.unchanged else "yes",
    )


def tuned_moves(tuned: Any, names: list[str]) -> Measured:
    """The tuning lesson's answer as the page's bars and proof line state it: the mean move per layer and
    the shared model's fingerprint before → after."""
    moves = tuned.moved.mean(axis=1)  # (L+1,) mean over tokens
    per_layer = ", ".join(f"{name}: {m:.3g}" for name, m in zip(names, moves, strict=True))
    moved = [i for i, m in enumerate(moves) if m > 0]
    option = (
        "no layer" if not moved else "every layer" if len(moved) == len(moves) else "only the tuned top layer"
    )
    same = "identical" if tuned.shared_fingerprint_after == tuned.fingerprint_before else "CHANGED (a bug)"
    return Measured(
        f"mean move per layer ({per_layer}); tuned layers {', '.join(map(str, tuned.tuned_layers))}; shared "
        f"model's fingerprint {tuned.fingerprint_before} → {tuned.shared_fingerprint_after}, {same}",
        option,
    )


def finetune_pack(
    view: FineTuneView, step: int, state: dict[str, Any], info: ModelInfo, classroom: bool
) -> tuple[PackMaker | None, str | None]:
    """The running Fine-tune lesson's pack, or what to do first: (maker, None) after the visitor's run,
    (None, what to do) before it, (None, None) with no lesson running."""
    lesson = lessons.active(FINETUNE_PAGE)
    if lesson is None:
        return None, None
    settings = pack_settings({k: v for k, v in state.items() if k != "rows"})
    texts = list(view.run.labelled.texts)
    if "movement" in lesson.hides:
        if _tuned(view, info.model_id) is None:
            return None, TUNE_FIRST

        def chart() -> PackChart:
            tuned, frame = _tuned(view, info.model_id)

            def spec_of(moves: bool) -> dict:  # the layer title's mean move waits for Reveal
                picture = fc.tuning_chart(
                    frame, min(tuned.tuned_layers), height=PICTURE_HEIGHT, classroom=classroom, moves=moves
                )
                return chart_spec(without_play_input(picture))

            names = tuple(str(n) for n in dict.fromkeys(frame["layer_name"]))
            bars = fc.movement_chart(
                names, tuned.moved.mean(axis=1), tuned.cka, tuned.tuned_layers, classroom=classroom
            )
            return PackChart(
                spec_of(False), spec_of(True), names, TUNED_CAPTION, MOVES_WAIT,
                "Scatter of tokens through the base model and the tuned copy, one layer at a time.",
                more=chart_spec(bars), more_description="Bar chart of the mean move of a token at each layer.",
            )  # fmt: skip

        def measure(_lesson) -> Measured:
            tuned, frame = _tuned(view, info.model_id)
            return tuned_moves(tuned, [str(n) for n in dict.fromkeys(frame["layer_name"])])

    else:
        if view.proof is None:
            return None, TRAIN_FIRST

        def chart() -> PackChart:
            spec = chart_spec(fc.snapshot_chart(view.frame, step, classroom=classroom))
            return PackChart(spec, spec, (), HEAD_CAPTION, VERDICT_WAIT, "Scatter of the labelled sentences.")

        def measure(_lesson) -> Measured:
            return head_verdict(view)

    def make(link: str) -> tuple[str, bytes]:
        return made_pack(lesson, "Fine-tune", chart, measure, texts, settings, info, link, 16 * 2**20)

    return make, None
