"""A small embedding index for the retrieval demo: texts, their unit vectors, and cosine search.

The index is a value: `add` returns a new index and never touches the old one, so an index cached for
every user can be shared safely while each person grows their own copy. Storing vectors here changes
nothing inside the model; that is the lesson the page draws from it.

The bundled corpus (`explorer.assets.bundled_corpus`) fills the shared index; its topics colour the map.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.models import let_others_in, model_lock
from explorer.peaks import batch_peak_bytes
from explorer.states import ProgressFn, batches, word_pieces
from explorer.vectors import frozen, unit_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ENCODE_CHUNK = 512  # sentences per encode() call: small enough for a live progress bar, big enough to be free
ENCODE_BATCH = 64
# Padded word pieces per hold of the shared model lock (one `encode` call): about 0.1 s of work here, so a
# visitor's quick update waits that long at most behind another's big upload (bench slices).
SLICE_TOKENS = 256
MAX_INDEX_SENTENCES = 20_000  # per person: bounds the memory one session can take


def embed_texts(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = ENCODE_BATCH,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """(N, D) unit-length embeddings from the model's own `encode`, in chunks so progress can be shown.

    Texts are sorted by length over the whole list (as `encode` does within one call) so chunking adds
    no padding; results come back in input order. Each chunk runs in slices of at most SLICE_TOKENS
    padded word pieces, one `encode` call and one hold of the shared model lock each: a file of long
    lines no longer holds the model from every other visitor for a chunk at a time (27 s before), and a
    batch's working memory stays small (64 sentences of 256 pieces made one batch's attention scores alone
    about 400 MB). Its peak: `embed_peak_bytes`. `progress` is called after every slice.
    """
    texts = [str(t) for t in texts]
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(dim_of() or 0)
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), dim), dtype=np.float32)  # (N, D)
    done = 0
    for start in range(0, len(texts), ENCODE_CHUNK):
        rows = order[start : start + ENCODE_CHUNK]
        chunk = [texts[i] for i in rows]
        pieces = word_pieces(model, chunk)
        for batch in batches([len(t) for t in chunk], pieces, batch_size, max_tokens=SLICE_TOKENS):
            with model_lock(model):  # the tokenizer and model are shared by every session
                out[rows[batch]] = model.encode(
                    [chunk[b] for b in batch],
                    batch_size=len(batch),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )  # (batch, D)
            done += len(batch)
            if progress is not None:
                progress(done, len(texts))
            let_others_in()
    return out


def embed_peak_bytes(longest: int, n_texts: int, dim: int, heads: int, index_rows: int) -> int:
    """A bound on the memory of adding `n_texts` sentences (the longest of `longest` word pieces) to an
    index of `index_rows`: one batch's working memory (see `embed_texts`), the new vectors, and the grown
    index beside the old one while it is built, and 32 MB."""
    vectors = (n_texts + index_rows) * dim * 4
    return int(batch_peak_bytes(longest, n_texts, 0, dim, heads) + n_texts * dim * 4 + vectors + 32 * 2**20)


def _content_key(previous: str, texts: Sequence[str], sources: Sequence[str], vectors: np.ndarray) -> str:
    """A hash chained over appended rows: texts, source labels and the stored vectors' bytes.

    The vectors are in it so two models (or two users' labels) never share a key for the same texts.
    """
    digest = hashlib.sha256(previous.encode())
    for text, source in zip(texts, sources, strict=True):
        digest.update(text.encode("utf-8", errors="replace") + b"\x00")
        digest.update(source.encode("utf-8", errors="replace") + b"\x01")
    digest.update(str(vectors.shape).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()[:24]


@dataclass(frozen=True)
class SearchHit:
    """One search result: its row in the index, text, source label and cosine score."""

    rank: int
    row: int
    text: str
    source: str
    score: float


@dataclass(frozen=True)
class EmbeddingIndex:
    """Texts with unit vectors (N, D) and a source label each (a corpus topic, 'typed', a file name).

    `key` changes whenever the texts, sources or vectors do (so it also differs between models); each
    `add` hashes only the new rows, so caches can be keyed on it cheaply.
    """

    texts: tuple[str, ...]
    vectors: np.ndarray
    sources: tuple[str, ...]
    key: str

    @classmethod
    def build(cls, texts: Sequence[str], vectors: np.ndarray, sources: Sequence[str]) -> EmbeddingIndex:
        texts = tuple(str(t) for t in texts)
        sources = tuple(str(s) for s in sources)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or len(sources) != len(texts):
            raise ValueError(
                f"Need one vector and one source per text: {len(texts)} texts, vectors {vectors.shape}, "
                f"{len(sources)} sources."
            )
        stored = frozen(unit_rows(vectors, np.float32) if len(vectors) else vectors)  # (N, D)
        return cls(texts, stored, sources, _content_key("", texts, sources, stored))

    @property
    def size(self) -> int:
        return len(self.texts)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def add(
        self, texts: Sequence[str], vectors: np.ndarray, source: str, skip_duplicates: bool = True
    ) -> EmbeddingIndex:
        """A new index with `texts` appended (exact duplicates of stored texts skipped by default)."""
        texts = [str(t) for t in texts]
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))  # (M, D)
        if len(vectors) != len(texts):
            raise ValueError(f"Need one vector per text: {len(texts)} texts, {len(vectors)} vectors.")
        if len(texts) and vectors.shape[1] != self.dim:
            raise ValueError(f"Vectors have {vectors.shape[1]} dims; this index holds {self.dim}.")
        if skip_duplicates:
            keep = self._new_rows(texts)
            texts, vectors = [texts[i] for i in keep], vectors[keep]
        if not texts:
            return self
        added = unit_rows(vectors, np.float32)  # (M, D)
        sources = [str(source)] * len(texts)
        return EmbeddingIndex(
            texts=(*self.texts, *texts),
            vectors=frozen(np.concatenate([self.vectors, added])),  # (N+M, D)
            sources=(*self.sources, *sources),
            key=_content_key(self.key, texts, sources, added),
        )

    def _new_rows(self, texts: Sequence[str]) -> list[int]:
        seen = set(self.texts)
        keep = []
        for i, text in enumerate(texts):
            if text not in seen:
                seen.add(text)
                keep.append(i)
        return keep

    def new_texts(self, texts: Sequence[str]) -> tuple[str, ...]:
        """The texts `add` would store: not in the index yet, each once, in order."""
        texts = [str(t) for t in texts]
        return tuple(texts[i] for i in self._new_rows(texts))

    def scores(self, query_vec: np.ndarray) -> np.ndarray:
        """(N,) cosine of every stored vector with the query."""
        query = unit_rows(np.atleast_2d(query_vec), np.float32)[0]  # (D,)
        if query.shape[0] != self.dim:
            raise ValueError(f"Query has {query.shape[0]} dims; this index holds {self.dim}.")
        return self.vectors @ query  # (N,)

    def search(self, query_vec: np.ndarray, k: int = 5) -> tuple[SearchHit, ...]:
        """The k stored texts most similar (cosine) to the query, best first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        if self.size == 0:
            return ()
        scores = self.scores(query_vec)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by row for a stable order
        return tuple(
            SearchHit(
                rank=r + 1, row=int(i), text=self.texts[i], source=self.sources[i], score=float(scores[i])
            )
            for r, i in enumerate(top)
        )
