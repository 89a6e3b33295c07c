"""The head file: a zip with the weights (head.safetensors) and how they were made (head.json).

Reading is strict: every field is checked before it is used, and a bad file raises ValueError with a
sentence that says what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from explorer.finetune.head import Head, HeadConfig, HeadRun, Snapshot, apply_head, finish_run
from explorer.finetune.labelled import MAX_ROWS, LabelledSet, Split, prepare_labelled

HEAD_FORMAT = "latent-space-explorer/head"
HEAD_VERSION = 1
MAX_UPLOAD_BYTES = 5_000_000
SEED_RANGE = (0, 2**32 - 1)
MAX_DIM = 8192


@dataclass(frozen=True)
class SavedHead:
    """What a head file holds: the weights, how they were trained, and on which sentences."""

    head: Head
    config: HeadConfig
    labelled: LabelledSet
    split: Split
    losses: tuple[float, ...]
    model_id: str
    model_fingerprint: str


def head_to_bytes(run: HeadRun, model_id: str, model_fingerprint: str) -> bytes:
    """A zip with head.safetensors (weights) and head.json (config, sentences, split, loss curve)."""
    from safetensors.numpy import save

    meta = {
        "format": HEAD_FORMAT,
        "version": HEAD_VERSION,
        "formula": "y = x + up @ (down @ x)",
        "rank": run.head.rank,
        "dim": run.head.dim,
        "config": {
            "rank": run.config.rank,
            "steps": run.config.steps,
            "lr": run.config.lr,
            "seed": run.config.seed,
            "temperature": run.config.temperature,
        },
        "model_id": model_id,
        "model_fingerprint": model_fingerprint,
        "texts": list(run.labelled.texts),
        "labels": list(run.labelled.labels),
        "held_out": list(run.split.held_out),
        "losses": list(run.losses),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("head.json", json.dumps(meta, indent=2, ensure_ascii=False))
        archive.writestr("head.safetensors", save({"down": run.head.down, "up": run.head.up}))
    return buffer.getvalue()


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"Not a head file from this app: {message}")


def _is_int(value: object, low: int, high: int) -> bool:
    """A real JSON integer (not a bool, not a float like 1e400) in [low, high]."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_real(value: object, low: float, high: float) -> bool:
    """A finite JSON number (not a bool) in (low, high]."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low < value <= high
    )


def _config_from(raw: Any, rank: int) -> HeadConfig:
    """The training settings of a head file, each checked before it is used."""
    _need(isinstance(raw, dict), "missing config.")
    missing = [k for k in ("rank", "steps", "lr", "seed", "temperature") if k not in raw]
    _need(not missing, f"incomplete config (missing {missing}).")
    _need(_is_int(raw["rank"], 1, 1024), f"config rank {raw['rank']!r}; valid: integers 1 to 1024.")
    _need(raw["rank"] == rank, f"config rank {raw['rank']} does not match the weights' rank {rank}.")
    _need(_is_int(raw["steps"], 1, 5000), f"config steps {raw['steps']!r}; valid: integers 1 to 5000.")
    _need(_is_real(raw["lr"], 0, 1), f"config lr {raw['lr']!r}; valid: numbers in (0, 1].")
    low, high = SEED_RANGE
    _need(_is_int(raw["seed"], low, high), f"config seed {raw['seed']!r}; valid: integers {low} to {high}.")
    _need(
        _is_real(raw["temperature"], 0, 10),
        f"config temperature {raw['temperature']!r}; valid: numbers in (0, 10].",
    )
    return HeadConfig(
        rank=raw["rank"],
        steps=raw["steps"],
        lr=float(raw["lr"]),
        seed=raw["seed"],
        temperature=float(raw["temperature"]),
    )


def head_from_bytes(data: bytes, dim: int | None = None) -> SavedHead:
    """Read a zip written by head_to_bytes, checking everything; ValueError says what is wrong.

    `dim`, when given, is the current model's embedding size: a head for another size is refused.
    """
    from safetensors.numpy import load

    _need(len(data) <= MAX_UPLOAD_BYTES, f"larger than {MAX_UPLOAD_BYTES // 1_000_000} MB.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            _need({"head.json", "head.safetensors"} <= names, "it needs head.json and head.safetensors.")
            sizes = {i.filename: i.file_size for i in archive.infolist()}
            _need(all(sizes[n] <= MAX_UPLOAD_BYTES for n in ("head.json", "head.safetensors")), "too large.")
            meta: Any = json.loads(archive.read("head.json").decode("utf-8"))
            tensors = load(archive.read("head.safetensors"))
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Not a head file from this app: {exc}.") from exc
    except Exception as exc:  # safetensors raises its own error type for corrupt weights
        if isinstance(exc, ValueError):
            raise
        raise ValueError(f"Not a head file from this app: unreadable weights ({exc}).") from exc
    _need(isinstance(meta, dict) and meta.get("format") == HEAD_FORMAT, f"format is not '{HEAD_FORMAT}'.")
    _need(meta.get("version") == HEAD_VERSION, f"version {meta.get('version')!r}; valid: [{HEAD_VERSION}].")
    _need(set(tensors) == {"down", "up"}, "weights must be exactly 'down' and 'up'.")
    down, up = tensors["down"].astype(np.float32), tensors["up"].astype(np.float32)
    rank, head_dim = meta.get("rank"), meta.get("dim")
    _need(_is_int(rank, 1, 1024), f"rank {rank!r}; valid: integers 1 to 1024.")
    _need(_is_int(head_dim, 1, MAX_DIM), f"dim {head_dim!r}; valid: integers 1 to {MAX_DIM}.")
    _need(
        down.shape == (rank, head_dim) and up.shape == (head_dim, rank),
        f"weight shapes {down.shape} and {up.shape} do not match rank {rank} and dim {head_dim}.",
    )
    _need(bool(np.isfinite(down).all() and np.isfinite(up).all()), "the weights hold NaN or infinity.")
    if dim is not None:
        _need(head_dim == dim, f"it was trained on {head_dim}-dim embeddings; this model's are {dim}-dim.")
    texts, labels = meta.get("texts"), meta.get("labels")
    _need(
        isinstance(texts, list) and isinstance(labels, list) and len(texts) == len(labels) <= MAX_ROWS,
        "texts and labels must be lists of equal length.",
    )
    labelled = prepare_labelled(zip(texts, labels, strict=True))
    _need(
        labelled.error is None and len(labelled.texts) == len(texts), "the labelled sentences are unusable."
    )
    held = meta.get("held_out")
    _need(
        isinstance(held, list) and all(_is_int(i, 0, len(texts) - 1) for i in held),
        "held_out must list row numbers.",
    )
    config = _config_from(meta.get("config"), rank)
    losses = meta.get("losses")
    _need(
        isinstance(losses, list)
        and len(losses) == config.steps + 1
        and all(_is_real(v, -math.inf, math.inf) for v in losses),
        f"the loss curve must hold {config.steps + 1} finite numbers (one per step).",
    )
    held_set = set(held)
    split = Split(tuple(i for i in range(len(texts)) if i not in held_set), tuple(sorted(held_set)))
    return SavedHead(
        Head(down, up),
        config,
        labelled,
        split,
        tuple(float(v) for v in losses),
        str(meta.get("model_id", "")),
        str(meta.get("model_fingerprint", "")),
    )


def run_from_saved(saved: SavedHead, embeddings: np.ndarray) -> HeadRun:
    """Rebuild the picture of a saved head: step 0 (identity) and its final step."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.shape != (len(saved.labelled.texts), saved.head.dim):
        raise ValueError(
            f"This head expects {saved.head.dim}-dim embeddings of {len(saved.labelled.texts)} sentences, "
            f"got {embeddings.shape}. Load it with the model it was trained on."
        )
    losses = saved.losses or (float("nan"),)
    start = Head(saved.head.down, np.zeros_like(saved.head.up))
    first = Snapshot(0, losses[0], apply_head(start, embeddings), start, losses[:1])
    last = Snapshot(saved.config.steps, losses[-1], apply_head(saved.head, embeddings), saved.head, losses)
    return finish_run(saved.labelled, saved.split, saved.config, [first, last])
