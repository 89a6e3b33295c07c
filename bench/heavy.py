"""The heaviest inputs each page accepts from a share link, shared by `bench_peaks` and `bench_crowd`.

Every text reaches the model's 256 word pieces (short pieces: a letter, a digit, a comma), so each
sentence costs what the longest can; each still fits its page's limits, and the whole link fits the
16,000-character token (the texts repeat, so they compress well).
"""

from __future__ import annotations

from explorer.finetune.labelled import MAX_ROWS
from explorer.inputs import MAX_SENTENCES
from explorer.senses import MAX_SENSE_CONTEXTS
from explorer.ui.finetune.link import MAX_LINK_CELL_CHARS
from explorer.ui.geometry import MAX_CONTEXTS_CHARS
from explorer.ui.links import MAX_LINK_TEXT_CHARS

_PIECES = "river bank money storm vault field court bat crane spring".split()


def dense_text(tag: str, chars: int) -> str:
    """About `chars` characters that the tokenizer splits into many pieces ("ba3," is three)."""
    words, k = [f"{tag}:"], 0
    while len(" ".join(words)) < chars:
        words.append(f"{_PIECES[k % len(_PIECES)][:2]}{k % 7},")
        k += 1
    return " ".join(words)[:chars].rstrip()


def fine_tune_rows(tag: str = "crowd") -> list[list[str]]:
    """The Fine-tune page's largest table: 200 rows of 1,000 characters, two labels."""
    return [
        [dense_text(f"{tag} row {i}", MAX_LINK_CELL_CHARS), ("yes", "no")[i % 2]] for i in range(MAX_ROWS)
    ]


def sentence_lines(tag: str = "crowd") -> list[str]:
    """The sentence box's largest text in a link: 100 sentences that fill its 60,000 characters."""
    per_line = MAX_LINK_TEXT_CHARS // MAX_SENTENCES - 1  # and a newline each
    return [dense_text(f"{tag} line {i}", per_line) for i in range(MAX_SENTENCES)]


def sense_contexts(tag: str = "crowd", word: str = "bank") -> list[str]:
    """The Word-sense lab's largest contexts in a link: 80 tagged lines under its 40,000 characters."""
    per_line = MAX_CONTEXTS_CHARS // MAX_SENSE_CONTEXTS - 1
    return [
        f"[{('river', 'money')[i % 2]}] The {word} " + dense_text(f"{tag} context {i}", per_line - 20)
        for i in range(MAX_SENSE_CONTEXTS)
    ]
