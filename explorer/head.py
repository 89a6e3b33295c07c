"""A tiny trainable head on frozen sentence embeddings, and (going further) tuning the model's top layers.

The head is a residual low-rank map `y = x + B(A x)` with B starting at zero, so at step 0 it is exactly
the identity and the picture is the model's own geometry. It is trained with a supervised contrastive
loss that pulls sentences with the same label together. The model is never touched by this: only arrays
of its embeddings go in. To change the latent space itself, `tune_top_layers` trains the top k
transformer layers of a private deep copy and measures, layer by layer, how far the hidden states moved.
"""

from __future__ import annotations

import copy
import io
import json
import math
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from explorer.states import LayerStates

LABELLED_SETS_FILE = Path(__file__).resolve().parent.parent / "assets" / "labelled_sets.json"
DEFAULT_LABELLED_SET = "Sentiment across topics"
HEAD_FORMAT = "latent-space-explorer/head"
HEAD_VERSION = 1
MAX_ROWS = 200
MAX_UPLOAD_BYTES = 5_000_000
N_SNAPSHOTS = 30
HELD_OUT_SHARE = 0.25
MIN_TRAIN_PER_LABEL = 2  # the contrastive loss needs a same-label partner for every training sentence
SEED_RANGE = (0, 2**32 - 1)
MAX_DIM = 8192
RANKS = (2, 4, 8, 16, 32, 64)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)

ProgressFn = Callable[[int, int], None]


# ---------------------------------------------------------------- labelled sentences
@dataclass(frozen=True)
class LabelledSet:
    """Cleaned (text, label) rows ready to train on, or an error saying what is missing."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    notices: tuple[str, ...] = ()
    error: str | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """Distinct labels in order of first appearance."""
        return tuple(dict.fromkeys(self.labels))


@dataclass(frozen=True)
class PresetSet:
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
    sets = labelled_sets()
    if name not in sets:
        raise ValueError(f"Unknown labelled set: {name}. Valid sets: {list(sets)}")
    return sets[name]


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    return " ".join(text.split()) if text.strip() not in {"nan", "None", "<NA>"} else ""


def prepare_labelled(rows: Iterable[tuple[object, object]], max_rows: int = MAX_ROWS) -> LabelledSet:
    """Clean table rows; keep labels with at least 2 examples; need at least 2 such labels."""
    cleaned = [(_cell(t), _cell(lab)) for t, lab in rows]
    notices: list[str] = []
    incomplete = sum(1 for t, lab in cleaned if bool(t) != bool(lab))
    cleaned = [(t, lab) for t, lab in cleaned if t and lab]
    if incomplete:
        notices.append(f"{incomplete} row(s) without both a text and a label are left out.")
    if len(cleaned) > max_rows:
        notices.append(f"Using the first {max_rows} of {len(cleaned)} rows.")
        cleaned = cleaned[:max_rows]
    counts: dict[str, int] = {}
    for _, lab in cleaned:
        counts[lab] = counts.get(lab, 0) + 1
    lonely = [lab for lab, n in counts.items() if n < 2]
    if lonely:
        notices.append(
            "Labels with a single example are left out (nothing to pull them towards): "
            + ", ".join(f"'{lab}'" for lab in lonely[:8])
            + (" …" if len(lonely) > 8 else "")
        )
        cleaned = [(t, lab) for t, lab in cleaned if counts[lab] >= 2]
    kept = {lab for _, lab in cleaned}
    if len(kept) < 2:
        return LabelledSet(
            (),
            (),
            tuple(notices),
            error=(
                "The head needs at least 2 labels with at least 2 sentences each "
                f"(this table has {len(kept)} such label{'s' if len(kept) != 1 else ''}). "
                "Add rows, or pick a preset above."
            ),
        )
    return LabelledSet(tuple(t for t, _ in cleaned), tuple(lab for _, lab in cleaned), tuple(notices))


@dataclass(frozen=True)
class Split:
    """Which rows train the head and which are held out to score it."""

    train: tuple[int, ...]
    held_out: tuple[int, ...]


def stratified_split(labels: Sequence[str], held_out_share: float = HELD_OUT_SHARE, seed: int = 0) -> Split:
    """Hold out about `held_out_share` of each label (at least one), always leaving MIN_TRAIN_PER_LABEL
    rows of every label to train on: a label with only 2 rows keeps both for training."""
    if not 0.0 <= held_out_share < 1.0:
        raise ValueError(f"held_out_share must be in [0, 1), got {held_out_share}.")
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for lab in sorted(set(labels)):
        rows = np.array([i for i, x in enumerate(labels) if x == lab])
        if len(rows) <= MIN_TRAIN_PER_LABEL or held_out_share == 0:
            continue
        n_hold = min(len(rows) - MIN_TRAIN_PER_LABEL, max(1, round(held_out_share * len(rows))))
        held.extend(int(i) for i in rng.permutation(rows)[:n_hold])
    held_set = set(held)
    return Split(
        train=tuple(i for i in range(len(labels)) if i not in held_set),
        held_out=tuple(sorted(held_set)),
    )


# ---------------------------------------------------------------- the head
@dataclass(frozen=True)
class HeadConfig:
    """Training settings. `rank` is the head's size: the width of its bottleneck."""

    rank: int = 16
    steps: int = 100
    lr: float = 0.01
    seed: int = 0
    temperature: float = 0.1

    def __post_init__(self) -> None:
        if self.rank < 1 or self.rank > 1024:
            raise ValueError(f"Head rank must be between 1 and 1024, got {self.rank}. Valid sizes: {RANKS}")
        if not 1 <= self.steps <= 5000:
            raise ValueError(f"Steps must be between 1 and 5000, got {self.steps}.")
        if not 0 < self.lr <= 1:
            raise ValueError(
                f"Learning rate must be in (0, 1], got {self.lr}. Valid examples: {LEARNING_RATES}"
            )
        if not 0 < self.temperature <= 10:
            raise ValueError(f"Temperature must be in (0, 10], got {self.temperature}.")


@dataclass(frozen=True)
class Head:
    """Weights of y = x + up·(down·x): down (r, D), up (D, r)."""

    down: np.ndarray
    up: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def dim(self) -> int:
        return int(self.down.shape[1])


def identity_head(dim: int, rank: int, seed: int = 0) -> Head:
    """A freshly initialised head: random `down` (seeded), zero `up`, so it maps every x to itself."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    down = torch.randn(rank, dim, generator=generator, dtype=torch.float32) / math.sqrt(dim)  # (r, D)
    return Head(down=down.numpy(), up=np.zeros((dim, rank), dtype=np.float32))


def _forward(x, down, up):
    """The head in torch: x (S, D) → x + (x·downᵀ)·upᵀ."""
    return x + (x @ down.T) @ up.T  # (S, D)


def apply_head(head: Head, embeddings: np.ndarray) -> np.ndarray:
    """The head's output for (S, D) embeddings (same arithmetic as training, so the same bits)."""
    import torch

    embeddings = np.array(embeddings, dtype=np.float32)  # a writable copy: torch shares its memory
    if embeddings.ndim != 2 or embeddings.shape[1] != head.dim:
        raise ValueError(f"Expected embeddings of shape (S, {head.dim}), got {embeddings.shape}.")
    with torch.no_grad():
        out = _forward(torch.from_numpy(embeddings), torch.from_numpy(head.down), torch.from_numpy(head.up))
    return out.numpy()  # (S, D)


def contrastive_loss(outputs, labels, temperature: float = 0.1):
    """Supervised contrastive loss: each sentence should be closer (in cosine) to its own label's
    sentences than to the others. Anchors with no same-label partner are skipped."""
    import torch

    z = torch.nn.functional.normalize(outputs, dim=1)  # (S, D)
    sim = (z @ z.T) / temperature  # (S, S)
    eye = torch.eye(len(z), dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)  # (S, S)
    positive = (labels[:, None] == labels[None, :]) & ~eye  # (S, S)
    n_pos = positive.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        raise ValueError("The loss needs at least one label with two training sentences.")
    summed = log_prob.masked_fill(~positive, 0.0).sum(dim=1)  # (S,)
    return -(summed[has] / n_pos[has]).mean()


@dataclass(frozen=True)
class Snapshot:
    """The head at one training step: its loss, the outputs for every sentence, its weights."""

    step: int
    loss: float
    outputs: np.ndarray  # (S, D)
    head: Head
    losses: tuple[float, ...] = field(repr=False, default=())  # loss at every step up to this one


def _label_ids(labels: Sequence[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}
    return np.array([index[lab] for lab in labels], dtype=np.int64)


def snapshot_steps(steps: int, n_snapshots: int = N_SNAPSHOTS) -> list[int]:
    """The steps at which train_head reports: 0, then geometrically spaced up to the last step.

    Most of the motion happens early, so early steps are sampled densely and Play looks smooth.
    """
    spaced = np.geomspace(1, max(steps, 1), num=max(n_snapshots - 1, 1))
    return sorted({0, steps, *(round(float(v)) for v in spaced if v <= steps)})


def train_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    train_rows: Sequence[int],
    config: HeadConfig = HeadConfig(),
    n_snapshots: int = N_SNAPSHOTS,
) -> Iterator[Snapshot]:
    """Train a fresh head on the `train_rows` of (S, D) embeddings; yield snapshots from step 0 to the end.

    Full-batch Adam, seeded initialisation: the same inputs give the same snapshots. Outputs cover every
    sentence (held-out ones too), so a chart can show how unseen sentences move. The only random step is
    the initialisation (its own torch.Generator) and the operations run in a fixed order, so no
    process-wide torch setting (threads, deterministic mode, global seed) is touched: other users'
    runs in the same server are unaffected, even while this generator is paused at a `yield`.
    """
    import torch

    embeddings = np.array(embeddings, dtype=np.float32)  # a writable copy: torch shares its memory
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(f"Expected (S, D) embeddings for {len(labels)} labels, got {embeddings.shape}.")
    train_rows = list(train_rows)
    if len(train_rows) < 2:
        raise ValueError("Training needs at least 2 training sentences.")
    ids = torch.from_numpy(_label_ids(labels))
    report = set(snapshot_steps(config.steps, n_snapshots))
    start = identity_head(embeddings.shape[1], config.rank, config.seed)
    down = torch.nn.Parameter(torch.from_numpy(start.down.copy()))  # (r, D)
    up = torch.nn.Parameter(torch.from_numpy(start.up.copy()))  # (D, r)
    optimiser = torch.optim.Adam([down, up], lr=config.lr)
    x_all = torch.from_numpy(embeddings)  # (S, D)
    x_train, y_train = x_all[train_rows], ids[train_rows]  # (T, D), (T,)
    losses: list[float] = []
    for step in range(config.steps + 1):
        optimiser.zero_grad()
        loss = contrastive_loss(_forward(x_train, down, up), y_train, config.temperature)
        losses.append(float(loss.detach()))
        if step in report:
            head = Head(down=down.detach().numpy().copy(), up=up.detach().numpy().copy())
            yield Snapshot(step, losses[-1], apply_head(head, embeddings), head, tuple(losses))
        if step < config.steps:
            loss.backward()
            optimiser.step()


# ---------------------------------------------------------------- how well the labels separate
@dataclass(frozen=True)
class Separation:
    """How well labels separate: held-out 1-nearest-neighbour accuracy and the silhouette (cosine)."""

    nn_accuracy: float
    silhouette: float


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def separation(vectors: np.ndarray, labels: Sequence[str], split: Split) -> Separation:
    """Score (S, D) vectors: each held-out sentence takes its nearest training sentence's label."""
    z = _unit(vectors)
    labels_arr = np.asarray(labels)
    if split.held_out and split.train:
        sims = z[list(split.held_out)] @ z[list(split.train)].T  # (H, T)
        nearest = np.asarray(split.train)[np.argmax(sims, axis=1)]
        accuracy = float(np.mean(labels_arr[nearest] == labels_arr[list(split.held_out)]))
    else:
        accuracy = float("nan")
    n_classes = len(set(labels))
    if 2 <= n_classes <= len(labels) - 1:
        from sklearn.metrics import silhouette_score

        score = float(silhouette_score(z, labels_arr, metric="cosine"))
    else:
        score = float("nan")
    return Separation(accuracy, score)


@dataclass(frozen=True)
class HeadRun:
    """One finished training run, everything a page shows about it."""

    labelled: LabelledSet
    split: Split
    config: HeadConfig
    snapshots: tuple[Snapshot, ...]
    before: Separation
    after: Separation

    @property
    def losses(self) -> tuple[float, ...]:
        return self.snapshots[-1].losses

    @property
    def head(self) -> Head:
        return self.snapshots[-1].head


def finish_run(
    labelled: LabelledSet, split: Split, config: HeadConfig, snapshots: Sequence[Snapshot]
) -> HeadRun:
    """Bundle the snapshots of a run with separation before (step 0) and after (last step)."""
    if not snapshots:
        raise ValueError("A run needs at least one snapshot.")
    return HeadRun(
        labelled,
        split,
        config,
        tuple(snapshots),
        separation(snapshots[0].outputs, labelled.labels, split),
        separation(snapshots[-1].outputs, labelled.labels, split),
    )


def run_head(embeddings: np.ndarray, labelled: LabelledSet, config: HeadConfig = HeadConfig()) -> HeadRun:
    """Split, train and score in one call (the page drives train_head itself to show progress)."""
    split = stratified_split(labelled.labels, seed=config.seed)
    return finish_run(
        labelled, split, config, list(train_head(embeddings, labelled.labels, split.train, config))
    )


# ---------------------------------------------------------------- proving the model did not change
@dataclass(frozen=True)
class FrozenProof:
    """The base model's fingerprint and embeddings before vs after head training."""

    fingerprint_before: str
    fingerprint_after: str
    max_embedding_change: float
    embeddings_identical: bool

    @property
    def unchanged(self) -> bool:
        return self.fingerprint_before == self.fingerprint_after and self.embeddings_identical


def prove_unchanged(
    model: SentenceTransformer, texts: Sequence[str], fingerprint_before: str, embeddings_before: np.ndarray
) -> FrozenProof:
    """Re-fingerprint the model and re-embed the sentences; compare with what training started from."""
    from explorer.models import weights_fingerprint
    from explorer.states import extract_states

    again = extract_states(model, texts).pooled  # (S, D)
    change = float(np.max(np.abs(again - embeddings_before))) if len(again) else 0.0
    return FrozenProof(
        fingerprint_before, weights_fingerprint(model), change, bool(np.array_equal(again, embeddings_before))
    )


# ---------------------------------------------------------------- saving and loading a head
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


# ---------------------------------------------------------------- going further: tune the model itself
def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two (N, D) sets of vectors for the same N items: 1.0 = same geometry.

    Identical inputs return exactly 1.0 (checked first, then computed in float64 and clipped).
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same items in both sets, got {x.shape[0]} and {y.shape[0]} rows.")
    if np.array_equal(x, y):
        return 1.0
    xc = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0, dtype=np.float64)
    yc = np.asarray(y, dtype=np.float64) - np.mean(y, axis=0, dtype=np.float64)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    norm = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    if norm == 0:
        return float("nan")
    return float(min(1.0, cross / norm))


LAYER_PATHS = ("encoder.layer", "encoder.layers", "layers", "transformer.layer", "layer")


def transformer_layers(model: SentenceTransformer):
    """The model's stack of transformer blocks (a ModuleList), for the layouts tuning knows.

    Raises ValueError naming the architecture and the known layouts for anything else (e.g. T5's
    `encoder.block`, whose blocks share a position bias and cannot be tuned this way).
    """
    import torch

    backbone = getattr(model[0], "auto_model", None) if len(model) else None
    if not isinstance(backbone, torch.nn.Module):
        raise ValueError(
            "Tuning the top layers needs a transformer as the model's first module. "
            f"Valid first modules: a sentence-transformers Transformer with blocks at one of {list(LAYER_PATHS)}."
        )
    for path in LAYER_PATHS:
        target: Any = backbone
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if isinstance(target, torch.nn.ModuleList) and len(target) > 0:
            return target
    raise ValueError(
        f"Tuning the top layers does not support {type(backbone).__name__}: its transformer blocks are "
        f"not where this app looks. Valid layouts: {list(LAYER_PATHS)}."
    )


@dataclass(frozen=True)
class TunedModel:
    """A private copy of the model with its top k layers trained, and what moved.

    cka:  (L+1,) linear CKA of every layer's token vectors before vs after (1.0 = unmoved)
    """

    model: Any = field(repr=False)
    k: int
    losses: tuple[float, ...]
    cka: np.ndarray
    max_change: np.ndarray
    tuned_layers: tuple[int, ...]
    fingerprint_before: str
    fingerprint_after: str
    shared_fingerprint_after: str
    before: Separation
    after: Separation
    pooled_after: np.ndarray


TUNE_STEPS = 20
TUNE_LR = 1e-4


def _replay(block):
    """Wrap a frozen block so it computes once and then replays its output.

    Training feeds the same batch every step and the lower blocks are frozen, so their outputs never
    change: running them again would only cost time. The wrapper is removed after training.
    """
    import torch

    class Replay(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = block
            self.cached = None

        def forward(self, *args, **kwargs):
            if self.cached is None:
                with torch.no_grad():
                    self.cached = self.block(*args, **kwargs)
            out = self.cached
            return out.clone() if isinstance(out, torch.Tensor) else out

    return Replay()


def tune_top_layers(
    model: SentenceTransformer,
    labelled: LabelledSet,
    split: Split,
    k: int = 1,
    steps: int = TUNE_STEPS,
    lr: float = TUNE_LR,
    seed: int = 0,
    before: LayerStates | None = None,
    progress: ProgressFn | None = None,
) -> TunedModel:
    """Deep-copy `model`, train its top k layers with the head's loss through the model's own pooling,
    and compare every layer's hidden states with the untouched model. `model` itself is never changed.

    The copy runs in eval mode (no dropout) and full-batch Adam has no random step, so the run is
    reproducible without touching torch's global seed or settings; `seed` names the run for the page.
    ValueError for an architecture tuning does not know, a bad k, or a split with no usable pairs.
    """
    import torch

    from explorer.models import model_lock, weights_fingerprint
    from explorer.states import extract_states

    fingerprint_before = weights_fingerprint(model)
    n_layers = len(transformer_layers(model))
    if not 1 <= k <= n_layers:
        raise ValueError(
            f"k must be between 1 and {n_layers}, got {k}. Valid k: {list(range(1, n_layers + 1))}"
        )
    if before is None:
        before = extract_states(model, labelled.texts)
    with model_lock(model):  # never copy the shared tokenizer while another session is using it
        private = copy.deepcopy(model)
    private.eval()  # no dropout: the run is deterministic
    for p in private.parameters():
        p.requires_grad_(False)
    blocks = transformer_layers(private)
    trainable = [p for block in list(blocks)[n_layers - k :] for p in block.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    texts = [labelled.texts[i] for i in split.train]
    ids = torch.from_numpy(_label_ids(labelled.labels)[list(split.train)])
    losses: list[float] = []
    frozen = list(range(n_layers - k))
    for i in frozen:
        blocks[i] = _replay(blocks[i])
    try:
        optimiser = torch.optim.Adam(trainable, lr=lr)
        features = private.preprocess(texts)
        for step in range(steps + 1):
            optimiser.zero_grad()
            pooled = private(dict(features))["sentence_embedding"]  # (T, D)
            loss = contrastive_loss(pooled, ids)
            losses.append(float(loss.detach()))
            if step < steps:
                loss.backward()
                optimiser.step()
            if progress is not None:
                progress(step + 1, steps + 1)
    finally:
        for i in frozen:
            blocks[i] = blocks[i].block
    for p in private.parameters():
        p.requires_grad_(False)
    after = extract_states(private, labelled.texts)
    cka = np.array([linear_cka(b, a) for b, a in zip(before.layers, after.layers, strict=True)])
    change = np.array(
        [float(np.max(np.abs(b - a))) for b, a in zip(before.layers, after.layers, strict=True)]
    )
    return TunedModel(
        model=private,
        k=k,
        losses=tuple(losses),
        cka=cka,
        max_change=change,
        tuned_layers=tuple(range(n_layers - k + 1, n_layers + 1)),
        fingerprint_before=fingerprint_before,
        fingerprint_after=weights_fingerprint(private),
        shared_fingerprint_after=weights_fingerprint(model),
        before=separation(before.pooled, labelled.labels, split),
        after=separation(after.pooled, labelled.labels, split),
        pooled_after=after.pooled,
    )
