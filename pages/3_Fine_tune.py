"""Fine-tune: train a tiny head on frozen embeddings, watch the geometry shift, prove the model did not."""

from __future__ import annotations

import streamlit as st

from explorer.ui import caches, finetune, lessons, tuning, widgets
from explorer.ui.frame import open_page

PAGE = "pages/3_Fine_tune.py"
SETTINGS = "⚙️ Labelled sentences and settings"


def run_page() -> None:
    """The page, in a function so its locals die with the run (see the Sentence embedding page)."""
    frame = open_page(
        PAGE, "Fine-tune", "🎛️", "Fine-tune",
        "Put a tiny trainable head on top of the model's sentence embeddings and teach it your labels: the "
        "head's outputs move while the model stays bit-identical, so its latent space does not change. Then "
        "tune the top layers of a private copy: that copy's latent space moves, and only there.",
        finetune.receive_link,
    )  # fmt: skip
    info, presenter, lesson_running = frame.info, frame.presenter, frame.lesson_running
    lessons.lesson_card(PAGE)
    compact = presenter and lesson_running  # the card is on top: what answers it shares the first screen
    tuning_first = st.container() if tuning.leads(PAGE) else None  # a lesson about tuning: its section first

    stage, beside = finetune.stage(presenter, SETTINGS, compact)  # compact: Train beside the picture
    with stage.settings:
        st.subheader("1 · Label some sentences")
        labelled = finetune.labelled_editor()
    if labelled.error:
        widgets.stop_for_input(stage.main, presenter, labelled.error, SETTINGS)
    with stage.settings:
        config = finetune.settings()
        split = finetune.split_summary(labelled, config.seed)
        lessons.lesson_menu(PAGE)

    with stage.main:
        if not compact:
            st.subheader("2 · Train a head on top")
        train = stage.action.button(
            "🎯 Train the head",
            type="primary",
            width="stretch" if presenter else "content",
            help="Starts from the identity (step 0 = the model's own geometry) and pulls same-label sentences together.",
        )
        linked_step = finetune.linked_training(train)  # a link of a trained view: train again on the click
        finetune.wait_for_click(info.model_id, train, labelled)  # a link's long table: read on a click
        if train:
            finetune.train(info.model_id, labelled, config, linked_step)
        view = finetune.current_view(info.model_id, labelled, split, config)
        verdict = not lessons.hidden(PAGE, "verdict")
        step, chart = finetune.head_view(view, info.fingerprint, presenter, verdict, beside)
        with stage.side:
            finetune.share_panel(info.model_id, view, step, chart, info)
        finetune.separation_panel(view)

    st.divider()
    finetune.proof_panel(view, info.fingerprint, verdict)
    st.markdown("##### Keep the head")
    finetune.head_files(view, info.model_id, info.fingerprint)

    with tuning_first if tuning_first is not None else st.container():
        tuning.going_further(
            info.model_id, labelled, split, info.n_layers, config.seed,
            answer=not lessons.hidden(PAGE, "movement"), lead=tuning_first is not None,
        )  # fmt: skip

    caches.warm_model()  # the page is drawn: now load the model in the background


run_page()
