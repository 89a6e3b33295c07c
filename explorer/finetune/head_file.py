"""The head file: a zip with the weights (head.safetensors) and how they were made (head.json).

Reading is strict: every field is checked before it is used, and a bad file raises HeadFileError (a
ValueError) with a sentence that says what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import re
import reprlib
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from explorer.finetune.head import Head, HeadConfig, HeadRun, Snapshot, apply_head, finish_run
from explorer.finetune.labelled import MAX_ROWS, LabelledSet, Split, clean_cell, prepare_labelled

HEAD_FORMAT = "latent-space-explorer/head"
HEAD_VERSION = 1
MAX_UPLOAD_BYTES = 5_000_000
SEED_RANGE = (0, 2**32 - 1)
MAX_DIM = 8192
# head.json nests two levels (the object, then config or a list); anything deeper is not from this app,
# and refusing it before parsing keeps json from recursing 100,000 levels down.
MAX_JSON_DEPTH = 8
# The largest integer a head file holds is a seed below 2**32 (10 digits). Longer ones are refused while
# parsing: Python will not even turn an integer of over 4,300 digits into a number.
MAX_INT_DIGITS = 20
# How large (Frobenius norm) `down` and `up` may be. For any x, |down @ x| <= |down|·|x| and the head adds
# at most |up|·|down|·|x| <= 1e12·|x|, so outputs, and the sums of their squares that cosine, silhouette
# and projection take, stay far inside float32 (max 3.4e38). Trained heads stay far below: rank 64 on
# 384 dims reaches norms near 100 at the page's largest settings, and near 1,000 at lr 1 for 2,000 steps.
MAX_WEIGHT_NORM = 1e6
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 40


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


class HeadFileError(ValueError):
    """A head file that cannot be loaded; the message is one sentence saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Not a head file from this app: {message}")


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise HeadFileError(message)


def _show(value: object) -> str:
    """A value for a message, cut short (a field may hold a megabyte of text)."""
    return _SHOW.repr(value)


def _parse_int(digits: str) -> int:
    """json's hook for integers: refuses the absurdly long before Python is asked to convert them."""
    n = len(digits.lstrip("-"))
    _need(
        n <= MAX_INT_DIGITS, f"head.json holds a {n:,}-digit integer; valid: at most {MAX_INT_DIGITS} digits."
    )
    return int(digits)


def _json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text (brackets inside strings do not count)."""
    codes = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8"), dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _read_meta(raw: bytes) -> dict[str, Any]:
    """head.json as a dict; every way it can fail gives a sentence, never json's or Python's own."""
    _need(bool(raw.strip()), "head.json is empty.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeadFileError(f"head.json is not UTF-8 text (byte {exc.start} cannot be read).") from exc
    depth = _json_depth(text)
    _need(depth <= MAX_JSON_DEPTH, f"head.json nests {depth:,} levels deep; valid: at most {MAX_JSON_DEPTH}.")
    try:
        meta = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise HeadFileError(
            f"head.json is not valid JSON ({exc.msg.lower()} at line {exc.lineno}, column {exc.colno})."
        ) from exc
    _need(
        isinstance(meta, dict),
        f"head.json must hold one JSON object, not {type(meta).__name__} {_show(meta)}.",
    )
    return meta


def _read_weights(raw: bytes) -> dict[str, np.ndarray]:
    """down and up as float32, refused when missing, not finite or too large to use."""
    from safetensors.numpy import load

    try:
        tensors = load(raw)
    except Exception as exc:  # safetensors raises its own error types for corrupt weights
        raise HeadFileError("head.safetensors cannot be read.") from exc
    _need(set(tensors) == {"down", "up"}, "weights must be exactly 'down' and 'up'.")
    weights = {}
    for name in ("down", "up"):
        tensor = tensors[name]
        _need(tensor.dtype.kind in "biuf", f"weights '{name}' are {tensor.dtype}; valid: real numbers.")
        wide = tensor.astype(np.float64)  # checked before float32, which would turn 1e308 into infinity
        _need(bool(np.isfinite(wide).all()), "the weights hold NaN or infinity.")
        biggest = float(np.abs(wide).max(initial=0.0))
        # Scaled by the largest entry so the sum of squares cannot overflow (1e308² would).
        norm = biggest * float(np.linalg.norm(wide / biggest)) if biggest > 0 else 0.0
        shown = f"{norm:.3g}" if math.isfinite(norm) else "beyond 1e+308"
        _need(
            norm <= MAX_WEIGHT_NORM,
            f"weights '{name}' are too large to use (norm {shown}; valid: at most {MAX_WEIGHT_NORM:.0e}).",
        )
        weights[name] = wide.astype(np.float32)
    return weights


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
    _need(_is_int(raw["rank"], 1, 1024), f"config rank {_show(raw['rank'])}; valid: integers 1 to 1024.")
    _need(raw["rank"] == rank, f"config rank {raw['rank']} does not match the weights' rank {rank}.")
    _need(_is_int(raw["steps"], 1, 5000), f"config steps {_show(raw['steps'])}; valid: integers 1 to 5000.")
    _need(_is_real(raw["lr"], 0, 1), f"config lr {_show(raw['lr'])}; valid: numbers in (0, 1].")
    low, high = SEED_RANGE
    _need(
        _is_int(raw["seed"], low, high), f"config seed {_show(raw['seed'])}; valid: integers {low} to {high}."
    )
    _need(
        _is_real(raw["temperature"], 0, 10),
        f"config temperature {_show(raw['temperature'])}; valid: numbers in (0, 10].",
    )
    return HeadConfig(
        rank=raw["rank"],
        steps=raw["steps"],
        lr=float(raw["lr"]),
        seed=raw["seed"],
        temperature=float(raw["temperature"]),
    )


def head_from_bytes(data: bytes, dim: int | None = None) -> SavedHead:
    """Read a zip written by head_to_bytes, checking everything; HeadFileError says what is wrong.

    `dim`, when given, is the current model's embedding size: a head for another size is refused.
    """
    _need(bool(data), "the file is empty.")
    _need(len(data) <= MAX_UPLOAD_BYTES, f"larger than {MAX_UPLOAD_BYTES // 1_000_000} MB.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            _need({"head.json", "head.safetensors"} <= names, "it needs head.json and head.safetensors.")
            for name in ("head.json", "head.safetensors"):
                size = archive.getinfo(name).file_size
                _need(
                    size <= MAX_UPLOAD_BYTES,
                    f"{name} is {size / 1e6:.1f} MB unpacked; the limit is {MAX_UPLOAD_BYTES // 1_000_000} MB.",
                )
            raw_meta, raw_weights = archive.read("head.json"), archive.read("head.safetensors")
    except HeadFileError:
        raise
    except zipfile.BadZipFile as exc:
        raise HeadFileError("it is not a zip file (load a head.zip saved on this page).") from exc
    except Exception as exc:  # a damaged, encrypted or oddly compressed zip: zlib, RuntimeError, ...
        raise HeadFileError("the zip file is damaged or encrypted.") from exc
    meta = _read_meta(raw_meta)
    _need(meta.get("format") == HEAD_FORMAT, f"format is not '{HEAD_FORMAT}'.")
    _need(
        meta.get("version") == HEAD_VERSION, f"version {_show(meta.get('version'))}; valid: [{HEAD_VERSION}]."
    )
    tensors = _read_weights(raw_weights)
    down, up = tensors["down"], tensors["up"]
    rank, head_dim = meta.get("rank"), meta.get("dim")
    _need(_is_int(rank, 1, 1024), f"rank {_show(rank)}; valid: integers 1 to 1024.")
    _need(_is_int(head_dim, 1, MAX_DIM), f"dim {_show(head_dim)}; valid: integers 1 to {MAX_DIM}.")
    _need(
        down.shape == (rank, head_dim) and up.shape == (head_dim, rank),
        f"weight shapes {down.shape} and {up.shape} do not match rank {rank} and dim {head_dim}.",
    )
    if dim is not None:
        _need(head_dim == dim, f"it was trained on {head_dim}-dim embeddings; this model's are {dim}-dim.")
    texts, labels = meta.get("texts"), meta.get("labels")
    _need(
        isinstance(texts, list)
        and isinstance(labels, list)
        and len(texts) == len(labels) <= MAX_ROWS
        and all(isinstance(v, str) for v in texts + labels),
        "texts and labels must be lists of text of equal length.",
    )
    blank = [i for i, row in enumerate(zip(texts, labels, strict=True)) if not all(map(clean_cell, row))]
    if blank:  # the rule of the table: a cell of only invisible characters is empty
        raise HeadFileError(
            f"row {blank[0] + 1} has no text or no label (empty, or only invisible characters such as "
            "zero-width spaces)."
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
    model_id, fingerprint = meta.get("model_id", ""), meta.get("model_fingerprint", "")
    _need(
        isinstance(model_id, str) and isinstance(fingerprint, str),
        "model_id and model_fingerprint must be text.",
    )
    held_set = set(held)
    split = Split(tuple(i for i in range(len(texts)) if i not in held_set), tuple(sorted(held_set)))
    return SavedHead(
        Head(down, up),
        config,
        labelled,
        split,
        tuple(float(v) for v in losses),
        model_id,
        fingerprint,
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
