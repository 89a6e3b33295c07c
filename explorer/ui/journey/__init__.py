"""Streamlit side of the Token journey page, one concept per module: the view, the readout, the chart as
sent, the controls, the share link. The page uses them through this package."""

from explorer.assets import Lesson
from explorer.ui.journey.chart import (
    CHART_HEIGHT,
    CHART_KEY,
    PRESENTER_CHART_HEIGHT,
    chart_for,
    chart_height,
    chart_key,
    journey_caption,
    layer_and_start,
    layer_notes,
    on_layer_picked,
    style_layer_slider,
    waiting_for_reveal,
)
from explorer.ui.journey.controls import (
    SETTINGS,
    PageLayout,
    ViewSettings,
    chart_request,
    follow_picker,
    page_layout,
    paths_choice,
    play_bar,
    play_speed,
    view_settings,
)
from explorer.ui.journey.link import (
    LINK,
    export_bundle,
    exports,
    receive_link,
    view_state,
)
from explorer.ui.journey.meaning import meaning_box, meaning_measure, meaning_panel, neighbour_table
from explorer.ui.journey.readout import (
    FOLLOW_LIMIT_TEXT,
    Readout,
    cached_readout,
    chart_description,
    default_follow,
    has_grouped_words,
    parting_measure,
    picture_versus_space,
    readout,
    readout_table,
    separation_panel,
)
from explorer.ui.journey.view import (
    MAX_SHOWN_TOKENS,
    JourneyTokens,
    JourneyView,
    cached_journey,
    cached_tokens,
    journey_tokens,
    journey_view,
    make_journey,
)
from explorer.ui.journey.why import WhyView, top_source_measure, why_panel, why_view
from explorer.ui.lessons import Measured

__all__ = [
    "CHART_HEIGHT",
    "CHART_KEY",
    "FOLLOW_LIMIT_TEXT",
    "LINK",
    "MAX_SHOWN_TOKENS",
    "PRESENTER_CHART_HEIGHT",
    "SETTINGS",
    "JourneyTokens",
    "JourneyView",
    "PageLayout",
    "Readout",
    "ViewSettings",
    "WhyView",
    "cached_journey",
    "cached_readout",
    "cached_tokens",
    "chart_description",
    "chart_for",
    "chart_height",
    "chart_key",
    "chart_request",
    "default_follow",
    "export_bundle",
    "exports",
    "follow_picker",
    "has_grouped_words",
    "journey_caption",
    "journey_tokens",
    "journey_view",
    "layer_and_start",
    "layer_notes",
    "lesson_measure",
    "make_journey",
    "meaning_box",
    "meaning_panel",
    "neighbour_table",
    "on_layer_picked",
    "page_layout",
    "paths_choice",
    "picture_versus_space",
    "play_bar",
    "play_speed",
    "readout",
    "readout_table",
    "receive_link",
    "separation_panel",
    "style_layer_slider",
    "view_settings",
    "view_state",
    "waiting_for_reveal",
    "why_panel",
    "why_view",
]


def lesson_measure(lesson: Lesson) -> Measured | None:
    """A journey lesson's answer measured live on the sentences in the box (None: the lesson has none)."""
    if lesson.measure == "top_source":
        return top_source_measure(lesson)
    if lesson.measure == "nearest_words":
        return meaning_measure(lesson)
    return parting_measure(lesson)
