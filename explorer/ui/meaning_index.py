"""The meaning index of a model (`explorer.meaning`), shared by the pages that use it: read once per process
from the server's disk (memory-mapped, read-only: every session shares its pages), or built on a click in
the background with progress, its peak claimed on the server's memory ledger.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import streamlit as st

from explorer.meaning import (
    CHUNK_SENTENCES,
    MeaningIndex,
    build_index,
    index_folder,
    meaning_corpus,
    read_index,
)
from explorer.models import ModelInfo
from explorer.peaks import states_peak_bytes
from explorer.states import word_pieces
from explorer.ui import jobs, memory
from explorer.ui.caches import cached_model

BUILD_CLAIM = "meaning_index"  # the ledger name of an index being built (nothing is kept under it)

_indexes: dict[str, MeaningIndex] = {}  # folder → index, read once per process (read-only, shared)
_progress: dict[str, tuple[int, int]] = {}  # folder → (sentences done, in all) while it is built
_lock = threading.Lock()


def folder_of(info: ModelInfo) -> Path:
    return index_folder(info.fingerprint, meaning_corpus())


def ready(info: ModelInfo) -> MeaningIndex | None:
    corpus = meaning_corpus()
    folder = index_folder(info.fingerprint, corpus)
    with _lock:
        found = _indexes.get(str(folder))
        if found is None:
            found = read_index(folder, corpus)
            if found is not None:
                _indexes[str(folder)] = found
    return found


def _build_peak(model_id: str) -> int:
    """The build's claim: the forward pass of its largest chunk, its float64 running sums, and 64 MB for
    the statistics pass (done a block of rows at a time)."""
    model = cached_model(model_id)
    texts = meaning_corpus().texts
    pieces = word_pieces(model, texts)
    config = model[0].auto_model.config
    n_layers, dim = int(config.num_hidden_layers), int(config.hidden_size)
    heads = int(getattr(config, "num_attention_heads", 16))
    worst = max(
        states_peak_bytes(sum(part), max(part), len(part), n_layers, dim, heads)
        for part in (pieces[i : i + CHUNK_SENTENCES] for i in range(0, len(pieces), CHUNK_SENTENCES))
    )
    return int(2 * worst + 64 * 2**20)


def _build(info: ModelInfo) -> MeaningIndex:
    corpus = meaning_corpus()
    folder = index_folder(info.fingerprint, corpus)
    key = str(folder)

    def progress(done: int, total: int) -> None:
        _progress[key] = (done, total)

    _progress[key] = (0, len(corpus.texts))
    try:
        with memory.quiet_room(BUILD_CLAIM, _build_peak(info.model_id)):
            built = build_index(cached_model(info.model_id), info.fingerprint, corpus, folder, progress)
    finally:
        _progress.pop(key, None)
    with _lock:
        _indexes[key] = built
    return built


def _wait_for_build(future: Future, folder: str) -> None:
    def show() -> None:
        done, total = _progress.get(folder, (0, 1))
        st.progress(done / max(total, 1), text=f"Building the meaning index: {done:,} of {total:,} sentences")

    jobs.poll(future, show)


def loaded() -> list[MeaningIndex]:
    """The indexes this process has read or built."""
    with _lock:
        return list(_indexes.values())


def corpus_said() -> str:
    """The corpus in words: '7,374 sentences (383 written for this app, 6,991 WordNet 3.0 examples)'."""
    corpus = meaning_corpus()
    wordnet = sum(s == "WordNet" for s in corpus.sources)
    return (
        f"{len(corpus.texts):,} sentences ({len(corpus.texts) - wordnet:,} written for this app"
        + (f", {wordnet:,} examples from WordNet 3.0, Princeton University" if wordnet else "")
        + ")"
    )


def build_job(info: ModelInfo) -> Future:
    """The background job that builds `info`'s index (started now unless it runs or ran already)."""
    return jobs.started(("meaning", str(folder_of(info))), lambda: _build(info))


def ready_or_button(info: ModelInfo, key: str) -> MeaningIndex | None:
    """The index, or (drawn where called) what it takes and a button that builds it, then its progress;
    None until it is ready."""
    index = ready(info)
    if index is not None:
        return index
    folder = str(folder_of(info))
    if jobs.asked(("meaning", folder)) is None:
        st.caption(
            f"Nearest words need an index of a corpus at every layer: {corpus_said()}, run through this "
            "model once (about half a minute here) and kept on the server for every visitor."
        )
        if not st.button("Build the meaning index", key=key):
            return None
    future = build_job(info)
    built, error = jobs.result_or_none(future)
    if error:
        st.error(f"The meaning index could not be built ({error.split(':')[0]}).", icon="⚠️")
        return None
    if built is None:
        _wait_for_build(future, folder)
    return built
