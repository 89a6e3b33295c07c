"""Turning what a person typed into sentences the model can take, with plain-language notices."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_SENTENCES = 100
MAX_CHARS_PER_SENTENCE = 20_000
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")


@dataclass(frozen=True)
class ParsedSentences:
    """The sentences to run and what the user should be told about how we got them."""

    sentences: tuple[str, ...]
    n_lines: int
    notices: tuple[str, ...]
    error: str | None = None


def _clean(line: str) -> str:
    """Drop control characters (they carry no meaning for the tokenizer) and surrounding blanks."""
    kept = "".join(ch if unicodedata.category(ch) != "Cc" else " " for ch in line)
    return kept.strip()


def parse_sentences(raw: str, max_sentences: int = MAX_SENTENCES) -> ParsedSentences:
    """One sentence per non-blank line; caps the count and the length, never silently."""
    lines = [_clean(line) for line in (raw or "").splitlines()]
    sentences = [line for line in lines if line]
    if not sentences:
        return ParsedSentences(
            (), 0, (), error="Type at least one sentence, one per line, or pick a sentence set above."
        )
    notices: list[str] = []
    n = len(sentences)
    if n > max_sentences:
        notices.append(
            f"Showing the first {max_sentences} of {n:,} sentences: this page draws at most "
            f"{max_sentences} so every token stays readable. Your text is kept as typed."
        )
        sentences = sentences[:max_sentences]
    long = [i + 1 for i, s in enumerate(sentences) if len(s) > MAX_CHARS_PER_SENTENCE]
    if long:
        sentences = [s[:MAX_CHARS_PER_SENTENCE] for s in sentences]
        notices.append(
            f"{', '.join(f'S{i}' for i in long[:10])}: over {MAX_CHARS_PER_SENTENCE:,} characters, so only the "
            "first ones are read (the model reads far fewer word pieces anyway). Your text is kept as typed."
        )
    return ParsedSentences(tuple(sentences), n, tuple(notices))


def escape_markdown(text: str) -> str:
    """Make user text safe to place inside Streamlit Markdown: shown literally, never rendered."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def shorten(text: str, width: int = 48) -> str:
    """One line, at most `width` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
