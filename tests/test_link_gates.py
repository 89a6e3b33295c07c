"""AppTest: opening a share link does bounded work on every page. The model's run after a link's click
claims its peak on the server's memory ledger first; a link follows at most 96 tokens (what the journey
follows by default); and one page's hold survives a visit to another page."""

from __future__ import annotations

import pytest
from conftest import APPTEST_TIMEOUT, ROOT, chart_specs
from streamlit.testing.v1 import AppTest

from explorer.budget import SessionLedger
from explorer.models import DEFAULT_MODEL_ID
from explorer.share import encode_view
from explorer.ui import caches, links, memory

FINE_TUNE = "pages/3_Fine_tune.py"
GEOMETRY = "pages/4_Geometry_lab.py"
JOURNEY = "pages/1_Token_journey.py"
WORDS = "the river bank flooded after the storm while the money in the old vault stayed dry".split()


def _long(tag: str, i: int, chars: int) -> str:
    """A distinct sentence of about `chars` characters (distinct per test: the states cache is shared)."""
    words, k = [f"{tag} {i}:"], 0
    while len(" ".join(words)) < chars:
        words.append(WORDS[(i + k) % len(WORDS)])
        k += 1
    return " ".join(words)


def _open(page: str, state: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=APPTEST_TIMEOUT)
    at.query_params["view"] = encode_view(state)
    return at.run()


def _cached(texts) -> bool:
    return (DEFAULT_MODEL_ID, tuple(texts)) in caches._STATES


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.info, *at.warning, *at.error])


def _run_button(at: AppTest, key: str = "link_run"):
    return next(b for b in at.button if b.key == key)


def _small_ledger(monkeypatch, mb: float) -> SessionLedger:
    ledger = SessionLedger(max_bytes=int(mb * 2**20), idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 0.5)
    return ledger


# ---------------------------------------------------------------- one hold per page; a follow cap
def test_a_journey_link_following_1500_tokens_opens_following_the_first_96() -> None:
    text = "\n".join("a." * 120 for _ in range(8))  # under 2,000 characters, about 1,900 tokens
    assert len(text) <= links.LIGHT_LINK_CHARS
    at = _open(JOURNEY, {"sentences": text, "follow": list(range(1, 1501))})
    assert not at.exception
    assert at.multiselect(key="follow").value == list(range(1, links.MAX_LINK_FOLLOW + 1))
    assert f"following at most {links.MAX_LINK_FOLLOW}" in _messages(at)
    assert chart_specs(at), "the journey is drawn"


@pytest.mark.parametrize("other", [GEOMETRY, FINE_TUNE])
def test_visiting_another_page_keeps_the_journey_waiting(other: str) -> None:
    lines = [_long(f"Journey gate {other}", i, 400) for i in range(6)]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APPTEST_TIMEOUT)
    at.query_params["view"] = encode_view({"sentences": "\n".join(lines)})
    at.run().switch_page(JOURNEY).run()
    assert not chart_specs(at) and not _cached(lines)
    at.switch_page(other).run()
    assert not at.exception
    at.switch_page(JOURNEY).run()
    assert not at.exception
    assert not chart_specs(at) and not _cached(lines), "the journey still waits for its click"
    _run_button(at).click().run()
    assert not at.exception and chart_specs(at) and _cached(lines)


# ---------------------------------------------------------------- the run after the click is claimed
def test_the_journey_run_after_the_click_is_claimed(monkeypatch) -> None:
    lines = [_long("Claimed journey", i, 400) for i in range(6)]
    _small_ledger(monkeypatch, 1)
    at = _open(JOURNEY, {"sentences": "\n".join(lines)})
    _run_button(at).click().run()
    assert not at.exception
    assert "more than the 1 MB this server allows" in _messages(at)
    assert not chart_specs(at) and not _cached(lines)
    assert any(b.key == "link_run" for b in at.button), "it still waits; a later click can run it"
