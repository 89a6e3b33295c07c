"""Every reader of `assets/`: sentence sets, lessons, labelled sets, the two corpora, word senses, stop words.

Files are read once per process (`functools.cache`) and returned as frozen values, so callers share them
safely. Nothing here knows what the data is for; the modules that use it (`senses`, `index`, the pages)
give it meaning.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SENTENCE_SETS_FILE = ASSETS / "sentence_sets.json"
LESSONS_FILE = ASSETS / "lessons.json"
LABELLED_SETS_FILE = ASSETS / "labelled_sets.json"
CORPUS_FILE = ASSETS / "corpus.csv"
GEOMETRY_CORPUS_FILE = ASSETS / "geometry_corpus.txt"
SENSES_FILE = ASSETS / "word_senses.json"
STOPWORDS_FILE = ASSETS / "stopwords.txt"
PRECOMPUTED = ASSETS / "precomputed"  # see explorer/precomputed.py

DEFAULT_SET = "Word senses: bank"
DEFAULT_QUERY = "Which planet has rings you can see with a telescope?"  # the search index's first query
# The home page's demo: two sentences and the word they share.
HOME_DEMO = ("I opened an account at the bank.", "We sat on the bank of the river.", "bank")
DEFAULT_LABELLED_SET = "Sentiment across topics"
T = TypeVar("T")


# ---------------------------------------------------------------- sentence sets (every page's presets)
@dataclass(frozen=True)
class SentenceSet:
    name: str
    about: str
    sentences: tuple[str, ...]
    groups: tuple[str, ...] = ()  # one per sentence, or none

    @property
    def text(self) -> str:
        """The set as the editor shows it: one sentence per line, each after its [group] if it has one."""
        if not self.groups:
            return "\n".join(self.sentences)
        return "\n".join(f"[{g}] {s}" if g else s for g, s in zip(self.groups, self.sentences, strict=True))


@cache
def sentence_sets() -> dict[str, SentenceSet]:
    """All bundled sentence sets by name, in file order."""
    raw = json.loads(SENTENCE_SETS_FILE.read_text(encoding="utf-8"))
    return {
        name: SentenceSet(
            name=name,
            about=entry["about"],
            sentences=tuple(entry["sentences"]),
            groups=tuple(entry.get("groups", ())),
        )
        for name, entry in raw.items()
    }


def sentence_set(name: str) -> SentenceSet:
    return _named(sentence_sets(), name, "sentence set")


# ---------------------------------------------------------------- lessons
@dataclass(frozen=True)
class Lesson:
    """A 'predict, then reveal' question tied to a page and the view of that page it needs.

    `hides` names the page elements that would give the answer away; the page leaves them out until
    the answer is revealed. `idea` is which of the app's five ideas the lesson teaches (1–5).
    """

    id: str
    page: str
    title: str
    question: str
    answer: str
    view: dict
    idea: int = 0
    teacher_notes: str = ""
    hides: tuple[str, ...] = ()
    pick_prompt: str = "Your prediction"  # what the student commits to before Reveal
    pick_options: tuple[str, ...] = ()
    measure: str = ""  # the live measurement shown beside the pick after Reveal ('' : none)
    answer_words: tuple[str, ...] = ()  # words of the answer that must not be on screen before Reveal


@cache
def lessons() -> tuple[Lesson, ...]:
    raw = json.loads(LESSONS_FILE.read_text(encoding="utf-8"))
    out = []
    for entry in raw:
        entry = dict(entry)
        pick = entry.pop("pick", {})
        hides, words = entry.pop("hides", ()), entry.pop("answer_words", ())
        out.append(
            Lesson(
                **entry,
                hides=tuple(hides),
                answer_words=tuple(words),
                pick_prompt=pick.get("prompt", "Your prediction"),
                pick_options=tuple(pick.get("options", ())),
            )
        )
    return tuple(out)


def lessons_for(page: str) -> tuple[Lesson, ...]:
    return tuple(lesson for lesson in lessons() if lesson.page == page)


# ---------------------------------------------------------------- labelled sets (Fine-tune presets)
@dataclass(frozen=True)
class PresetSet:
    """A bundled labelled set: (text, label) rows and a line about what it shows."""

    name: str
    about: str
    rows: tuple[tuple[str, str], ...]


@cache
def labelled_sets() -> dict[str, PresetSet]:
    """The bundled labelled sets by name, in file order."""
    raw = json.loads(LABELLED_SETS_FILE.read_text(encoding="utf-8"))
    return {
        name: PresetSet(name, entry["about"], tuple((str(t), str(lab)) for t, lab in entry["rows"]))
        for name, entry in raw.items()
    }


def labelled_set(name: str) -> PresetSet:
    return _named(labelled_sets(), name, "labelled set")


def _named(sets: dict[str, T], name: str, kind: str) -> T:
    if name not in sets:
        raise ValueError(f"Unknown {kind}: {name}. Valid sets: {list(sets)}")
    return sets[name]


# ---------------------------------------------------------------- corpora
@dataclass(frozen=True)
class Corpus:
    """The bundled retrieval sentences and a topic label for each."""

    texts: tuple[str, ...]
    topics: tuple[str, ...]


@cache
def bundled_corpus() -> Corpus:
    """`assets/corpus.csv` (text, topic): 220 sentences written for this project, 22 in each of ten topics."""
    with CORPUS_FILE.open(encoding="utf-8", newline="") as handle:
        rows = [(r["text"].strip(), r["topic"].strip()) for r in csv.DictReader(handle) if r["text"].strip()]
    return Corpus(tuple(r[0] for r in rows), tuple(r[1] for r in rows))


@cache
def geometry_corpus() -> tuple[str, ...]:
    """The measurement corpus of the Geometry lab: varied everyday sentences, one per line."""
    lines = GEOMETRY_CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())


# ---------------------------------------------------------------- word senses and stop words
@cache
def word_senses() -> dict[str, tuple[tuple[str, str], ...]]:
    """The bundled ambiguous words: word → (sense, sentence) pairs, grouped by sense, in file order."""
    raw = json.loads(SENSES_FILE.read_text(encoding="utf-8"))
    return {
        word: tuple((sense, s) for sense, sentences in entry["senses"].items() for s in sentences)
        for word, entry in raw["words"].items()
    }


@cache
def stopwords() -> frozenset[str]:
    """Words too common to follow by default (lower case); '#' lines are comments."""
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


# ---------------------------------------------------------------- stored first-view states
def read_stored_arrays(folder: Path = PRECOMPUTED) -> tuple[dict, StoredArrays] | None:
    """`index.json` and the arrays of `states.npz` in `folder` (each read when asked for), or None when
    either cannot be read."""
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        with np.load(folder / "states.npz", allow_pickle=False) as stored:
            names = frozenset(stored.files)
    except (OSError, ValueError):
        return None
    return index, StoredArrays(folder / "states.npz", names)


@dataclass(frozen=True)
class StoredArrays:
    """The arrays of one `.npz` file by name, each read from the file when asked for: a page's first view
    reads the one set of states it draws, not the whole 16 MB file."""

    path: Path
    names: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        with np.load(self.path, allow_pickle=False) as stored:
            return stored[name]


def write_stored_arrays(index: dict, arrays: dict[str, np.ndarray], folder: Path = PRECOMPUTED) -> Path:
    """Write what `read_stored_arrays` reads; returns the arrays' file."""
    folder.mkdir(parents=True, exist_ok=True)
    # Stored, not compressed: hidden states are float32 noise to zlib (15.97 MB plain against 14.64 MB
    # compressed), and reading the Geometry lab's 877 tokens took 48 ms compressed, 5 ms plain.
    np.savez(folder / "states.npz", **arrays)
    (folder / "index.json").write_text(
        json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return folder / "states.npz"
