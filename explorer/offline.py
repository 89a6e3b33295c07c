"""The journey chart as one HTML file that works with no server and no network: Vega, Vega-Lite and
vega-embed bundled inside (vl-convert's `javascript_bundle`), the chart's own Layer slider, a Play button
that glides through the layers as the app's Play does, and the export's provenance under the chart.

Nothing a person typed reaches the page as markup: the spec travels as JSON inside a data script with
every "<" written as the JavaScript escape \\u003c (so a sentence holding "</script>" cannot end it), and
the title and the provenance are HTML-escaped text. No Streamlit."""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Sequence
from typing import Any

from explorer.charts.layer_slider import LAYER_PARAM, PLAY_PARAM
from explorer.provenance import provenance_line

DEFAULT_SECONDS = 1.2  # per layer while Play runs, as the app's default speed


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (about 1 MB) that sets `window.vegaEmbed`."""
    import vl_convert as vlc

    return vlc.javascript_bundle()


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no "<", "&" or line separators as themselves."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _link(url: str) -> str:
    """The share link as an escaped anchor (only http and https), or nothing."""
    if not url.startswith(("http://", "https://")):
        return ""
    safe = html.escape(url, quote=True)
    return f'<p>Reopen this view where the app runs: <a href="{safe}">{safe}</a></p>'


def provenance_html(prov: dict[str, Any]) -> str:
    """The provenance as an escaped block: every value is text, never markup."""
    e = html.escape
    settings = ", ".join(f"{k} = {v}" for k, v in prov["settings"].items() if k != "sentences")
    sentences = "".join(f"<li>{e(str(s))}</li>" for s in prov["sentences"])
    return (
        '<section class="provenance" aria-label="Where this chart came from">'
        f"<p>{e(provenance_line(prov))}</p>"
        f"<p>Model <code>{e(str(prov['model_id']))}</code>, weights sha256 "
        f"<code>{e(str(prov['weights_fingerprint']))}</code>; made {e(str(prov['created']))}.</p>"
        f"<p>Settings: {e(settings)}</p><p>Sentences:</p><ol>{sentences}</ol>"
        f"{_link(str(prov.get('share_link') or ''))}</section>"
    )


# The head of every file that works with no server: its own scripts and styles and data: images only.
PAGE_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:">
"""
_PAGE = (
    PAGE_HEAD
    + """<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem; color: #1f2937; }
h1 { font-size: 1.3rem; margin: 0 0 0.5rem; }
.player { display: flex; gap: 0.6rem; align-items: center; margin: 0.4rem 0; }
.player button { font: inherit; padding: 0.3rem 1rem; border-radius: 0.4rem; border: 1px solid #9ca3af;
  background: #fff; cursor: pointer; }
.player button:focus-visible { outline: 3px solid #4f5bd5; }
#chart { max-width: 100%; overflow-x: auto; }
.vega-bind { margin: 0.4rem 0; }
.vega-bind input[type="range"] { width: min(560px, 70vw); }
.provenance { font-size: 0.85rem; color: #4b5563; border-top: 1px solid #e5e7eb; margin-top: 1rem; }
</style></head>
<body>
<h1>__TITLE__</h1>
<div class="player" role="group" aria-label="Play the journey through the layers">
<button type="button" id="play">▶ Play</button><button type="button" id="pause">⏸ Pause</button>
<span id="status" aria-live="polite"></span></div>
<div id="chart"></div>
__PROVENANCE__
<script type="application/json" id="spec">__SPEC__</script>
<script type="application/json" id="names">__NAMES__</script>
<script>__BUNDLE__</script>
<script>
const PLAY = "__PLAY__", PER_LAYER = __MS__;
const spec = JSON.parse(document.getElementById("spec").textContent);
const names = JSON.parse(document.getElementById("names").textContent);
const last = names.length - 1;
const status = document.getElementById("status");
// Reduced motion, as the app's Play: layer by layer without gliding, each held at least 1.5 s.
const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
let view = null, running = null;
function slider() { return document.querySelector("#chart .vega-bind input[type='range']"); }
function report(layer) { const s = slider(); if (s) { s.value = layer; s.dispatchEvent(new Event("input")); } }
function stop() {
  if (!running) return;
  cancelAnimationFrame(running.request);
  const layer = Math.min(Math.floor(running.at), last);
  running = null;
  report(layer);
  view.signal(PLAY, -1).runAsync();
  status.textContent = "layer " + names[layer];
}
function tick(now) {
  if (!running) return;
  const elapsed = (now - running.started) / (reduced ? Math.max(PER_LAYER, 1500) : PER_LAYER);
  const at = Math.min(running.from + (reduced ? Math.floor(elapsed) : elapsed), last);
  running.at = at;
  view.signal(PLAY, at).runAsync();
  status.textContent = "layer " + names[Math.floor(at)];
  if (at >= last) { stop(); return; }
  running.request = requestAnimationFrame(tick);
}
vegaEmbed("#chart", spec, { actions: false, renderer: "canvas" }).then((result) => {
  view = result.view;
  window.__lseView = view;
  document.getElementById("play").addEventListener("click", () => {
    if (running) return;
    const s = slider();
    const from = s && Number(s.value) < last ? Number(s.value) : 0;
    running = { from, at: from, started: performance.now() };
    running.request = requestAnimationFrame(tick);
  });
  document.getElementById("pause").addEventListener("click", stop);
  document.getElementById("chart").addEventListener("input", () => { if (!running) status.textContent = ""; });
  document.body.dataset.ready = "true";
});
</script></body></html>
"""
)

_SLOTS = re.compile(r"__(TITLE|PROVENANCE|SPEC|NAMES|PLAY|MS|BUNDLE)__")


def offline_chart_html(
    vl_spec: dict[str, Any],
    title: str,
    layer_names: Sequence[str],
    prov: dict[str, Any],
    seconds: float = DEFAULT_SECONDS,
) -> str:
    """The whole page: `vl_spec` (the journey chart with the Play input unbound, see
    `layer_slider.without_play_input`) with its Layer slider, a Play button, and the provenance."""
    params = {p.get("name") for p in vl_spec.get("params", [])}
    if not {LAYER_PARAM, PLAY_PARAM} <= params:
        raise ValueError(
            f"The chart needs its '{LAYER_PARAM}' slider and '{PLAY_PARAM}' input, has {params}."
        )
    parts = {
        "__TITLE__": html.escape(title),
        "__PROVENANCE__": provenance_html(prov),
        "__SPEC__": script_json(vl_spec),
        "__NAMES__": script_json([str(n) for n in layer_names]),
        "__PLAY__": PLAY_PARAM,
        "__MS__": str(int(seconds * 1000)),
    }
    # One pass over the template: what is put in is never searched again (a sentence may say "__SPEC__").
    parts["__BUNDLE__"] = vega_bundle().replace("</script", "<\\/script")
    return _SLOTS.sub(lambda m: parts[m.group(0)], _PAGE)
