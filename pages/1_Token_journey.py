"""Token journey: every token of every sentence, layer by layer, in 2-D."""

from __future__ import annotations

import streamlit as st

from explorer.charts import journey as charts
from explorer.charts.faithfulness import layer_scores_chart
from explorer.charts.layer_slider import LAYER_PARAM
from explorer.charts.transport import as_sent
from explorer.ui import caches, journey, lessons, links, player, share_menu, widgets
from explorer.ui.frame import open_page

PAGE = "pages/1_Token_journey.py"
frame = open_page(
    PAGE, "Token journey", "🧭", "Token journey through the latent space",
    "Every token's vector inside the model, from the embedding layer (0) to the output. "
    "Drag the Layer slider under the chart or press Play and watch context reshape the space.",
    journey.receive_link,
)  # fmt: skip
info, presenter = frame.info, frame.presenter  # classroom mode is the presenter view: chart first
player.skip_link()  # for the keyboard: straight to the chart's Layer slider


# The page below the heading reruns alone (a fragment) when its own widgets change: new sentences, the
# settings and the chart redraw without the browser redrawing the sidebar, heading and lesson card. The
# chart is sent first, its controls after it into boxes placed first: while the model runs, the browser
# has nothing to redraw (see `journey.drawn_after`).
@st.fragment
def journey_body() -> None:
    layout = journey.page_layout(presenter)
    right, inputs = layout.right, layout.left.container()
    paths_box, follow_box = layout.paths.container(), layout.options.container()
    parsed = widgets.typed_sentences()
    settings = journey.read_view_settings(with_speed=not presenter)  # the presenter view: speed beside Play
    method, seed, fit_followed = settings.method, settings.seed, settings.fit_followed
    hide_special, hide_punct = settings.hide_special, settings.hide_punct

    def controls() -> None:
        with inputs:
            widgets.sentence_editor(parsed)  # read above: not parsed twice
            journey.view_settings(with_speed=not presenter)
            lessons.lesson_menu(PAGE, in_fragment=True)

    with journey.drawn_after(controls) as first:  # `first()`: draw them now, before a stop
        if not parsed.sentences:
            first()
            widgets.stop_for_input(right, presenter, parsed.error, journey.SETTINGS)
        with right:
            links.wait_for_click("draw the journey", umap=method == "umap", before_stop=first)
        tokens = journey.journey_tokens(info.model_id, parsed.sentences, hide_special, hide_punct, first)
        widgets.truncation_notice(tokens.summary, info)
        if tokens.capped:
            st.info(
                f"Showing the first {journey.MAX_SHOWN_TOKENS:,} tokens; fewer sentences show all of them.",
                icon="ℹ️",
            )
        hide_paths = lessons.hidden(PAGE, "paths")
        trajectories = journey.paths_choice(method, tokens, parsed.groups, hide_paths, draw=False)
        context = f"{info.model_id}|{parsed.sentences}|{parsed.groups}|{hide_special}|{hide_punct}"
        follow = journey.followed(tokens, context, parsed.groups)
        groups = parsed.groups
        with right:
            view = journey.journey_view(
                info.model_id, parsed.sentences, method, hide_special, hide_punct, seed, groups,
                tuple(follow) if fit_followed else (),
            )  # fmt: skip
            if view.projection.notice:
                st.info(view.projection.notice, icon="ℹ️")
        notes = journey.layer_notes(view)
        readout = None if lessons.hidden(PAGE, "readout") else journey.readout(view, groups, follow)
        request = journey.chart_request(
            info.model_id,
            parsed,
            view,
            settings,
            follow,
            trajectories,
            readout is not None,
            presenter,
            lesson=lessons.active(PAGE) is not None,
            why_hidden=lessons.hidden(PAGE, "why"),
        )  # everything the chart is drawn from
        layer, start, chart_key = journey.layer_and_start(view.summary.n_layers, request)
        why = journey.why_view(view, follow, request.why) if request.why else None

        def drawing() -> charts.JourneyDrawing:
            return journey.drawing_of(request, view, notes, readout, why)

        with right:
            st.vega_lite_chart(
                spec=journey.chart_for(request, start, drawing),
                width="stretch",
                key=chart_key,
                on_select=journey.on_layer_picked,
                selection_mode=LAYER_PARAM,
                alt=journey.chart_description(view, readout),
            )
    with paths_box:
        journey.paths_choice(method, tokens, parsed.groups, hide_paths)
    with follow_box:
        journey.follow_picker(tokens)
    journey.play_bar(layout, view, journey.play_speed(layout, settings.speed))
    with right:
        journey.style_layer_slider()
        st.caption(journey.journey_caption(view))
        if why is not None:
            journey.why_panel(why, request.classroom)
        if readout is not None and len(readout.summary) and not lessons.hidden(PAGE, "strip"):
            journey.separation_panel(view, readout, layer)
    if readout is not None:
        with right:  # the boxes below are filled only when open: closed, they cost new sentences nothing
            table_box = widgets.lazy_expander(
                "The followed tokens' cosines as a table (every layer)", "cosines_table"
            )
        if table_box.open:
            table_box.dataframe(journey.readout_table(readout), width="stretch")
    with right:
        journey.waiting_for_reveal(hide_paths or lessons.hidden(PAGE, "readout"), lessons.hidden(PAGE, "why"))
        link_state = journey.view_state(info.model_id, layer, follow)
    with layout.share:
        share_menu.share_and_export(
            link_state,
            journey.exports(view, drawing, layer, link_state, info, request),  # + the lesson pack
            "token_journey.zip",
            label="🔗 Share" if presenter else None,
        )
    with right:
        journey.meaning_box(view, follow, info, layer)
        faithful_box = widgets.lazy_expander("How faithful is this picture, layer by layer?", "faithfulness")
    if faithful_box.open:
        scores = layer_scores_chart(
            view.names, view.projection.explained, view.projection.faithfulness, layer
        )
        faithful_box.vega_lite_chart(
            spec=as_sent(scores), width="stretch", alt="Explained variance and faithfulness at every layer."
        )
        faithful_box.caption(
            "Explained variance: share of the layer's spread the two axes keep. Faithfulness: share of each "
            "token's 10 nearest neighbours (in all 384 dimensions) still among its 10 nearest on screen "
            "(over a seeded sample of 1,500 tokens when there are more)."
        )


# In the presenter view a lesson's card sits beside the chart: question, pick, Reveal and the evidence on
# one projector screen, and Reveal grows the card without moving the chart.
with lessons.card_and_stage(PAGE, presenter, measure=journey.lesson_measure):
    journey_body()
caches.warm_model()  # the page is drawn: now load the model in the background
