"""The Token journey's lessons: their answers measured live, the chart as the page draws it (with or
without what a lesson hides), and the lesson pack made of both (`explorer.lesson_pack`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from explorer.assets import Lesson
from explorer.charts import journey as charts
from explorer.charts.layer_slider import without_play_input
from explorer.export import chart_spec
from explorer.journey_request import JourneyRequest
from explorer.lesson_pack import PackChart
from explorer.models import ModelInfo
from explorer.separation import grouped_words
from explorer.ui import keys, lessons
from explorer.ui.journey.chart import PRESENTER_CHART_HEIGHT, journey_caption, layer_notes, waiting_lines
from explorer.ui.journey.meaning import PAGE, meaning_measure
from explorer.ui.journey.readout import Readout, chart_description, parting_measure, readout
from explorer.ui.journey.view import JourneyView
from explorer.ui.journey.why import WhyView, top_source_measure, why_view
from explorer.ui.lesson_packs import ANSWER_WAIT, made_pack, pack_settings
from explorer.ui.lessons import Measured
from explorer.ui.state import kept


def lesson_measure(lesson: Lesson) -> Measured | None:
    """A journey lesson's answer measured live on the sentences in the box (None: the lesson has none)."""
    if lesson.measure == "top_source":
        return top_source_measure(lesson)
    if lesson.measure == "nearest_words":
        return meaning_measure(lesson)
    return parting_measure(lesson)


def drawing_of(
    request: JourneyRequest,
    view: JourneyView,
    notes: list[str],
    shown: Readout | None,
    why: WhyView | None,
) -> charts.JourneyDrawing:
    """The journey chart's drawing for `request`: the page's, and the lesson pack's."""
    return charts.journey_drawing(
        view.points, view.pooled, request.follow, request.paths, request.labels,
        height=request.height, classroom=request.classroom, notes=notes,
        readout=None if shown is None else shown.lines, wide=request.presenter,
        pulls=why.lines if why is not None else None,
    )  # fmt: skip


def _revealed_request(request: JourneyRequest, view: JourneyView) -> JourneyRequest:
    """The chart as the page draws it once the answer is revealed: the paths the user chose (none on
    group axes, which change per layer), the readout, and the 'why' lines where they are switched on."""
    paths = request.paths
    if paths == "none" and not (
        request.method == "groups" and grouped_words(view.summary.tokens, request.groups, max_words=1)
    ):
        paths = str(kept(keys.PATHS, "selected"))
    why = request.why or (
        str(kept(keys.WHY_BY, "parts")) if kept(keys.WHY_LINES, False) and request.follow else ""
    )
    # a file fills a phone's width or a projector's: the legend goes under the plot, the height fits 720 px
    return replace(
        request, paths=paths, readout=True, why=why, presenter=False, height=PRESENTER_CHART_HEIGHT
    )


def pack_chart(view: JourneyView, request: JourneyRequest, lesson: Lesson, layer: int) -> PackChart:
    """The chart before Reveal (what `lesson` hides left out) and after it, both starting at `layer`."""
    full = _revealed_request(request, view)
    hides = set(lesson.hides)
    shown = readout(view, full.groups, list(full.follow))
    why = why_view(view, list(full.follow), full.why) if full.why else None
    hidden_paths = "paths" in hides
    before = replace(
        full,
        paths="none" if hidden_paths else full.paths,
        readout="readout" not in hides and shown is not None,
        why="" if "why" in hides else full.why,
    )
    notes = layer_notes(view)

    def spec(req: JourneyRequest) -> dict:
        drawing = drawing_of(req, view, notes, shown if req.readout else None, why if req.why else None)
        return chart_spec(without_play_input(charts.journey_chart_of(drawing, layer)))

    waits = waiting_lines(hidden_paths or "readout" in hides, "why" in hides)
    return PackChart(
        before=spec(before),
        after=spec(full),
        layer_names=tuple(view.names),
        caption=journey_caption(view),
        description=chart_description(view, None),  # without the readout, which answers the lesson
        waiting=" ".join(waits) or ANSWER_WAIT,
    )


def lesson_pack(
    view: JourneyView, request: JourneyRequest, layer: int, state: dict, info: ModelInfo
) -> Callable[[str], tuple[str, bytes]] | None:
    """The running lesson's pack, made when called with the share link (None: no lesson runs here). Its
    answer is measured then, by the code the lesson card uses; the chart starts at the layer the lesson
    opens at (else the page's), and the rendering claims its memory on the server's ledger."""
    lesson = lessons.active(PAGE)
    if lesson is None:
        return None

    def make(link: str) -> tuple[str, bytes]:
        start = int(lesson.view.get("layer", layer))
        need = 2 * 8 * int(view.points.memory_usage(deep=True).sum())  # two specs
        return made_pack(
            lesson, "Token journey", lambda: pack_chart(view, request, lesson, start),
            lesson_measure if lesson.measure else None, view.states.texts, pack_settings(state), info, link, need,
        )  # fmt: skip

    return make
