"""What does this token mean here? Its nearest tokens-in-context from a corpus, at every layer.

The bundled MiniLM has no trained vocabulary head, so a vocabulary readout would be noise beyond layer 0.
Nearest neighbours stay inside the model's own space: the corpus's content words (the project's own
sentences and, where Debian's `wordnet-base` is installed, WordNet 3.0's example sentences, each tagged
with its synset) are run through the model once, every layer of each kept (float16, memory-mapped), and
a followed token's vector at a layer is compared with all of them.

Raw cosine in these models is dominated by a few dimensions of huge variance and by anisotropy, so by
default each layer is standardised first: every dimension centred and scaled over the corpus at that
layer (Timkey & van Schijndel, EMNLP 2021); raw cosine is an option. Each layer carries its baseline:
the mean similarity of random pairs of corpus tokens from different sentences, by the same measure. The
float16 copy only ranks candidates: every similarity a page shows is computed again in float64 from the
neighbour's exact vector (`exact_similarity`). Where meaning emerges: `explorer.meaning_emergence`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer import assets
from explorer.inputs import parse_sentences
from explorer.states import extract_states

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

FORMAT = 1
WORDNET_ENV = "LSE_WORDNET_DIR"  # where WordNet's data files are (Debian's wordnet-base by default)
CACHE_ENV = "LSE_CACHE_DIR"  # where built indexes are kept (a user cache folder by default)
MAX_WORDNET_SENTENCES = 7_000  # with the project's sentences, about 25,000 content words
CHUNK_SENTENCES = 256  # sentences run through the model at a time while an index is built
BASELINE_PAIRS = 4_000
FLAT = 1e-6  # a dimension whose spread is below this share of the layer's median is left out
MIN_WORDS, MAX_WORDS = 4, 30  # WordNet examples kept: whole sentences of this many words
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class MeaningCorpus:
    """Sentences to find neighbours in, where each came from and, when known, the sense of one of its words."""

    texts: tuple[str, ...]
    sources: tuple[str, ...]  # "project" or "WordNet"
    lemmas: tuple[str, ...]  # the word whose sense is known ("" if none)
    senses: tuple[str, ...]  # that sense: a short gloss or the project's sense name ("" if none)

    @property
    def key(self) -> str:
        """A hash of the texts: an index built from other texts is not this corpus's."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8") + b"\n")
        return digest.hexdigest()[:16]


def wordnet_folder() -> Path:
    return Path(os.environ.get(WORDNET_ENV, "/usr/share/wordnet"))


def _wordnet_examples(folder: Path) -> list[tuple[str, str, str]]:
    """(example, lemma, gloss) for every quoted example in WordNet's data files whose synset has a word
    that the example contains as a whole word (its sense is then that synset's)."""
    found = []
    for part in ("noun", "verb", "adj", "adv"):
        path = folder / f"data.{part}"
        if not path.is_file():
            continue
        with path.open(encoding="latin-1") as handle:
            for line in handle:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                if len(fields) < 5:
                    continue
                count = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].replace("_", " ").split("(")[0] for i in range(count)]
                definition = gloss.split(";")[0].strip().strip('"')
                for example in re.findall(r'"([^"]+)"', gloss):
                    example = example.strip()
                    if not MIN_WORDS <= len(example.split()) <= MAX_WORDS:
                        continue
                    lower = example.lower()
                    lemma = next((w for w in lemmas if re.search(rf"\b{re.escape(w.lower())}\b", lower)), "")
                    if lemma:
                        found.append((example, lemma.lower(), f"{part}: {definition}"[:90]))
    return found


def _project_sentences() -> list[tuple[str, str, str]]:
    rows = [(text, "", "") for text in assets.bundled_corpus().texts]
    rows += [(text, "", "") for text in assets.geometry_corpus()]
    for word, pairs in assets.word_senses().items():
        rows += [(text, word, sense) for sense, text in pairs]
    for preset in assets.sentence_sets().values():
        rows += [(text, "", "") for text in parse_sentences(preset.text, with_groups=True).sentences]
    return rows


def meaning_corpus(folder: str | None = None, limit: int = MAX_WORDNET_SENTENCES) -> MeaningCorpus:
    """The project's sentences, then up to `limit` WordNet examples from `folder` (by default
    `wordnet_folder()`): first those of words with two senses that each have two examples or more, then a
    fixed pseudo-random sample of the rest (the same on every machine with the same WordNet); no repeats."""
    return _corpus(str(folder or wordnet_folder()), limit)


@cache
def _corpus(folder: str, limit: int) -> MeaningCorpus:
    rows = [(*row, "project") for row in _project_sentences()]
    examples = _wordnet_examples(Path(folder))
    examples.sort(key=lambda e: hashlib.md5(e[0].encode("utf-8")).hexdigest())
    # First every example of a word with two senses or more that each have two examples or more (about 3,500
    # of WordNet's: the labelled set `sense_agreement` measures on), then the rest in the same fixed order.
    per_sense: dict[str, dict[str, int]] = {}
    for _, lemma, sense in examples:
        per_sense.setdefault(lemma, {}).setdefault(sense, 0)
        per_sense[lemma][sense] += 1
    labelled = {lemma for lemma, counts in per_sense.items() if sum(c >= 2 for c in counts.values()) >= 2}
    examples.sort(key=lambda e: e[1] not in labelled)  # stable: the fixed order within each part
    rows += [(*row, "WordNet") for row in examples[:limit]]
    seen, kept = set(), []
    for text, lemma, sense, source in rows:
        if text not in seen:
            seen.add(text)
            kept.append((text, lemma, sense, source))
    return MeaningCorpus(
        tuple(r[0] for r in kept),
        tuple(r[3] for r in kept),
        tuple(r[1] for r in kept),
        tuple(r[2] for r in kept),
    )


def content_mask(tokens: pd.DataFrame, stop: frozenset[str]) -> np.ndarray:
    """Tokens that are a whole word of letters (one word piece), two letters or more, not a stop word."""
    text = tokens["text"].astype(str)
    word = tokens["word_id"]
    pieces = tokens.groupby([tokens["sentence"], word.fillna(-1)])["position"].transform("size")
    lower = text.str.lower()
    return (
        ~tokens["special"].to_numpy(bool)
        & word.notna().to_numpy()
        & (pieces == 1).to_numpy()
        & text.str.fullmatch(r"[^\W\d_]{2,}").to_numpy(bool)
        & ~lower.isin(stop).to_numpy()
    )


# ---------------------------------------------------------------- the index
@dataclass(frozen=True)
class MeaningIndex:
    """Every layer of a corpus's content tokens for one model (read-only, memory-mapped)."""

    folder: Path
    vectors: np.ndarray  # (L+1, N, D) float16, memory-mapped
    sentence: np.ndarray  # (N,) the corpus sentence of each token
    position: np.ndarray  # (N,) its position in that sentence (the model's tokens)
    words: tuple[str, ...]  # (N,) its text as written
    mean: np.ndarray  # (L+1, D) float64: each dimension's mean over the corpus, per layer
    scale: np.ndarray  # (L+1, D) float64: its standard deviation (inf: it does not vary, left out)
    norm_raw: np.ndarray  # (L+1, N) float32: each stored vector's length
    norm_std: np.ndarray  # (L+1, N) float32: its length once standardised
    baseline_raw: np.ndarray  # (L+1,) mean raw cosine of random pairs from different sentences
    baseline_std: np.ndarray  # (L+1,) the same, standardised
    corpus: MeaningCorpus
    meta: dict

    @property
    def n_tokens(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def nbytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


def cache_root() -> Path:
    base = os.environ.get(CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "latent-space-explorer" / "meaning"


def index_folder(fingerprint: str, corpus: MeaningCorpus, root: Path | None = None) -> Path:
    """Where the index of this model (by its weights' fingerprint) over this corpus is kept."""
    return (root or cache_root()) / f"{fingerprint[:16]}-{corpus.key}"


def read_index(folder: Path, corpus: MeaningCorpus) -> MeaningIndex | None:
    """The index in `folder`, or None when it is missing, unfinished or of another corpus or format."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("corpus") != corpus.key or not meta.get("complete"):
            return None
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        with np.load(folder / "tables.npz", allow_pickle=False) as tables:
            arrays = {name: tables[name] for name in tables.files}
    except (OSError, ValueError, KeyError):
        return None
    return MeaningIndex(
        folder, vectors, arrays["sentence"], arrays["position"], tuple(str(w) for w in arrays["words"]),
        arrays["mean"], arrays["scale"], arrays["norm_raw"], arrays["norm_std"], arrays["baseline_raw"],
        arrays["baseline_std"], corpus, meta,
    )  # fmt: skip


def build_index(model: SentenceTransformer, fingerprint: str, corpus: MeaningCorpus, folder: Path,
                progress: ProgressFn | None = None, chunk: int = CHUNK_SENTENCES) -> MeaningIndex:  # fmt: skip
    """Run `corpus` through `model` `chunk` sentences at a time and keep every layer of its content tokens
    in `folder` (float16), with each layer's standardisation and baseline. Written under a temporary name
    and renamed when complete, so a reader never sees half an index."""
    stop = assets.stopwords()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = folder.with_name(folder.name + f".building-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    parts, sentence, position, words = [], [], [], []
    total, sums, squares = 0, None, None
    texts = corpus.texts
    for start in range(0, len(texts), chunk):
        states = extract_states(model, texts[start : start + chunk])
        keep = content_mask(states.tokens, stop)
        layers = states.layers[:, keep, :]  # (L+1, n, D) float32
        part = work / f"part{len(parts):04d}.npy"
        np.save(part, layers.astype(np.float16))
        parts.append((part, layers.shape[1]))
        chosen = states.tokens[keep]
        sentence += (chosen["sentence"].to_numpy() + start).tolist()
        position += chosen["position"].tolist()
        words += chosen["text"].astype(str).tolist()
        wide = layers.astype(np.float64)
        sums = wide.sum(axis=1) if sums is None else sums + wide.sum(axis=1)
        squares = (wide**2).sum(axis=1) if squares is None else squares + (wide**2).sum(axis=1)
        total += layers.shape[1]
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    if not total:
        raise ValueError("The corpus has no content words to index.")
    n_layers, dim = sums.shape
    vectors = np.lib.format.open_memmap(work / "vectors.npy", mode="w+", dtype=np.float16,
                                        shape=(n_layers, total, dim))  # fmt: skip
    at = 0
    for part, n in parts:
        vectors[:, at : at + n, :] = np.load(part)
        part.unlink()
        at += n
    vectors.flush()
    mean = sums / total
    spread = np.sqrt(np.maximum(squares / total - mean**2, 0.0))
    # A dimension that does not vary over the corpus carries nothing to compare (MiniLM's output layer has
    # one, a LayerNorm weight of zero): an infinite scale leaves it out of the standardised cosine.
    scale = np.where(spread > FLAT * np.median(spread, axis=1, keepdims=True), spread, np.inf)
    norm_raw = np.empty((n_layers, total), dtype=np.float32)
    norm_std = np.empty((n_layers, total), dtype=np.float32)
    for layer in range(n_layers):
        for at in range(0, total, 4096):  # a block of rows at a time: the whole layer in float64 is ~90 MB
            x = np.asarray(vectors[layer, at : at + 4096], dtype=np.float64)
            norm_raw[layer, at : at + 4096] = np.linalg.norm(x, axis=1)
            norm_std[layer, at : at + 4096] = np.linalg.norm((x - mean[layer]) / scale[layer], axis=1)
    sentence_of = np.asarray(sentence, dtype=np.int32)
    baseline_raw, baseline_std = _baselines(vectors, sentence_of, mean, scale)
    np.savez(
        work / "tables.npz", sentence=sentence_of, position=np.asarray(position, dtype=np.int32),
        words=np.asarray(words, dtype=str), mean=mean, scale=scale, norm_raw=norm_raw, norm_std=norm_std,
        baseline_raw=baseline_raw, baseline_std=baseline_std,
    )  # fmt: skip
    meta = {"format": FORMAT, "corpus": corpus.key, "fingerprint": fingerprint, "tokens": total,
            "sentences": len(texts), "layers": n_layers - 1, "dim": dim, "complete": True}  # fmt: skip
    (work / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    del vectors
    if folder.exists():  # another build finished first: keep that one
        _remove(work)
    else:
        work.rename(folder)
    found = read_index(folder, corpus)
    if found is None:
        raise OSError("The meaning index could not be read back after it was built.")
    return found


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def _baselines(vectors: np.ndarray, sentence: np.ndarray, mean: np.ndarray,
               scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each layer's mean cosine (raw, standardised) over BASELINE_PAIRS random pairs of tokens from
    different sentences (seeded: the same pairs every build)."""
    rng = np.random.default_rng(0)
    n = vectors.shape[1]
    a, b = rng.integers(0, n, BASELINE_PAIRS), rng.integers(0, n, BASELINE_PAIRS)
    apart = sentence[a] != sentence[b]
    a, b = a[apart], b[apart]
    raw, std = [], []
    for layer in range(vectors.shape[0]):
        x, y = np.asarray(vectors[layer][a], np.float64), np.asarray(vectors[layer][b], np.float64)
        raw.append(np.mean(_cosines(x, y)))
        std.append(np.mean(_cosines((x - mean[layer]) / scale[layer], (y - mean[layer]) / scale[layer])))
    return np.asarray(raw), np.asarray(std)


def _cosines(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))


# ---------------------------------------------------------------- queries
@dataclass(frozen=True)
class Neighbour:
    row: int  # the token's row in the index
    sentence: int  # its corpus sentence
    position: int
    word: str
    similarity: float  # as ranked (from the float16 copy); see `exact_similarity` for what is shown


def standardise(vector: np.ndarray, index: MeaningIndex, layer: int) -> np.ndarray:
    return (np.asarray(vector, np.float64) - index.mean[layer]) / index.scale[layer]


def nearest(index: MeaningIndex, vector: np.ndarray, layer: int, k: int = 5, standardised: bool = True,
            skip_sentences: Sequence[str] = (), skip_word: str = "",
            distinct: bool = False) -> list[Neighbour]:  # fmt: skip
    """The `k` corpus tokens most similar to `vector` at `layer` (cosine, standardised or raw), skipping
    tokens of corpus sentences that are among `skip_sentences` (the query's own sentence) and, if given,
    every use of `skip_word` and its plural (to see which other words sit nearest); `distinct`: each word's
    nearest use only."""
    if standardised:
        q = standardise(vector, index, layer)
        weights = np.nan_to_num(q / index.scale[layer])  # dimensions left out weigh 0
        offset, length = float(weights @ index.mean[layer]), index.norm_std[layer] * np.linalg.norm(q)
    else:
        weights = np.asarray(vector, np.float64)
        offset, length = 0.0, index.norm_raw[layer] * np.linalg.norm(weights)
    sims = _products(index.vectors[layer], weights.astype(np.float32))
    sims = (sims - offset) / length
    skipped = set(skip_sentences)
    skip = {i for i, text in enumerate(index.corpus.texts) if text in skipped} if skipped else set()
    skip_words = (
        {skip_word.lower(), skip_word.lower() + "s", skip_word.lower() + "es"} if skip_word else set()
    )
    seen: set[str] = set()
    order = np.argsort(-sims, kind="stable")
    found = []
    for row in order:
        sentence = int(index.sentence[row])
        word = index.words[row].lower()
        if sentence in skip or word in skip_words or (distinct and word in seen):
            continue
        seen.add(word)
        found.append(
            Neighbour(int(row), sentence, int(index.position[row]), index.words[row], float(sims[row]))
        )
        if len(found) == k:
            break
    return found


BLOCK_ROWS = 4096  # float16 rows turned into float32 at a time (1.5 MB: stays in the CPU's cache)


def _products(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N,) float64: every stored row's dot product with `weights`, a block of rows at a time."""
    out = np.empty(len(vectors), dtype=np.float64)
    for at in range(0, len(vectors), BLOCK_ROWS):
        out[at : at + BLOCK_ROWS] = vectors[at : at + BLOCK_ROWS].astype(np.float32) @ weights
    return out


def exact_similarity(query: np.ndarray, other: np.ndarray, index: MeaningIndex, layer: int,
                     standardised: bool = True) -> float:  # fmt: skip
    """The similarity a page shows: float64 cosine of two exact vectors, standardised by the index's layer
    statistics (or raw)."""
    if standardised:
        query, other = standardise(query, index, layer), standardise(other, index, layer)
    query, other = np.asarray(query, np.float64), np.asarray(other, np.float64)
    return float(query @ other / (np.linalg.norm(query) * np.linalg.norm(other)))


def in_context(text: str, word: str, around: int = 5) -> str:
    """`text` with `word` (its first whole-word match) marked «like this», cut to `around` words either side."""
    words = text.split()
    for i, candidate in enumerate(words):
        if re.sub(r"\W", "", candidate).lower() == word.lower():
            start, end = max(0, i - around), min(len(words), i + around + 1)
            marked = f"«{candidate}»" if word not in candidate else candidate.replace(word, f"«{word}»", 1)
            shown = [*words[start:i], marked, *words[i + 1 : end]]
            return ("… " if start else "") + " ".join(shown) + (" …" if end < len(words) else "")
    return text
