"""Going further: tune the top k transformer layers of a private deep copy of the model, and measure,
layer by layer, how far the hidden states moved. The shared model is never changed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from explorer.finetune.head import Separation, contrastive_loss, label_ids, separation
from explorer.finetune.labelled import LabelledSet, Split
from explorer.models import model_lock, weights_fingerprint
from explorer.peaks import states_peak_bytes
from explorer.states import LayerStates, ProgressFn, extract_states, word_pieces
from explorer.vectors import linear_cka

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
    """What tuning the top k layers of a private copy of the model measured. The copy itself is freed once
    measured (a server keeps only these arrays per visitor; see `nbytes`).

    cka:          (L+1,) linear CKA of every layer's token vectors before vs after (1.0 = unmoved)
    moved:        (L+1, N) how far each token's vector moved at each layer (Euclidean, all dimensions)
    after_layers: (L+1, N, D) every layer's token vectors through the tuned copy (read-only)
    """

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
    moved: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    after_layers: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 0)))

    @property
    def nbytes(self) -> int:
        """Memory these results hold (what a server keeps per visitor after tuning)."""
        arrays = (self.cka, self.max_change, self.pooled_after, self.moved, self.after_layers)
        return int(sum(a.nbytes for a in arrays))


TUNE_STEPS = 20
TUNE_LR = 1e-4


def peak_bytes(model: SentenceTransformer, labelled: LabelledSet, split: Split, k: int) -> int:
    """A bound on the memory `tune_top_layers` needs at its peak above the server's (the table's states
    `before` at hand), for a server budget to reserve before it runs.

    The private copy, and for its top k blocks gradients and Adam's two moments; full-batch training over
    the training rows padded to the longest (P word pieces of length T), whose activations are kept for
    the backward pass: per piece and per layer run with gradients (k, and one for the frozen layers'
    replayed pass) 4 bytes × (16·D + 2·heads·T); then every layer of every row through the copy
    (`states_peak_bytes`). Measured (bench/bench_peaks.py and the figures in README), peak (this bound)
    in MB: default table k=1 140 (161), k=6 255 (292); 48 rows of 63 pieces k=1 275 (435), k=6 707 (989);
    24 of 153, k=6 817 (1,365); 8 of 256, k=6 654 (1,065).
    """
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    blocks = list(transformer_layers(model))
    trained = sum(p.numel() * p.element_size() for block in blocks[-k:] for p in block.parameters())
    config = model[0].auto_model.config
    dim, heads = int(config.hidden_size), int(getattr(config, "num_attention_heads", 16) or 16)
    pieces = word_pieces(model, labelled.texts)
    train = [pieces[i] for i in split.train] or [0]
    longest = max(train)
    activations = len(train) * longest * (k + 1) * 4 * (16 * dim + 2 * heads * longest)
    after = states_peak_bytes(sum(pieces), max(pieces), len(pieces), len(blocks), dim, heads)
    return int(weights + 3 * trained + activations + after)


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
    ids = torch.from_numpy(label_ids(labelled.labels)[list(split.train)])
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
        moved=np.stack(  # (L+1, N), one layer at a time: all at once, the float64 difference was 4× the layers
            [
                np.linalg.norm(a.astype(np.float64) - b, axis=1)
                for a, b in zip(after.layers, before.layers, strict=True)
            ]
        ),
        after_layers=after.layers,
    )
