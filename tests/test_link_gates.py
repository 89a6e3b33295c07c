"""AppTest: opening a share link does bounded work on every page. What a link asks for beyond a small
first view (a long table, long contexts, long text) waits for one click; the model's run after the click
claims its peak on the server's memory ledger first; a link follows at most 96 tokens (what the journey
follows by default); and one page's hold survives a visit to another page."""

from __future__ import annotations

import pytest
from conftest import APPTEST_TIMEOUT, ROOT, chart_specs, jobs_idle
from streamlit.testing.v1 import AppTest

from explorer.ledger import SessionLedger
from explorer.models import DEFAULT_MODEL_ID
from explorer.senses import parse_sense_lines
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
    """Whether the model read these texts: their states, or their sentence vectors alone (the Fine-tune
    page keeps nothing else), are in the server's caches."""
    key = (DEFAULT_MODEL_ID, tuple(texts))
    return key in caches._STATES or key in caches._POOLED


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.info, *at.warning, *at.error])


def _run_button(at: AppTest, key: str = "link_run"):
    return next(b for b in at.button if b.key == key)


def _small_ledger(monkeypatch, mb: float) -> SessionLedger:
    jobs_idle()
    ledger = SessionLedger(max_bytes=int(mb * 2**20), idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 0.5)
    return ledger


# ---------------------------------------------------------------- one hold per page; a follow cap
def test_a_journey_link_following_1500_tokens_opens_following_the_first_96() -> None:
    text = "\n".join("a." * 120 for _ in range(8))  # under 2,000 characters, but 1,920 word pieces
    assert len(text) <= links.LIGHT_LINK_CHARS and not links.is_light(text)
    at = _open(JOURNEY, {"sentences": text, "follow": list(range(1, 1501))})
    assert not at.exception and not chart_specs(at), "word pieces, not characters alone, decide: it waits"
    assert f"following at most {links.MAX_LINK_FOLLOW}" in _messages(at)
    _run_button(at).click().run()
    assert not at.exception
    assert at.multiselect(key="follow").value == list(range(1, links.MAX_LINK_FOLLOW + 1))
    assert chart_specs(at), "the journey is drawn"


def test_a_link_of_cjk_text_under_the_character_gate_waits_for_a_click() -> None:
    """1,999 characters of CJK over 100 lines are 1,999 word pieces: it ran on opening and sent the page
    3.9 MB (a hostile visitor's link, issue 27). Now it waits, and says how much it would run."""
    line = "漢字かな交じり文の例です、銀行の川岸で会いましょう"[:19]
    text = "\n".join(f"{line[: 19 - len(str(i))]}{i}" for i in range(100))
    assert len(text) == 1_999 and not links.is_light(text)
    at = _open(JOURNEY, {"sentences": text})
    assert not at.exception and not chart_specs(at)
    lines = text.splitlines()
    assert not _cached(lines)
    assert "word pieces" in _messages(at)
    _run_button(at).click().run()
    assert not at.exception and chart_specs(at) and _cached(lines)


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


# ---------------------------------------------------------------- Fine-tune: a long table
def _table(tag: str) -> list[list[str]]:
    return [[_long(tag, i, 120), ("pos", "neg")[i % 2]] for i in range(24)]  # about 2,900 characters


def test_a_fine_tune_link_with_a_long_table_waits_for_a_click() -> None:
    rows = _table("Waiting table")
    texts = [text for text, _ in rows]
    at = _open(FINE_TUNE, {"rows": rows})
    assert not at.exception
    assert at.session_state["ft_rows"]["text"].tolist() == texts, "the link's table is shown"
    assert not chart_specs(at), "no chart: the model did not read the table"
    assert not _cached(texts)
    assert "Nothing heavy starts until you ask" in _messages(at) and "in 24 rows" in _messages(at)
    _run_button(at).click().run()
    assert not at.exception
    assert chart_specs(at) and _cached(texts), "one click shows step 0"
    assert "This is step 0" in _messages(at)


def test_pressing_train_on_a_long_trained_link_is_the_click() -> None:
    rows = _table("Trained table")
    at = _open(FINE_TUNE, {"rows": rows, "trained": True, "steps": 20, "step": 20})
    assert not at.exception and not _cached([text for text, _ in rows])
    assert "This link shows a trained head" in _messages(at)
    next(b for b in at.button if "Train the head" in b.label).click().run()
    assert not at.exception
    assert "Model fingerprint after" in [c.value for c in at.caption], "trained on the one click"
    assert "Nothing heavy starts" not in _messages(at)


def test_the_run_after_the_click_waits_for_room_and_says_when_the_server_is_full(monkeypatch) -> None:
    rows = _table("Crowded table")
    texts = [text for text, _ in rows]
    ledger = _small_ledger(monkeypatch, 600)
    ledger.claim("another-visitor/1", "ft_tuned", 590 * 2**20)  # someone else's tuning in progress
    at = _open(FINE_TUNE, {"rows": rows})
    _run_button(at).click().run()
    assert not at.exception
    assert "server is busy" in _messages(at), _messages(at)
    assert not _cached(texts) and not chart_specs(at), "refused before the model ran"
    assert ledger.total_bytes == 590 * 2**20, "the refused claim holds nothing"
    assert any(b.key == "link_run" for b in at.button), "the table still waits, to click again"
    ledger.release("another-visitor/1")
    at.run()
    assert not chart_specs(at), "a refused run lifted no hold: nothing runs without a click"
    _run_button(at).click().run()
    assert not at.exception and chart_specs(at) and _cached(texts)
    assert ledger.total_bytes == 0, "the claim ended with the run"


def test_a_run_larger_than_the_whole_budget_is_refused_with_its_size(monkeypatch) -> None:
    rows = _table("Oversized table")
    _small_ledger(monkeypatch, 8)
    at = _open(FINE_TUNE, {"rows": rows})
    _run_button(at).click().run()
    assert not at.exception
    said = _messages(at)
    assert "more than the 8 MB this server allows" in said and "Fewer or shorter sentences" in said, said
    assert not _cached([text for text, _ in rows])


# ---------------------------------------------------------------- Geometry lab: long contexts
def test_a_geometry_link_with_long_contexts_waits_in_the_sense_lab() -> None:
    lines = [f"[{('river', 'money')[i % 2]}] The bank {_long('Context', i, 110)}" for i in range(24)]
    sentences = parse_sense_lines("\n".join(lines)).sentences
    at = _open(GEOMETRY, {"word": "bank", "contexts": "\n".join(lines)})
    assert not at.exception
    assert at.tabs, "the small first view (the corpus measures) is shown"
    assert at.text_area(key="sense_text_bank").value == "\n".join(lines)
    assert not _cached(sentences), "the model did not read the contexts"
    assert "Senses separate best at layer" not in [m.label for m in at.metric]
    assert "in 24 contexts" in _messages(at)
    _run_button(at, "sense_link_run").click().run()
    assert not at.exception
    assert _cached(sentences) and "Senses separate best at layer" in [m.label for m in at.metric]


# ---------------------------------------------------------------- Sentence embedding: a full server
def test_the_sentence_page_says_when_the_server_has_no_room_for_its_pass(monkeypatch) -> None:
    """The Sentence page's forward pass is claimed with a message like the other pages' (it ran through
    the cache's quiet claim, whose refusal ended the page with a traceback: seen with eight visitors)."""
    lines = [_long("Full server sentence", i, 300) for i in range(4)]
    _small_ledger(monkeypatch, 1)
    at = _open("pages/2_Sentence_embedding.py", {"sentences": "\n".join(lines)})
    assert not at.exception, at.exception
    assert "more than the 1 MB this server allows" in _messages(at), _messages(at)
    assert not chart_specs(at) and not _cached(lines)
