"""Play for the Token journey, run by the browser: no server rerun per frame.

The journey chart carries every layer, and a hidden input of its own (`charts.layer_slider.PLAY_PARAM`) says
where Play is, in layers; 2.5 draws every point halfway from its place at layer 2 to its place at layer 3.
This component's buttons move that input many times a second. Streamlit is told nothing while Play runs
(it reports only the chart's Layer slider), so the server learns the layer once, when Play ends or is
paused: the component then sets the Layer slider itself, which reports that one value.

Also here: the keyboard (Alt+P plays, Alt+K pauses, Alt+L focuses the Layer slider), a skip link that
takes the keyboard to the Layer slider, and reduced motion: when the browser asks for it, Play moves
layer by layer without gliding, and holds each layer at least `REDUCED_MOTION_SECONDS`.

Only our own markup goes into the component; the layer names are set as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from explorer.charts.layer_slider import PLAY_PARAM

REDUCED_MOTION_SECONDS = 1.5
FRAME_MS = 50  # at most 20 frames a second are asked of the chart

_HTML = """
<div class="lse-player" role="group" aria-label="Play the journey through the layers">
  <button type="button" class="lse-play" title="Step through every layer to the output (keyboard: Alt+P)">▶ Play</button>
  <button type="button" class="lse-pause" title="Stop at the layer shown (keyboard: Alt+K)">⏸ Pause</button>
  <span class="lse-status" aria-live="polite"></span>
</div>
<a class="lse-skip" href="#">Skip to the chart's Layer slider (Alt+L)</a>
"""

# Scoped to the component's own classes: isolate_styles is off so that its script can reach the chart.
_CSS = """
.lse-player[hidden], .lse-skip[hidden] { display: none !important; }
.lse-player { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; }
.lse-player button {
  font: inherit; font-size: 1rem; line-height: 1.6; padding: 0.25rem 0.9rem; min-height: 2.5rem;
  border-radius: 0.5rem; border: 1px solid rgba(49, 51, 63, 0.3); background: #fff; color: #121110;
  cursor: pointer; flex: 1 1 auto;
}
.lse-player button:hover { border-color: #4f5bd5; color: #3540b0; }
.lse-player button:focus-visible { outline: 3px solid #4f5bd5; outline-offset: 2px; }
.lse-player button[aria-pressed="true"] { border-color: #4f5bd5; background: #eef0ff; }
.lse-status { font-size: 0.9rem; color: #3d3d45; min-width: 7rem; }
.lse-skip { position: absolute; left: -10000px; top: auto; width: 1px; height: 1px; overflow: hidden; }
.lse-skip:focus {
  position: static; width: auto; height: auto; display: inline-block; margin-top: 0.25rem;
  padding: 0.25rem 0.5rem; background: #fff; color: #1f2a9c; outline: 3px solid #4f5bd5;
}
[data-testid="stVegaLiteChart"] .vega-bind:has(input[name="PLAY"]) { display: none; }
""".replace("PLAY", PLAY_PARAM)

_JS = """
const FRAME = "FRAME_NAME";
const FRAME_MS = FRAME_GAP;
const CHART = "[data-testid='stVegaLiteChart']";

function frameInput() {
  return document.querySelector(`${CHART} input[name='${FRAME}']`);
}
function layerInput() {
  const frame = frameInput();
  const chart = frame ? frame.closest(CHART) : null;
  return chart ? chart.querySelector(`.vega-bind input[type='range']:not([name='${FRAME}'])`) : null;
}
function setFrame(value) {
  const frame = frameInput();
  if (!frame) return false;
  frame.value = value;
  frame.dispatchEvent(new Event("input"));
  return true;
}
function showLayer(layer) {  // move the Layer slider's thumb without telling anyone
  const slider = layerInput();
  if (!slider) return;
  slider.value = layer;
  if (slider.nextElementSibling) slider.nextElementSibling.textContent = layer;
}
function reportLayer(layer) {  // the one message the server gets: the Layer slider reports itself
  const slider = layerInput();
  if (!slider) return;
  slider.value = layer;
  slider.dispatchEvent(new Event("input"));
}

if (!window.__lseKeys) {  // once per page: the shortcuts act on whichever player is on screen
  window.__lseKeys = true;
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.code === "KeyL") {
      const slider = layerInput();
      if (slider) { event.preventDefault(); slider.focus(); }
      return;
    }
    const button = event.code === "KeyP" ? ".lse-play" : event.code === "KeyK" ? ".lse-pause" : null;
    const target = button ? document.querySelector(`.lse-player:not([hidden]) ${button}`) : null;
    if (target) { event.preventDefault(); target.click(); }
  });
}

export default function (component) {
  const { parentElement } = component;
  // Streamlit calls this again whenever the data changes (the layer does on every slider move), and the
  // cleanup only when the element goes: set up once per element, then only take the new data.
  if (parentElement.__lse) {
    parentElement.__lse.update(component.data);
    return parentElement.__lse.cleanup;
  }
  let data = component.data;
  const play = parentElement.querySelector(".lse-play");
  const pause = parentElement.querySelector(".lse-pause");
  const status = parentElement.querySelector(".lse-status");
  const skip = parentElement.querySelector(".lse-skip");
  const player = parentElement.querySelector(".lse-player");
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  let last, names, perLayer;
  const stats = (window.__lsePlay = window.__lsePlay || { plays: 0, frames: 0, reports: 0 });
  let running = null;  // {from, started, shown, sent}

  const name = (layer) => `layer ${names[layer] ?? layer}`;
  const idle = () => reduced ? "Reduced motion: layer by layer" : "";
  function take(next) {
    data = next;
    last = data.layers;
    names = data.names;
    perLayer = 1000 * (reduced ? Math.max(data.seconds, data.reducedSeconds) : data.seconds);
    player.hidden = data.role === "skip";
    skip.hidden = data.role !== "skip";
  }
  take(data);
  status.textContent = idle();

  function stop(report) {
    if (!running) return;
    const layer = Math.min(Math.floor(running.shown), last);
    cancelAnimationFrame(running.request);
    running = null;
    play.setAttribute("aria-pressed", "false");
    if (report) { reportLayer(layer); stats.reports += 1; }
    setFrame(-1);
    status.textContent = reduced ? `${name(layer)} · ${idle()}` : name(layer);
  }
  function tick(now) {
    if (!running) return;
    const elapsed = (now - running.started) / perLayer;
    let at = running.from + (reduced ? Math.floor(elapsed) : elapsed);
    if (at >= last) at = last;
    if (now - running.sent >= FRAME_MS || at === last) {
      running.sent = now;
      if (Math.floor(at) !== Math.floor(running.shown)) {
        showLayer(Math.floor(at));
        status.textContent = name(Math.floor(at));
      }
      running.shown = at;
      if (setFrame(at)) stats.frames += 1;
    }
    if (at === last) { stop(true); return; }
    running.request = requestAnimationFrame(tick);
  }
  function start() {
    if (running || !frameInput()) return;
    const slider = layerInput();
    const current = slider ? Number(slider.value) : 0;
    const from = current >= last ? 0 : current;  // like a media player: resume, or start over at the end
    running = { from, started: performance.now(), shown: from, sent: -Infinity, request: 0 };
    stats.plays += 1;
    play.setAttribute("aria-pressed", "true");
    showLayer(from);
    status.textContent = name(from);
    running.request = requestAnimationFrame(tick);
  }
  const onUserSlide = (event) => {  // the user took the Layer slider over: it reports itself
    if (event.isTrusted && running && event.target === layerInput()) stop(false);
  };
  const onPause = () => stop(true);
  const onSkip = (event) => {
    event.preventDefault();
    const slider = layerInput();
    if (slider) { slider.focus(); slider.scrollIntoView({ block: "center" }); }
  };
  // When Streamlit builds the chart's view anew (full screen, or the chart remounted) it redraws the layer
  // last reported (it restores the selection), but the new view's slider, thumb and value, starts where the
  // spec says. Left so, the slider ignores a move to that value (Vega sees no change): Play ending on the
  // output, or a click at the slider's end, would leave the chart on the old layer. So each new slider is
  // set to the layer the server knows (the one drawn) through its own input, a few times over its first two
  // seconds (Vega may set the thumb late), until a person moves it; a slider on screen is never moved.
  const sliders = (window.__lseSliders = window.__lseSliders || new WeakSet());
  let pending = false;
  function alignNewSlider() {
    pending = false;
    const slider = layerInput();
    if (!slider || sliders.has(slider) || data.role !== "player") return;
    sliders.add(slider);
    let touched = false, aligning = false;
    slider.addEventListener("input", () => { if (!aligning) touched = true; });  // a person, or Pause
    for (const wait of [0, 150, 400, 1000, 2000]) {
      setTimeout(() => {
        if (touched || running || !slider.isConnected || Number(slider.value) === data.layer) return;
        aligning = true;
        reportLayer(data.layer);  // the layer the chart draws: the view's slider now agrees with it
        aligning = false;
        stats.aligned = (stats.aligned || 0) + 1;
      }, wait);
    }
  }
  const watcher = new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(alignNewSlider); }
  });
  watcher.observe(document.body, { childList: true, subtree: true });
  alignNewSlider();
  play.addEventListener("click", start);
  pause.addEventListener("click", onPause);
  skip.addEventListener("click", onSkip);
  document.addEventListener("input", onUserSlide, true);
  const cleanup = () => {
    stop(true);
    watcher.disconnect();
    play.removeEventListener("click", start);
    pause.removeEventListener("click", onPause);
    skip.removeEventListener("click", onSkip);
    document.removeEventListener("input", onUserSlide, true);
    delete parentElement.__lse;
  };
  parentElement.__lse = { update: (next) => { if (!running) take(next); else data = { ...data, layer: next.layer }; }, cleanup };
  return cleanup;
}
""".replace("FRAME_NAME", PLAY_PARAM).replace("FRAME_GAP", str(FRAME_MS))

_COMPONENT = st.components.v2.component(
    "lse_layer_player", html=_HTML, css=_CSS, js=_JS, isolate_styles=False
)


def player(layer_names: Sequence[str], seconds_per_layer: float, layer: int) -> None:
    """▶ Play and ⏸ Pause for the journey chart on this page, with a live line naming the layer.
    `layer`: the layer the chart draws (a rebuilt chart's new slider is put there)."""
    _COMPONENT(
        key="layer_player",
        data={
            "role": "player",
            "layer": int(layer),
            "layers": len(layer_names) - 1,
            "names": [str(n) for n in layer_names],
            "seconds": float(seconds_per_layer),
            "reducedSeconds": REDUCED_MOTION_SECONDS,
        },
    )


def skip_link() -> None:
    """A link, hidden until the keyboard reaches it, that moves the focus to the chart's Layer slider."""
    _COMPONENT(key="layer_skip", data={"role": "skip", "layers": 0, "names": [], "seconds": 1.0,
                                       "reducedSeconds": REDUCED_MOTION_SECONDS})  # fmt: skip
