"""The README's public-server section lists every setting the code reads, and every limit a visitor
meets, in one table (issue 27): a setting added to the code and not to the table fails here."""

from __future__ import annotations

import re

from conftest import ROOT

from explorer import inputs, share
from explorer.finetune import head_file, labelled
from explorer.index import MAX_INDEX_SENTENCES
from explorer.ui import memory
from explorer.ui.journey.view import MAX_SHOWN_TOKENS
from explorer.ui.links import LIGHT_LINK_CHARS


def _table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("Every setting and every limit, in one table")
    return text[start : text.index("\n\n", text.index("| --- |", start))]


def test_every_environment_setting_the_code_reads_is_in_the_table() -> None:
    read = set()
    for path in [*(ROOT / "explorer").rglob("*.py"), ROOT / "app.py", *(ROOT / "pages").glob("*.py")]:
        read |= set(re.findall(r'"(LSE_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    assert len(read) >= 10
    table = _table()
    assert {name for name in read if f"`{name}`" not in table} == set()


def test_the_tables_limits_are_the_codes() -> None:
    table = _table()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert f"| {memory.DEFAULT_SERVER_MB:,} |" in rows["`LSE_SERVER_MEMORY_MB`"]
    assert f"| {memory.DEFAULT_MEMORY_MB} |" in rows["`LSE_SESSION_MEMORY_MB`"]
    assert f"{memory.WAIT_SECONDS} s" in rows["waiting for room"]
    assert f"{inputs.MAX_SENTENCES}," in rows["sentences in the box"]
    assert f"{inputs.MAX_CHARS_PER_SENTENCE:,} characters" in rows["sentences in the box"]
    assert f"{share.MAX_TOKEN_CHARS:,} characters" in rows["a share link"]
    assert f"over {LIGHT_LINK_CHARS:,} characters" in rows["a share link"]
    assert f"{MAX_SHOWN_TOKENS:,}" in rows["tokens drawn"]
    assert f"{MAX_INDEX_SENTENCES:,} sentences a visitor" in rows["the search index"]
    assert f"{labelled.MAX_ROWS} rows" in rows["the Fine-tune table"]
    assert f"{head_file.MAX_UPLOAD_BYTES // 1_000_000} MB" in rows["a head file"]
