"""Small timing helpers shared by the benchmark modules."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> dict[str, float]:
    """Run `fn` warmup+repeat times; report the median and the best in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "best_ms": round(min(times), 2)}


# In a page with a Vega view at `window.__lseView` and its Layer slider under `#chart`: move the slider to
# `layer` and wait until the view has redrawn; the milliseconds it took (the offline chart, the lesson pack).
SLIDER_REDRAW_JS = """async (layer) => {
  const s = document.querySelector("#chart .vega-bind input[type='range']");
  const t = performance.now();
  s.value = layer; s.dispatchEvent(new Event("input"));
  await window.__lseView.runAsync();
  return performance.now() - t;
}"""
