"""Reading the bundled sentence sets and limits on what users type, from `assets/`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SENTENCE_SETS_FILE = ASSETS / "sentence_sets.json"
DEFAULT_SET = "Word senses: bank"


@dataclass(frozen=True)
class SentenceSet:
    name: str
    about: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        """The set as the editor shows it: one sentence per line."""
        return "\n".join(self.sentences)


@cache
def sentence_sets() -> dict[str, SentenceSet]:
    """All bundled sentence sets by name, in file order."""
    raw = json.loads(SENTENCE_SETS_FILE.read_text(encoding="utf-8"))
    return {
        name: SentenceSet(name=name, about=entry["about"], sentences=tuple(entry["sentences"]))
        for name, entry in raw.items()
    }


def sentence_set(name: str) -> SentenceSet:
    sets = sentence_sets()
    if name not in sets:
        raise ValueError(f"Unknown sentence set: {name}. Valid sets: {list(sets)}")
    return sets[name]


LESSONS_FILE = ASSETS / "lessons.json"


@dataclass(frozen=True)
class Lesson:
    """A 'predict, then reveal' question tied to a page and, optionally, a view of that page."""

    id: str
    page: str
    title: str
    question: str
    answer: str
    view: dict


@cache
def lessons() -> tuple[Lesson, ...]:
    raw = json.loads(LESSONS_FILE.read_text(encoding="utf-8"))
    return tuple(Lesson(**entry) for entry in raw)


def lessons_for(page: str) -> tuple[Lesson, ...]:
    return tuple(lesson for lesson in lessons() if lesson.page == page)
