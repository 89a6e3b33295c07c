"""The Fine-tune page's share link (receiving one, a long table waiting for a click) and its export bundle."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from explorer import assets, share
from explorer.animation import SweepJob, SweepSettings, snapshot_sweep
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.finetune import head as hd
from explorer.finetune.labelled import MAX_ROWS, LabelledSet, prepare_labelled
from explorer.models import ModelInfo
from explorer.provenance import provenance
from explorer.ui import keys, links, memory, share_menu
from explorer.ui.exports import Exports
from explorer.ui.finetune.keys import LINK_STEP, LR, PRESET, RANK, ROWS, RUN, SEED, STEP, STEPS, TABLE_PART
from explorer.ui.finetune.pack import finetune_pack
from explorer.ui.finetune.table import SEED_MAX, STEP_CHOICES, rows_frame, use_rows
from explorer.ui.finetune.training import FineTuneView, pooled_or_stop
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.state import kept
from explorer.ui.widgets import is_classroom

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
        "labelled_set": LinkField(share.is_one_of(assets.labelled_sets()), PRESET),
        "rows": LinkField(_is_rows),  # the table: applied as a fresh editor
        "model_id": LinkField(share.is_model_id, keys.MODEL_BOX),
        "rank": LinkField(_is_number_in(hd.RANKS, (int,)), RANK),
        "steps": LinkField(_is_number_in(STEP_CHOICES, (int,)), STEPS),
        "lr": LinkField(_is_number_in(hd.LEARNING_RATES, (int, float)), LR),
        "seed": LinkField(share.is_int_between(0, SEED_MAX), SEED),
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
        preset = assets.labelled_sets().get(kept(PRESET, assets.DEFAULT_LABELLED_SET))
        return mine != _pairs(_link_rows(state)) and (preset is None or mine != _pairs(preset.rows))

    state = LINK.receive(user_edited, what="the labelled table you edited")
    if state is None:
        return
    rows = _link_rows(state)
    use_rows(rows_frame(rows))
    texts = prepare_labelled(rows).texts
    if not links.is_light(texts):  # the model reads a long table only on a click
        links.hold(TABLE_PART, texts)
    memory.release(RUN)  # the shared view replaces whatever head was shown
    st.session_state.pop(STEP, None)
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
        reasons = [f"runs the model over {links.size_of(labelled.texts)} in {len(labelled.texts)} rows"]
        notice = links.ask_to_run("show this table at step 0", reasons)
        if notice is None:
            st.stop()
    pooled_or_stop(model_id, labelled)
    links.lift(TABLE_PART)
    if notice is not None:
        notice.empty()


def view_state(model_id: str, view: FineTuneView, step: int) -> dict:
    """This page's view as a share-link state: the table, the settings of the run shown, the step."""
    config = view.run.config
    labelled = view.run.labelled
    return {
        "labelled_set": kept(PRESET, assets.DEFAULT_LABELLED_SET),
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

    def bundle() -> bytes:
        return export_bundle(view, chart, step, state, info)

    trained = len(view.run.snapshots) > 1  # an untrained preview has one picture: nothing to animate
    pack, needs = finetune_pack(view, step, state, info, is_classroom())
    sweep = _training_sweep(view, state, info) if trained else None
    share_menu.share_and_export(
        state, Exports(bundle, sweep=sweep, lesson_pack=pack, pack_needs=needs), "fine_tune.zip"
    )


def _training_sweep(
    view: FineTuneView, state: dict, info: ModelInfo
) -> Callable[[str, SweepSettings], SweepJob]:
    """The animated export of the run shown: the sentences from the model's own geometry to the tuned head."""
    classroom = is_classroom()
    settings_shown = {k: v for k, v in state.items() if k not in ("rows", "model_id")}

    def sweep(link: str, settings: SweepSettings) -> SweepJob:
        prov = provenance("Fine-tune", info, list(view.run.labelled.texts), settings_shown, link)
        return snapshot_sweep(
            view.frame, settings, f"Fine-tune · {info.display_name}", prov, "fine_tune", classroom
        )

    return sweep
