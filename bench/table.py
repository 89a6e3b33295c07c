"""The README's speed table, from one run of `python -m bench browser` (its JSON, on stdin or in a file).

python -m bench browser > run.json && python -m bench.table run.json
"""

from __future__ import annotations

import json
import sys


def _median(d: dict) -> str:
    return f"{d['median']:,.0f} ms"


def rows(report: dict) -> list[tuple[str, str, str, str]]:
    """(measure, ours, baseline or floor, ratio and target) for every figure of the browser bench."""
    b = report.get("browser", report)
    cold, play = b["cold_start_to_first_chart_s"], b["play"]
    new, umap, big = (
        b["ten_new_sentences_to_redraw_ms"],
        b["aligned_umap_s"],
        b["big_input_100_sentences_x_5000_chars_s"],
    )
    journey, base = new["token_journey"], new["baseline_page"]
    seconds = lambda values: " / ".join(f"{v:.1f}" for v in values) + " s"  # noqa: E731
    return [
        ("cold start to first chart: Token journey", seconds(cold["token_journey"]), seconds(cold["baseline_one_chart_page"]),
         f"{cold['ratio']}× (target ≤ {cold['target_ratio']}×)"),
        ("cold start to first chart: home", seconds(cold["home"]), seconds(cold["baseline_one_chart_page"]),
         f"{cold['home_ratio']}×"),
        ("layer change → redraw (chart's own slider)", _median(b["layer_change_to_redraw_ms"]), "", "target ≤ 50 ms"),
        ("Play in the browser", f"{play['frames_per_second']} frames/s, {play['server_runs_while_playing_and_after']} server run",
         "", "target ≥ 5 frames/s, one server run"),
        ("10 new sentences → redrawn chart", f"{_median(journey)} (server {_median(journey['server'])} to the chart's data, browser {_median(journey['browser'])} to draw it)",
         f"{_median(base)} (server {_median(base['server'])}, browser {_median(base['browser'])})",
         f"{new['ratio']}× (target ≤ {new['target_ratio']}×)"),
        ("aligned UMAP, server just started: page answers / UMAP shown", f"{umap['fresh_server_page_answers']} s / {umap['fresh_server_umap_shown']} s",
         "", "never blocking"),
        ("aligned UMAP, another shipped set, warm server", f"{umap['warm_server_other_set_umap_shown']} s", "", "target ≤ 10 s"),
        ("100 sentences × 5,000 characters: Token journey first chart", f"{big['token_journey_first_chart']} s",
         f"{big['raw_forward']} s raw forward", f"{big['journey_ratio']}× (target ≤ {big['target_ratio']}×)"),
        ("100 sentences × 5,000 characters: Geometry lab first chart", f"{big['geometry_lab_first_chart']} s",
         f"{big['raw_forward']} s raw forward", f"{big['geometry_ratio']}× (target ≤ {big['target_ratio']}×)"),
    ]  # fmt: skip


def markdown(report: dict) -> str:
    lines = ["| measure | ours | baseline (same run) | ratio |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows(report)]
    return "\n".join(lines)


if __name__ == "__main__":
    text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else sys.stdin.read()  # noqa: SIM115
    print(markdown(json.loads(text)))
