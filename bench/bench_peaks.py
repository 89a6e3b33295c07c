"""The peak memory of every heavy path a visitor can start, measured, beside the claim the app makes for it
on the server's memory ledger before it runs (a claim must be at least the measured peak).

Each path runs in a fresh process with the bundled model loaded and warm: the process's resident memory
is settled (collected, trimmed), its high-water mark reset (`/proc/self/clear_refs`), the path run, and
the high-water mark (`VmHWM`) read. No sampling: the kernel counts every page. Linux only.

python -m bench peaks            every path (a few minutes: each is its own process)
python -m bench.bench_peaks pooled_table      one path, printed as JSON
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _settle() -> None:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(work: Callable[[], object]) -> dict:
    """Run `work` once; its peak resident memory above what the process held just before (MB), and time."""
    _settle()
    rest = _status("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # resets VmHWM to the current resident size
    start = time.perf_counter()
    result = work()
    took = time.perf_counter() - start
    peak = _status("VmHWM")
    del result
    return {
        "peak_above_rest_mb": round((peak - rest) / MB, 1),
        "rest_mb": round(rest / MB),
        "s": round(took, 1),
    }


# ---------------------------------------------------------------- the paths (each runs in a child process)
def _model():
    """The bundled model as a server holds it: loaded, fingerprinted (which reads every weight), warm, and
    with the server's malloc setting (`budget.large_blocks_straight_back`)."""
    from explorer.budget import large_blocks_straight_back
    from explorer.models import load_model, weights_fingerprint
    from explorer.states import extract_states

    large_blocks_straight_back()
    model = load_model()
    weights_fingerprint(model)
    extract_states(model, ["Warm the model up once.", "Twice."])
    return model


def _shape(model) -> tuple[int, int, int]:
    config = model[0].auto_model.config
    return int(config.num_hidden_layers), int(config.hidden_size), int(config.num_attention_heads)


def _texts(kind: str) -> tuple[str, ...]:
    from bench import heavy
    from explorer import assets
    from explorer.finetune.labelled import prepare_labelled

    if kind == "table":  # the Fine-tune page's largest table
        return prepare_labelled(heavy.fine_tune_rows("peaks")).texts
    if kind == "lines":  # the sentence box's largest text (Token journey, Sentence embedding, Geometry lab)
        return tuple(heavy.sentence_lines("peaks"))
    if kind == "contexts":  # the Word-sense lab's largest contexts
        return tuple(heavy.sense_contexts("peaks"))
    if kind == "preset":  # the Fine-tune page's default table
        return prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows).texts
    if kind.startswith("table:"):  # the first n rows of the largest table
        return _texts("table")[: int(kind.split(":")[1])]
    raise ValueError(f"Unknown input {kind!r}.")


def _states_claim(model, texts) -> int:
    from explorer.peaks import states_peak_bytes
    from explorer.states import word_pieces

    pieces = word_pieces(model, texts)
    return states_peak_bytes(sum(pieces), max(pieces), len(texts), *_shape(model))


def _pooled_claim(model, texts) -> int:
    from explorer.peaks import pooled_peak_bytes
    from explorer.states import word_pieces

    _, dim, heads = _shape(model)
    return pooled_peak_bytes(max(word_pieces(model, texts)), len(texts), dim, heads)


def _path_states(kind: str) -> dict:
    from explorer.states import extract_states

    model = _model()
    texts = _texts(kind)
    return {
        **measure(lambda: extract_states(model, texts)),
        "claim_mb": round(_states_claim(model, texts) / MB),
    }


def _path_pooled(kind: str) -> dict:
    from explorer.states import pooled_vectors

    model = _model()
    texts = _texts(kind)
    return {
        **measure(lambda: pooled_vectors(model, texts)),
        "claim_mb": round(_pooled_claim(model, texts) / MB),
    }


def _labelled(kind: str):
    """A labelled table: 'preset' (the default), 'table' (the largest), 'table:n' (its first n rows) or
    'rows:n:chars' (n rows of `chars` dense characters)."""
    from bench import heavy
    from explorer import assets
    from explorer.finetune.labelled import prepare_labelled

    if kind == "preset":
        return prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows)
    if kind.startswith("rows:"):
        _, n, chars = kind.split(":")
        return prepare_labelled(
            [[heavy.dense_text(f"peaks {i}", int(chars)), ("yes", "no")[i % 2]] for i in range(int(n))]
        )
    rows = heavy.fine_tune_rows("peaks")
    n = int(kind.split(":")[1]) if ":" in kind else len(rows)
    return prepare_labelled(rows[:n])


def _path_train(kind: str) -> dict:
    """Train pressed on a table whose vectors are ready: the head at the most steps and the largest rank
    the page offers, its snapshots, the 2-D frame and the proof (the page's claim: `run_peak_bytes`)."""
    from explorer.charts import finetune as fc
    from explorer.finetune import head as hd
    from explorer.finetune.labelled import stratified_split
    from explorer.finetune.proof import prove_unchanged
    from explorer.models import weights_fingerprint
    from explorer.states import pooled_vectors
    from explorer.ui.finetune.table import STEP_CHOICES
    from explorer.ui.finetune.training import run_peak_bytes

    model = _model()
    labelled = _labelled(kind)
    pooled = pooled_vectors(model, labelled.texts)
    config = hd.HeadConfig(rank=max(hd.RANKS), steps=STEP_CHOICES[-1])
    split = stratified_split(labelled.labels, seed=config.seed)
    before = weights_fingerprint(model)

    def train():
        run = hd.finish_run(
            labelled, split, config, list(hd.train_head(pooled, labelled.labels, split.train, config))
        )
        proof = prove_unchanged(model, labelled.texts, before, pooled)
        frame = fc.snapshot_frame(
            [s.step for s in run.snapshots], [s.outputs for s in run.snapshots], labelled.texts,
            labelled.labels, run.split.held_out,
        )  # fmt: skip
        return run, proof, frame

    claim = run_peak_bytes(pooled, _pooled_claim(model, labelled.texts), hd.N_SNAPSHOTS + 1, config.rank)
    return {**measure(train), "claim_mb": round(claim / MB)}


def _path_proof(kind: str) -> dict:
    from explorer.finetune.proof import prove_unchanged
    from explorer.models import weights_fingerprint
    from explorer.states import pooled_vectors

    model = _model()
    texts = _texts(kind)
    pooled = pooled_vectors(model, texts)
    before = weights_fingerprint(model)
    return {
        **measure(lambda: prove_unchanged(model, texts, before, pooled)),
        "claim_mb": round(_pooled_claim(model, texts) / MB),
    }


def _path_fingerprint(_: str) -> dict:
    from explorer.models import weights_fingerprint

    model = _model()
    return measure(lambda: weights_fingerprint(model))


def _path_tune(kind: str) -> dict:
    """Tune a private copy: `kind` is '<table>/<k>' (k: top layers unfrozen); the table's states are at
    hand (the page claims their pass first, like any other)."""
    from explorer.finetune import tuning
    from explorer.finetune.labelled import stratified_split
    from explorer.states import extract_states

    table, k = kind.split("/")
    model = _model()
    labelled = _labelled(table)
    split = stratified_split(labelled.labels, seed=0)
    before = extract_states(model, labelled.texts)

    def tune():
        return tuning.tune_top_layers(model, labelled, split, k=int(k), before=before)

    return {**measure(tune), "claim_mb": round(tuning.peak_bytes(model, labelled, split, int(k)) / MB)}


def _path_index(kind: str) -> dict:
    """Add `kind` long sentences to an index of the bundled corpus (one chunk of `embed_texts`: its peak is
    per batch, plus the vectors; a 10,000-line upload is 20 such chunks)."""
    from bench import heavy
    from explorer.assets import bundled_corpus
    from explorer.index import EmbeddingIndex, embed_peak_bytes, embed_texts
    from explorer.states import word_pieces

    model = _model()
    corpus = bundled_corpus()
    index = EmbeddingIndex.build(corpus.texts, embed_texts(model, corpus.texts), corpus.topics)
    texts = tuple(heavy.dense_text(f"index {i}", 600) for i in range(int(kind)))
    _, dim, heads = _shape(model)

    def add():
        return index.add(texts, embed_texts(model, texts), "upload")

    claim = embed_peak_bytes(max(word_pieces(model, texts)), len(texts), dim, heads, index.size)
    return {**measure(add), "claim_mb": round(claim / MB)}


def _path_measures(kind: str) -> dict:
    """The Geometry lab's layer-by-layer measures over `kind`'s states (made before the measurement)."""
    from explorer.states import extract_states
    from explorer.ui import geometry as lab

    model = _model()
    states = extract_states(model, _texts(kind))
    return {
        **measure(lambda: lab._measured(states, False)),
        "claim_mb": round(lab._measures_peak(states) / MB),
    }


def _path_umap(kind: str) -> dict:
    """An aligned UMAP over every layer of the first n tokens of the largest sentence box's text (the Token
    journey fits at most 3,000), numba's code compiled first (as the server's warm-up does)."""
    from explorer.peaks import umap_peak_bytes
    from explorer.projection import project, warm_up_umap
    from explorer.states import extract_states

    model = _model()
    states = extract_states(model, _texts("lines"))
    warm_up_umap()
    layers = np.ascontiguousarray(states.layers[:, : int(kind)])
    n_layers, dim = layers.shape[0] - 1, layers.shape[2]
    return {
        **measure(lambda: project(layers, "umap", seed=0)),
        "claim_mb": round(umap_peak_bytes(layers.shape[1], n_layers, dim) / MB),
    }


def _path_why(kind: str) -> dict:
    """Why did it move? for `kind` followed tokens of the longest sentence the box takes (256 word pieces):
    the exact split at every layer (`decomposition.decompose`), then the tables the page keeps."""
    from explorer.decomposition import PULLS_BY, decompose, move_table, pull_table
    from explorer.peaks import why_peak_bytes

    model = _model()
    text = _texts("lines")[0]
    features = model.preprocess([text])
    n_tokens = int(features["input_ids"].shape[1])
    rows = tuple(range(1, 1 + int(kind)))

    def split():
        layers = decompose(model[0].auto_model, features, rows)
        return [pull_table(layers, by) for by in PULLS_BY], move_table(layers)

    n_layers, dim, heads = _shape(model)
    return {
        **measure(split),
        "tokens": n_tokens,
        "claim_mb": round(why_peak_bytes(n_tokens, len(rows), n_layers, dim, heads) / MB),
    }


PATHS: dict[str, tuple[Callable[[str], dict], str, str]] = {
    # name: (path, its input, what it stands for)
    "states_preset": (_path_states, "preset", "every layer of the Fine-tune page's default table"),
    "states_lines": (_path_states, "lines", "every layer of 100 sentences of 256 word pieces (the sentence box's largest link)"),
    "states_contexts": (_path_states, "contexts", "every layer of 80 contexts of 256 word pieces (the Word-sense lab's largest link)"),
    "states_table": (_path_states, "table", "every layer of the Fine-tune table of 200 × 1,000 characters (what the page ran before)"),
    "pooled_table": (_path_pooled, "table", "sentence vectors only of the largest Fine-tune table (what the page runs now)"),
    "pooled_preset": (_path_pooled, "preset", "sentence vectors only of the default Fine-tune table"),
    "train_table": (_path_train, "table", "Train on the largest table: rank 64, 600 steps, snapshots, frame and proof"),
    "proof_table": (_path_proof, "table", "the proof alone on the largest table: fingerprint and re-embedding"),
    "index_upload": (_path_index, "512", "add 512 sentences of 256 word pieces to the index (one chunk of an upload)"),
    "fingerprint": (_path_fingerprint, "", "the model's weight fingerprint"),
    "tune_preset_1": (_path_tune, "preset/1", "tune the top layer of a private copy, default table"),
    "tune_preset_6": (_path_tune, "preset/6", "tune all 6 layers of a private copy, default table"),
    "tune_short_1": (_path_tune, "rows:64:100/1", "tune the top layer, 64 rows of 63 word pieces"),
    "tune_short_6": (_path_tune, "rows:64:100/6", "tune all 6 layers, 64 rows of 63 word pieces"),
    "tune_long_6": (_path_tune, "table:12/6", "tune all 6 layers, 12 rows of 256 word pieces"),
    "measures_lines": (_path_measures, "lines", "the Geometry lab's measures over 100 sentences of 256 word pieces"),
    "umap_1500": (_path_umap, "1500", "aligned UMAP over 7 layers of 1,500 points (the lab's faithfulness sample)"),
    "why_long": (_path_why, "6", "why did it move?: the exact split for 6 tokens of a sentence of 256 word pieces"),
    "umap_3000": (_path_umap, "3000", "aligned UMAP over 7 layers of 3,000 points (the journey's most tokens)"),
}  # fmt: skip


def _child(name: str) -> dict:
    path, kind, about = PATHS[name]
    return {"about": about, **path(kind)}


def run_one(name: str) -> dict:
    """Measure one path in a fresh process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_peaks", name], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> dict:
    results = {name: run_one(name) for name in PATHS}
    return {
        "method": "fresh process per path, model warm; VmHWM above settled VmRSS",
        "paths": results,
        "claims_cover_peaks": all(
            r.get("claim_mb", float("inf")) >= r.get("peak_above_rest_mb", 0) for r in results.values()
        ),
    }


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    names = sys.argv[1:] or list(PATHS)
    for name in names:
        print(json.dumps({name: _child(name)} if len(names) > 1 else _child(name)))
