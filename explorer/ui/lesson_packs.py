"""Lesson packs beyond the Token journey: the Sentence embedding page's and the Geometry lab's, each
made of the chart its page draws for the running lesson (with what the lesson hides left out until
Reveal, and in full after it) and the answer measured on the click by the lesson card's code. Also the
making every page's pack shares (`made_pack`), and what Fine-tune asks first (`pack_needs`).

Nothing heavy is held between runs: a pack is a function of names (model, sentences, settings) that
fetches its view again from the caches on the click. The pure work is `explorer.lesson_pack`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from explorer import sentence as sm
from explorer.assets import Lesson
from explorer.charts import geometry as gcharts
from explorer.charts import sentence as sc
from explorer.export import chart_spec
from explorer.inputs import shorten
from explorer.lesson_pack import PackAnswer, PackChart, lesson_pack_html, pack_file_name
from explorer.models import ModelInfo
from explorer.provenance import provenance
from explorer.sentence import sentence_ids
from explorer.states import layer_names
from explorer.ui import index as index_ui
from explorer.ui import lesson_measures, lessons, memory
from explorer.ui import sentence as sentence_ui
from explorer.ui.exports import Exports
from explorer.ui.geometry import PANELS, panel_chart
from explorer.ui.lab_measures import cached_measures
from explorer.ui.lessons import WHEN_REVEALED, Measure, Measured

PACK = "lesson_pack"  # the ledger's name for a lesson pack while it renders
PACK_SLACK = 24 * 2**20  # the Vega bundle and the page's text, a few times over
SENTENCE_PAGE = "pages/2_Sentence_embedding.py"
GEOMETRY_PAGE = "pages/4_Geometry_lab.py"
FINETUNE_PAGE = "pages/3_Fine_tune.py"
ANSWER_WAIT = "🎓 The answer, and what the app measured on these sentences, appear when you reveal it."
PackMaker = Callable[[str], tuple[str, bytes]]  # the share link → (file name, HTML)


def made_pack(
    lesson: Lesson,
    page: str,
    chart: Callable[[], PackChart],
    measure: Measure | None,
    texts: tuple[str, ...] | list[str],
    settings: dict[str, Any],
    info: ModelInfo,
    link: str,
    need: int,
) -> tuple[str, bytes]:
    """`lesson`'s pack from `page` (e.g. 'Geometry lab'): the answer measured now by `measure` (which
    claims its own memory; None, or returning None: nothing measured), then the chart drawn and the file rendered under a claim of `need` bytes
    (plus the bundle's) on the server's ledger."""
    measured = measure(lesson) if measure is not None else None
    answer = PackAnswer() if measured is None else PackAnswer(measured.text, measured.option)
    prov = provenance(page, info, texts, {**settings, "lesson": lesson.id}, link)
    with memory.room(PACK, need + PACK_SLACK, "making the lesson pack"):
        html = lesson_pack_html(lesson, page, chart(), answer, prov)
    return pack_file_name(lesson), html.encode("utf-8")


def pack_settings(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("sentences", "model_id")}


# ------------------------------------------------------------------------- Sentence embedding
CLOUD_CAPTION = (
    "Each dot is one token's vector at the output layer; axes: the first two principal axes of these "
    "tokens. After Reveal, ◆ is each sentence's embedding (its pooled vector) and lines join its tokens to it."
)
CLOUD_WAIT = f"🎓 Where each sentence's one vector lands {WHEN_REVEALED}."
HEATMAP_CAPTION = (
    "Cell = cosine similarity of two sentences' vectors ({}): 1 = same direction, 0 = unrelated. Hover a "
    "cell for the sentences."
)
HEATMAP_WAIT = f"🎓 The cosine of every pair of sentences, in its cell, {WHEN_REVEALED}."
PACK_CLOUD_HEIGHT = 420  # with the legend under it, inside a 1280 x 720 screen


def _cloud_chart(
    model_id: str, texts: tuple[str, ...], n_layers: int, classroom: bool, state: dict[str, Any]
) -> PackChart:
    """The first tab's cloud with the page's contrast pooling, if any: before Reveal without the pooled
    points (nor their place in the data)."""
    contrast = state.get("contrast")
    contrast = None if contrast in (None, "none") else str(contrast)
    view = sentence_ui.cached_view(model_id, texts, contrast, "model", n_layers)

    def spec(show: bool) -> dict:
        cloud = sc.cloud_chart(
            view.cloud.tokens, view.cloud.pooled, PACK_CLOUD_HEIGHT, classroom, show_pooled=show
        )
        return chart_spec(cloud)

    return PackChart(
        before=spec(False),
        after=spec(True),
        layer_names=(),
        caption=CLOUD_CAPTION + (" □ = the contrast pooling, not what the model uses." if contrast else ""),
        waiting=CLOUD_WAIT,
        description=sentence_ui.CLOUD_ALT.split(", with each")[0] + ".",
    )


def _heatmap_chart(
    model_id: str, texts: tuple[str, ...], n_layers: int, classroom: bool, state: dict[str, Any]
) -> PackChart:
    """The Similarity tab's heatmap with the page's pooling (the model's own, as the lesson opens it):
    before Reveal a grid of blank cells, with no cosine in its data."""
    pooling = str(state.get("pooling") or "model")
    pooling = pooling if pooling in sm.POOLINGS else "model"
    layer = int(state.get("layer") or 0) if pooling == "mean_layer" else n_layers
    view = sentence_ui.cached_view(model_id, texts, None, pooling, min(layer, n_layers))
    frame = view.similarity_frame
    label = sm.POOLINGS[pooling] + (f", layer {layer}" if pooling == "mean_layer" else "")
    return PackChart(
        before=chart_spec(sc.similarity_heatmap(frame, classroom=classroom, show_values=False)),
        after=chart_spec(sc.similarity_heatmap(frame, classroom=classroom)),
        layer_names=(),
        caption=f"{HEATMAP_CAPTION.format(label)} {_numbered(texts)}",
        waiting=HEATMAP_WAIT,
        description="Heatmap of the cosine similarity between every pair of sentences.",
    )


def _numbered(texts: tuple[str, ...]) -> str:
    """The sentences as the heatmap numbers them (S1 = the first), cut short: plain text, escaped later."""
    return " ".join(
        f"{sid}: {shorten(text, 60)}" for sid, text in zip(sentence_ids(len(texts)), texts, strict=True)
    )


SEARCH_CAPTION = (
    "Each dot is one indexed sentence's embedding; axes: the first two principal axes of the bundled "
    "corpus, fixed. After Reveal, ▲ is the query on the same axes and dashed lines lead to its nearest "
    "sentences by cosine (in all dimensions)."
)
SEARCH_WAIT = (
    "🎓 Where the query lands (▲) and the lines to what comes back appear when you reveal the answer."
)
INDEX_CAPTION = (
    "Each dot is one indexed sentence's embedding on the bundled corpus's first two principal axes, fixed: "
    "the sentences you added are outlined, and no old dot moved."
)
INDEX_WAIT = f"🎓 The weights fingerprint hashed after the add {WHEN_REVEALED}."
ADD_FIRST = (
    "Add your sentences to the index first ('Add my sentences to the index'): the pack shows your index "
    "and the fingerprints hashed right before and after the add."
)


def _search(model_id: str, state: dict[str, Any]) -> tuple[Any, Any, str, tuple, Any]:
    """This visitor's index searched as the page searches it: (projection, map points, query, hits, the
    query's place on the map)."""
    index = index_ui.user_index(model_id)
    projection, points = index_ui.index_map(model_id, index)
    query = str(state.get("query") or "").strip()
    if not query:
        return projection, points, query, (), None
    vector, hits = index_ui.search(model_id, index, query, int(state.get("k") or index_ui.TOP_K))
    return projection, points, query, hits, projection.place(vector)[0]


def _search_chart(model_id: str, state: dict[str, Any], classroom: bool) -> PackChart:
    """The search map: before Reveal the index alone (no query, no hits in its data), after it the query
    and the lines to its hits."""
    _, points, query, hits, query_xy = _search(model_id, state)
    before = sc.corpus_map_chart(points, height=PACK_CLOUD_HEIGHT, classroom=classroom)
    after = sc.corpus_map_chart(points, query_xy, query, hits, height=PACK_CLOUD_HEIGHT, classroom=classroom)
    return PackChart(
        chart_spec(before), chart_spec(after), (), SEARCH_CAPTION, SEARCH_WAIT,
        "Map of the index's sentences on fixed axes, coloured by topic.",
    )  # fmt: skip


def search_hits(model_id: str, state: dict[str, Any]) -> Measured:
    """What the search brings back now, as the results table lists it."""
    _, _, query, hits, _ = _search(model_id, state)
    if not hits:
        return Measured("no query to search for")
    found = "; ".join(f"{h.rank}. {shorten(h.text, 70)} ({h.source}, cosine {h.score:.2f})" for h in hits)
    return Measured(f"the {len(hits)} nearest to '{shorten(query, 70)}': {found}")


def _index_chart(model_id: str, classroom: bool) -> PackChart:
    """The visitor's grown index on the map (the lesson hides a verdict, not a picture)."""
    _, points = index_ui.index_map(model_id, index_ui.user_index(model_id))
    spec = chart_spec(sc.corpus_map_chart(points, height=PACK_CLOUD_HEIGHT, classroom=classroom))
    return PackChart(spec, spec, (), INDEX_CAPTION, INDEX_WAIT, "Map of the index's sentences.")


def add_verdict(proof: index_ui.AddProof) -> Measured:
    """The index lesson's answer as the page's proof panel states it."""
    same = proof.fingerprint_before == proof.fingerprint_after
    return Measured(
        f"the index grew from {proof.size_before:,} to {proof.size_after:,} sentences; weights fingerprint "
        f"{proof.fingerprint_before} → {proof.fingerprint_after}, {'identical' if same else 'CHANGED'}",
        "no" if same else "yes",
    )


SENTENCE_CHARTS = {"pooled": _cloud_chart, "similarity": _heatmap_chart}  # what a lesson hides → its chart


def _sentence_parts(
    lesson: Lesson, info: ModelInfo, texts: tuple[str, ...], classroom: bool, state: dict[str, Any]
) -> tuple[Callable[[], PackChart], Measure, int] | str | None:
    """The running lesson's chart, measure and memory to claim; a text: what to do first; None: no pack."""
    model_id = info.model_id
    drawn = next((SENTENCE_CHARTS[h] for h in lesson.hides if h in SENTENCE_CHARTS), None)
    if drawn is not None:
        need = 8 * 2**10 * len(texts) ** 2 + 2**20 * len(texts)  # the cells or the tokens, as JSON, twice
        return (
            lambda: drawn(model_id, texts, info.n_layers, classroom, state),
            lesson_measures.sentence_page,
            need,
        )
    if "hits" in lesson.hides:
        return (
            lambda: _search_chart(model_id, state, classroom),
            lambda _: search_hits(model_id, state),
            2**23,
        )
    if "verdict" in lesson.hides:
        proof = index_ui.last_proof(model_id)
        if proof is None:
            return ADD_FIRST
        return lambda: _index_chart(model_id, classroom), lambda _: add_verdict(proof), 2**23
    return None


def sentence_exports(
    bundle: Callable[[], bytes],
    info: ModelInfo,
    texts: tuple[str, ...],
    classroom: bool,
    state: dict[str, Any],
) -> Exports:
    """The page's exports: the bundle and, while a lesson runs, its pack, or what to do first (the index
    lesson packs the visitor's own add, never one of its own)."""
    lesson = lessons.active(SENTENCE_PAGE)
    parts = None if lesson is None else _sentence_parts(lesson, info, texts, classroom, state)
    if parts is None or isinstance(parts, str):
        return Exports(bundle, pack_needs=parts)
    chart, measure, need = parts
    settings = pack_settings(state)

    def make(link: str) -> tuple[str, bytes]:
        return made_pack(lesson, "Sentence embedding", chart, measure, texts, settings, info, link, need)

    return Exports(bundle, lesson_pack=make)


# ------------------------------------------------------------------------- Geometry lab
ANISOTROPY = PANELS[0]
DIMENSION = next(panel for panel in PANELS if panel.keys == ("effective_dimension",))
ANISOTROPY_CAPTION = (
    "One point per layer (0 = the embedding layer): anisotropy, the mean cosine between words from "
    "unrelated sentences. Higher means the vectors crowd into a narrower cone."
)
ANISOTROPY_WAIT = f"🎓 The anisotropy line, and the effective dimension under it, {WHEN_REVEALED}."


def _anisotropy_chart(model_id: str, texts: tuple[str, ...], n_layers: int, classroom: bool) -> PackChart:
    """The lab's anisotropy chart over the layers: before Reveal its axes with no line (no values in
    its data either)."""
    view = cached_measures(model_id, texts, False)
    long = gcharts.measures_long(view.measures.drop(columns="layer_name"), layer_names(n_layers))

    def spec(values: bool) -> dict:
        rows = long if values else long.assign(value=np.nan)
        chart = gcharts.layer_line_chart(
            rows, ANISOTROPY.keys, ANISOTROPY.y_title, zero_rule=ANISOTROPY.zero_rule, classroom=classroom
        )  # as `geometry.panel_chart` draws it, which draws nothing without values
        drawn = chart_spec(chart)
        if not values:  # no line: the axis spans 0 to 1 and no legend (either, empty, drew no chart)
            for part in drawn["layer"]:
                encoding = part["encoding"]
                encoding["y"]["scale"] = {**encoding["y"].get("scale", {}), "domain": [0, 1]}
                if "color" in encoding:
                    encoding["color"]["legend"] = None
        return drawn

    dimension = panel_chart(long, DIMENSION, classroom)  # the answer's second half, after Reveal
    return PackChart(
        before=spec(False),
        after=spec(True),
        layer_names=(),  # the layers are the x axis: no slider
        caption=f"{ANISOTROPY_CAPTION} Over {view.n_words:,} words in {len(texts)} sentences.",
        waiting=ANISOTROPY_WAIT,
        description="Line chart of anisotropy at each layer, from the embedding layer to the output.",
        more=None if dimension is None else chart_spec(dimension.properties(title=DIMENSION.title)),
        more_description="Line chart of the effective dimension (directions used) at each layer.",
    )


def geometry_pack(
    info: ModelInfo, texts: tuple[str, ...], classroom: bool, state: dict[str, Any]
) -> PackMaker | None:
    """The running Geometry lab lesson's pack (None: no lesson runs, or no sentences are measured)."""
    lesson = lessons.active(GEOMETRY_PAGE)
    if lesson is None or not texts or "measures" not in lesson.hides:
        return None

    def make(link: str) -> tuple[str, bytes]:
        return made_pack(
            lesson, "Geometry lab",
            lambda: _anisotropy_chart(info.model_id, texts, info.n_layers, classroom),
            lesson_measures.geometry_lab, texts, pack_settings(state), info, link, 4 * 2**20,
        )  # fmt: skip

    return make
