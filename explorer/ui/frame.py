"""The frame every page opens with, in the one order that works: the page's settings, its link, the
lesson a link names, the sidebar (model and classroom toggle) and the heading. Written once here, so no
page can take a link after the sidebar has read the model box, or draw the heading before the toggle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from explorer.models import ModelInfo
from explorer.ui import lessons, widgets


@dataclass(frozen=True)
class Frame:
    """What the frame found: the model, whether the presenter view is on, and whether a lesson runs."""

    info: ModelInfo
    presenter: bool
    lesson_running: bool


def open_page(
    page: str,
    title: str,
    icon: str,
    heading: str,
    caption: str,
    receive_link: Callable[[], None] | None = None,
) -> Frame:
    """Open `page` (its path, as the lessons name it): browser `title` and `icon`, a shared link's values
    (`receive_link`, before any widget reads them), a lesson from the link, the sidebar, and the `heading`
    with its one-line `caption` (left out in the presenter view and while a lesson runs)."""
    widgets.page_config(title, icon)
    if receive_link is not None:
        receive_link()
    lessons.receive(page)
    info = widgets.sidebar()
    running = lessons.active(page) is not None
    presenter = widgets.page_heading(f"{icon} {heading}", caption, lesson_running=running)
    return Frame(info, presenter, running)
