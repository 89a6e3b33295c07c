"""The Token journey's controls: the page layout, the view settings, Play, the paths, the follow picker, and the chart request they make."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

from explorer.charts import journey as charts
from explorer.inputs import ParsedSentences
from explorer.journey_request import JourneyRequest
from explorer.ui import keys, player, widgets
from explorer.ui.journey.chart import chart_height
from explorer.ui.journey.readout import FOLLOW_LIMIT_TEXT, default_follow, has_grouped_words
from explorer.ui.journey.view import JourneyTokens, JourneyView
from explorer.ui.links import MAX_LINK_FOLLOW, take_parked
from explorer.ui.state import (
    current_layer,
    kept,
    persisted,
    remembered,
    set_value,
    set_value_silently,
)


def paths_choice(
    method: str, tokens: JourneyTokens, groups: tuple[str, ...], hidden: bool, draw: bool = True
) -> str:
    """Which paths to draw: none on group axes (each layer has its own, so a line between layers is no
    motion) or while a lesson hides them; else the user's choice. `draw` False: the value, no widget."""
    if method == "groups" and has_grouped_words(tokens, groups):
        if not draw:
            return "none"
        st.button(
            "↔ Shared PCA axes",
            key="to_shared_pca",
            on_click=set_value,
            args=(keys.PROJECTION, "pca_shared"),
            help="These axes are fitted per layer where the groups part, so paths between layers are not "
            "drawn. Shared PCA keeps one set of axes for every layer and draws the paths (View settings "
            "has every projection).",
        )
        return "none"
    chosen = widgets.choice("Paths", keys.PATHS, charts.TRAJECTORY_MODES, "selected", draw)
    return "none" if hidden else chosen


def chart_request(
    model_id: str,
    parsed: ParsedSentences,
    view: JourneyView,
    settings: ViewSettings,
    follow: list[int],
    paths: str,
    readout: bool,
    presenter: bool,
    lesson: bool = False,
    why_hidden: bool = False,
) -> JourneyRequest:
    """The journey chart as one value (see `JourneyRequest`)."""
    return JourneyRequest(
        model_id=model_id,
        texts=parsed.sentences,
        groups=parsed.groups,
        method=view.projection.method,
        seed=settings.seed,
        hide_special=settings.hide_special,
        hide_punct=settings.hide_punct,
        fit_on=view.fit_on,
        follow=tuple(follow),
        paths=paths,
        readout=readout,
        labels=settings.labels,
        classroom=widgets.is_classroom(),
        presenter=presenter,
        height=chart_height(presenter, lesson),
        why=settings.why if follow and not why_hidden else "",
    )


@contextmanager
def drawn_after(draw: Callable[[], None]) -> Iterator[Callable[[], None]]:
    """Controls read before the chart and drawn after it, into boxes placed before it: `draw()` runs at
    the block's end, or on an error. The block gets `first`, to call before anything that may stop the
    page (nothing can be drawn after `st.stop()`): `draw()` then runs there, once."""
    done: list[bool] = []

    def first() -> None:
        if not done:
            done.append(True)
            draw()

    try:
        yield first
    except Exception:
        first()
        raise
    first()


SETTINGS = "⚙️ Sentences and settings"  # the presenter view's button that opens the inputs


@dataclass
class PageLayout:
    """Where the page's parts go: two columns, or the presenter view's one row of controls."""

    left: Any  # sentences and settings
    right: Any  # the chart
    options: Any  # followed tokens
    paths: Any
    play: Any  # Play and Pause (`player`)
    speed: Any | None  # None: the speed is among the view settings
    share: Any  # the share popover: in the presenter's row of controls, else under the chart


def page_layout(presenter: bool) -> PageLayout:
    """Two columns (settings | chart); or, in the presenter view, one row of Play / Pause / speed and a
    button that opens the sentences and settings, with the chart spanning the page under it."""
    if presenter:
        bar = st.columns([2, 1.1, 0.9, 1.9], vertical_alignment="bottom")
        settings = bar[3].popover(SETTINGS, width="stretch")
        return PageLayout(settings, st.container(), settings, settings, bar[0], bar[1], bar[2])
    left, right = st.columns([1, 2.4], gap="large")
    with right:
        paths, play = st.columns([2.4, 2], vertical_alignment="bottom")
    return PageLayout(left, right, right, paths, play, None, right)


@dataclass(frozen=True)
class ViewSettings:
    method: str
    seed: int
    hide_special: bool
    hide_punct: bool
    fit_followed: bool
    labels: bool
    speed: float | None
    why: str = ""  # "" (no lines), "parts" or "attention" (see `ui.journey.why`)


def view_settings(with_speed: bool) -> ViewSettings:
    """The folded 'View settings' (folded: on a phone the chart comes sooner), filled only while open: folded,
    the settings are this user's last values and the browser draws none of their widgets (ten new
    sentences: 448 against 472 ms when the box was always filled, medians of 18 rounds each, in turns)."""
    box = widgets.lazy_expander("View settings", "view_settings")
    with box:
        return _settings(with_speed, box.open)


def read_view_settings(with_speed: bool) -> ViewSettings:
    """The settings `view_settings` will show in this run, read before it is drawn."""
    return _settings(with_speed, draw=False)


def _settings(with_speed: bool, draw: bool) -> ViewSettings:
    method = widgets.projection_picker(keys.PROJECTION, draw=draw)
    seed = (
        widgets.number("Seed", keys.SEED, 0, "UMAP is random: the same seed gives the same picture.", draw)
        if method == "umap"
        else 0
    )
    hide_special = widgets.toggle(
        "Hide [CLS] / [SEP]", keys.HIDE_SPECIAL, False, "Special tokens the model adds.", draw
    )
    hide_punct = widgets.toggle("Hide punctuation", keys.HIDE_PUNCT, False, draw=draw)
    fit_followed = method in ("pca_shared", "groups") and widgets.toggle(
        "Fit the axes on the followed tokens",
        keys.FIT_FOLLOWED,
        True,
        "On: the plane where the followed tokens differ most (every token is drawn on it). Off: the "
        "plane of all tokens, which is spent on what every token shares as it moves between layers.",
        draw,
    )
    labels = widgets.toggle(
        "Label every token", keys.LABELS, True, "Followed tokens are always labelled.", draw
    )
    why = widgets.toggle(
        "Why did it move? (lines)",
        keys.WHY_LINES,
        False,
        "At the layer shown, lines from the tokens that sent each followed token the most on its way "
        "from the layer before: an exact split of the layer's update, not attention weights.",
        draw,
    )
    why_by = (
        widgets.choice(
            "Lines from",
            keys.WHY_BY,
            {
                "parts": "what each token sent (exact split)",
                "attention": "attention weights (where it looked; not why it moved)",
                "rollout": "attention rollout across layers (not why it moved)",
            },
            "parts",
            draw,
        )
        if why
        else ""
    )
    speed = widgets.play_speed_picker(draw) if with_speed else None
    return ViewSettings(method, seed, hide_special, hide_punct, fit_followed, labels, speed, why_by)


def play_speed(layout: PageLayout, speed: float | None) -> float:
    """Seconds per layer for Play: picked beside Play in the presenter view, else among the settings."""
    if layout.speed is not None:
        with layout.speed:
            speed = widgets.play_speed_picker()
    return widgets.PLAY_SECONDS_PER_LAYER if speed is None else speed


def play_bar(layout: PageLayout, view: JourneyView, speed: float) -> None:
    """Play and Pause, run by the browser (see `explorer.ui.player`)."""
    with layout.play:
        player.player(view.names, speed, current_layer(view.summary.n_layers, keys.LAYER))


def followed(tokens: JourneyTokens, context: str, groups: tuple[str, ...] = ()) -> list[int]:
    """Tokens whose paths are drawn boldly; remembered per set of sentences, reset when they change (to
    every occurrence of the words used in two groups, see `default_follow`). Before `follow_picker`."""
    names = tokens.options
    from_link = take_parked(keys.FOLLOW)
    if from_link is not None:
        set_value(keys.FOLLOW, [u for u in from_link if u in names])
        set_value_silently("follow_context", context)
    elif kept("follow_context") != context:
        set_value(keys.FOLLOW, [u for u in default_follow(tokens.summary.tokens, groups) if u in names])
        set_value_silently("follow_context", context)
    persisted(keys.FOLLOW, [])
    if any(u not in names for u in st.session_state[keys.FOLLOW]):
        set_value(keys.FOLLOW, [u for u in st.session_state[keys.FOLLOW] if u in names])
    return list(st.session_state[keys.FOLLOW])


def follow_picker(tokens: JourneyTokens) -> None:
    """The picker of the tokens `followed` chose (drawn after it, in the same run)."""
    names = tokens.options
    st.multiselect(
        "Follow tokens",
        list(names),
        format_func=names.get,
        **remembered(keys.FOLLOW),
        help="Their paths through all layers are drawn boldly and ringed at the current layer; their "
        "cosines in the model's full space are written under the points. " + FOLLOW_LIMIT_TEXT,
        placeholder="Pick tokens to follow",
        max_selections=MAX_LINK_FOLLOW,  # 1,500 followed tokens took 95-111 s to draw
    )
    chosen = st.session_state[keys.FOLLOW]
    if len(chosen) > 6:  # many chips: say in one line what is followed
        counts: dict[str, int] = {}
        for u in chosen:
            word = names[u].split(" · ", 1)[-1].split(" (")[0]
            counts[word] = counts.get(word, 0) + 1
        st.caption(
            "Following " + ", ".join(f"{n} × {w}" for w, n in counts.items()) + ". " + FOLLOW_LIMIT_TEXT
        )
