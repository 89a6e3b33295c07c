"""Turning what a person typed into sentences the model can take, with plain-language notices."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_SENTENCES = 100
MAX_CHARS_PER_SENTENCE = 20_000
MAX_GROUP_CHARS = 40
# A line may start with its group in square brackets: "[money] She deposited her salary at the bank."
_GROUP_TAG = re.compile(rf"^\[([^\[\]]{{1,{MAX_GROUP_CHARS}}})\]\s*(.*)$")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")


@dataclass(frozen=True)
class ParsedSentences:
    """The sentences to run and what the user should be told about how we got them."""

    sentences: tuple[str, ...]
    n_lines: int
    notices: tuple[str, ...]
    error: str | None = None
    groups: tuple[str, ...] = ()  # one per sentence ("" for none) when groups were read, else empty

    def group_of(self, i: int) -> str:
        return self.groups[i] if self.groups else ""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc): these 65


def clean_line(line: str) -> str:
    """Drop control characters (they carry no meaning for the tokenizer) and surrounding blanks.

    A line of nothing but invisible format characters (zero-width spaces, joiners) counts as blank;
    inside text they stay (a joiner is part of an emoji).
    """
    kept = _CONTROL.sub(" ", line).strip()
    visible = any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in kept)  # stops at the first
    return kept if visible else ""


def split_group(line: str) -> tuple[str, str]:
    """('money', 'She deposited…') from '[money] She deposited…'; ('', line) without a tag."""
    match = _GROUP_TAG.match(line)
    if not match:
        return "", line
    return " ".join(match.group(1).split()), match.group(2).strip()


def parse_sentences(
    raw: str, max_sentences: int = MAX_SENTENCES, with_groups: bool = False
) -> ParsedSentences:
    """One sentence per non-blank line; caps the count and the length, never silently.

    With `with_groups`, a line may start with its group in square brackets ("[river] We sat on the
    bank."): the tag names the group and is not part of the sentence the model reads.
    """
    lines = [clean_line(line) for line in (raw or "").splitlines()]
    lines = [line for line in lines if line]
    tagged = [split_group(line) if with_groups else ("", line) for line in lines]
    tagged = [(group, text) for group, text in tagged if clean_line(text)]
    sentences = [text for _, text in tagged]
    groups = [group for group, _ in tagged]
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
        sentences, groups = sentences[:max_sentences], groups[:max_sentences]
    long = [i + 1 for i, s in enumerate(sentences) if len(s) > MAX_CHARS_PER_SENTENCE]
    if long:
        sentences = [s[:MAX_CHARS_PER_SENTENCE] for s in sentences]
        notices.append(
            f"{', '.join(f'S{i}' for i in long[:10])}: over {MAX_CHARS_PER_SENTENCE:,} characters, so only the "
            "first ones are read (the model reads far fewer word pieces anyway). Your text is kept as typed."
        )
    return ParsedSentences(tuple(sentences), n, tuple(notices), groups=tuple(groups) if any(groups) else ())


def escape_markdown(text: str) -> str:
    """Make user text safe to place inside Streamlit Markdown: shown literally, never rendered."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def shorten(text: str, width: int = 48) -> str:
    """One line, at most `width` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


# The bundled model's tokenizer (BERT's uncased word pieces) keeps common Latin words whole and splits the
# rest: a word in Latin letters is about one piece per five letters; CJK, Cyrillic, Arabic and most other
# scripts come out about a piece a character, as do punctuation marks and symbols.
_PIECES = re.compile(r"[A-Za-z\u00c0-\u024f]+|\d+|\S")


def estimated_pieces(text: str) -> int:
    """About how many word pieces `text` makes, without a tokenizer, erring high: what the model's work
    grows with, where characters mislead (2,000 characters of CJK are 2,000 pieces, of English about
    450). On the bundled corpus, the presets and other scripts it gives 0.85-1.7 times the tokenizer's
    count: a Latin word one piece per five letters (rounded up), a number one per three digits, any
    other character that is not a space one."""
    count = 0
    for match in _PIECES.finditer(text):
        run = match.group(0)
        count += -(-len(run) // 3) if run.isdigit() else -(-len(run) // 5)
    return count
