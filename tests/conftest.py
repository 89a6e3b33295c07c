"""Shared fixtures: the real bundled model (small and fast), and helpers to read AppTest charts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

APPTEST_TIMEOUT = 120
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model():
    from explorer.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def bank_states(model):
    from explorer.assets import sentence_set
    from explorer.states import extract_states

    return extract_states(model, sentence_set("Word senses: bank").sentences)


def chart_specs(at) -> list[dict]:
    """Every Vega-Lite chart an AppTest run drew, as {'spec': dict, 'datasets': {name: DataFrame}}."""
    charts = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        datasets = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in proto.datasets}
        charts.append({"spec": json.loads(proto.spec), "datasets": datasets})
    return charts


def chart_rows(chart: dict) -> pd.DataFrame:
    """All rows of all datasets of one chart, stacked."""
    frames = list(chart["datasets"].values())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def open_page(page: str | None = None) -> AppTest:
    """Start the app at its real entry point (app.py), then switch to `page` (e.g. 'pages/1_Token_journey.py')."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APPTEST_TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    return at


def scatter_layers(spec: dict) -> list[dict]:
    """The layers of a chart's main view: the chart itself, or the first view of a vertical stack (the
    Token journey stacks its full-space readout under the scatter)."""
    if "layer" in spec:
        return spec["layer"]
    return spec.get("vconcat", [{}])[0].get("layer", [])


def layer_name(layer: dict) -> str:
    """A layer's name as its builder gave it (Altair suffixes '_0' to names inside a stack of views)."""
    name = str(layer.get("name", ""))
    stem, _, tail = name.rpartition("_")
    return stem if stem and tail.isdigit() else name
