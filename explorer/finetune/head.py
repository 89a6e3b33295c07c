"""The tiny head on frozen sentence embeddings: its weights, training, and how well labels separate.

The head is a residual low-rank map `y = x + B(A x)` with B starting at zero, so at step 0 it is exactly
the identity and the picture is the model's own geometry. It is trained with a supervised contrastive
loss that pulls sentences with the same label together. The model is never touched by this: only arrays
of its embeddings go in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from explorer.finetune.labelled import LabelledSet, Split, stratified_split
from explorer.vectors import unit_rows

N_SNAPSHOTS = 30
RANKS = (2, 4, 8, 16, 32, 64)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)


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


def untrained_preview(embeddings: np.ndarray, rank: int) -> tuple[np.ndarray, Head]:
    """Step 0 before any training, without torch: the outputs (S, D) an identity head gives, bit for bit
    `apply_head(identity_head(...), embeddings)` (x + 0), and a head of zeros of that rank standing for
    "nothing trained yet" (training draws its own seeded `down` when it starts). Importing torch for the
    seeded draw took 0.8 s of the Fine-tune page's first visit."""
    x = np.array(embeddings, dtype=np.float32)  # (S, D)
    dim = x.shape[1]
    return x + np.float32(0.0), Head(
        down=np.zeros((rank, dim), np.float32), up=np.zeros((dim, rank), np.float32)
    )


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


def label_ids(labels: Sequence[str]) -> np.ndarray:
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
    ids = torch.from_numpy(label_ids(labels))
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


@dataclass(frozen=True)
class Separation:
    """How well labels separate: held-out 1-nearest-neighbour accuracy and the silhouette (cosine)."""

    nn_accuracy: float
    silhouette: float


def separation(vectors: np.ndarray, labels: Sequence[str], split: Split) -> Separation:
    """Score (S, D) vectors: each held-out sentence takes its nearest training sentence's label."""
    z = unit_rows(vectors)
    labels_arr = np.asarray(labels)
    if split.held_out and split.train:
        sims = z[list(split.held_out)] @ z[list(split.train)].T  # (H, T)
        nearest = np.asarray(split.train)[np.argmax(sims, axis=1)]
        accuracy = float(np.mean(labels_arr[nearest] == labels_arr[list(split.held_out)]))
    else:
        accuracy = float("nan")
    n_classes = len(set(labels))
    score = cosine_silhouette(z, labels_arr) if 2 <= n_classes <= len(labels) - 1 else float("nan")
    return Separation(accuracy, score)


def cosine_silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette of unit rows `z` (S, D) under cosine distance (1 - cosine), as scikit-learn's
    `silhouette_score(z, labels, metric="cosine")` computes it: for each row, a = its mean distance to the
    others of its label, b = the smallest mean distance to another label's rows, s = (b - a) / max(a, b),
    and 0 for a row alone in its label. Here in numpy: importing scikit-learn for it took 0.6 s of the
    Fine-tune page's first visit."""
    distance = np.clip(1.0 - np.asarray(z, np.float64) @ np.asarray(z, np.float64).T, 0.0, None)  # (S, S)
    np.fill_diagonal(distance, 0.0)
    names, of_row = np.unique(labels, return_inverse=True)
    members = np.eye(len(names), dtype=np.float64)[of_row]  # (S, K) one-hot
    sums = distance @ members  # (S, K): each row's summed distance to each label's rows
    sizes = members.sum(axis=0)  # (K,)
    own = sizes[of_row]
    a = sums[np.arange(len(of_row)), of_row] / np.maximum(own - 1, 1)
    means = sums / sizes
    means[np.arange(len(of_row)), of_row] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(own > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(np.nan_to_num(s).mean())


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
