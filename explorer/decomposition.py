"""Why a token moved: each layer's new vector of a token split exactly into what made it.

A BERT-style layer (post-LayerNorm: BERT, MiniLM, RoBERTa) turns token i's vector x_i into

    y_i = x_i + sum_j f_ij + b_O          f_ij = sum_h A^h_ij (x_j W_V^h + b_V^h) W_O^h
    z_i = LN1(y_i),   u_i = FFN(z_i),   h_i = LN2(z_i + u_i)

where f_ij is what source token j sends to i through attention (every head, the value transform and the
output projection included; Kobayashi et al., EMNLP 2020). A LayerNorm is a linear map once its
token's standard deviation is fixed (Kobayashi et al., EMNLP 2021): N_i(v) = gamma * (v - mean(v)) / s_i.
Applying both LayerNorms' linear maps term by term gives, exactly,

    h_i = N2_i(N1_i(x_i))                 itself: the residual stream
        + sum_j N2_i(N1_i(f_ij))          each source token j (j = i included: attention to itself)
        + N2_i(u_i)                       the feed-forward block (its output bias in it)
        + N2_i(N1_i(b_O) + beta1) + beta2 the biases, which belong to no token (stated on their own)

The feed-forward block is non-linear: it is one term, not split further. Everything is recomputed in
float64 from the model's own weights and its layer l-1 states; the parts add back to the model's own
layer l states to float32 rounding (tests: at most 1e-4 relative, every token of every layer).
Models of another architecture raise `NotCovered`: the page draws nothing rather than something wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import torch

COVERED_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")


class NotCovered(ValueError):
    """The model's layers are not ones this decomposition is exact for."""


@dataclass(frozen=True)
class LayerParts:
    """One layer's update of the tokens at `rows`, split (float64; R rows of T tokens, D dimensions)."""

    rows: np.ndarray  # (R,) the tokens i split, by position in the sentence
    before: np.ndarray  # (R, D) x_i: the layer's input (layer l-1)
    after: np.ndarray  # (R, D) the model's own output of the layer (layer l)
    itself: np.ndarray  # (R, D) N2_i(N1_i(x_i))
    sources: np.ndarray  # (R, T, D) [i, j]: N2_i(N1_i(f_ij)), what source j sent to i through attention
    feed_forward: np.ndarray  # (R, D) N2_i(u_i)
    bias: np.ndarray  # (R, D) what no token sent
    attention: np.ndarray  # (H, R, T) the attention weights, for comparison only
    mixing: np.ndarray  # (T, T) every token's attention weights averaged over heads (for rollout)

    def total(self) -> np.ndarray:
        """(R, D) the parts added up: equals `after` to float32 rounding."""
        return self.itself + self.sources.sum(axis=1) + self.feed_forward + self.bias


def check_covered(backbone: torch.nn.Module) -> None:
    """NotCovered unless `backbone` is a post-LayerNorm BERT-style encoder with absolute positions."""
    config = getattr(backbone, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in COVERED_TYPES:
        raise NotCovered(
            f"Why-it-moved covers BERT-style encoders ({', '.join(COVERED_TYPES)}); this model is {kind!r}."
        )
    position = getattr(config, "position_embedding_type", "absolute")
    if position != "absolute":
        raise NotCovered(f"Why-it-moved covers absolute positions only; this model uses {position!r}.")
    layer = backbone.encoder.layer[0]
    for path in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"):  # fmt: skip
        module = layer
        for name in path.split("."):
            module = getattr(module, name, None)
        if module is None:
            raise NotCovered(f"Why-it-moved needs BERT's layer layout; this model's layers have no {path}.")


def _weights(linear) -> tuple[np.ndarray, np.ndarray]:
    weight = linear.weight.detach().double().numpy()  # (out, in)
    bias = linear.bias.detach().double().numpy() if linear.bias is not None else np.zeros(weight.shape[0])
    return weight, bias


def _norm_parts(y: np.ndarray, norm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale (T, 1), gamma (D,), beta (D,)) of LayerNorm `norm` at inputs y (T, D): N_i(v) = gamma *
    (v - mean v) * scale_i, and LN(y_i) = N_i(y_i) + beta."""
    gamma = norm.weight.detach().double().numpy()
    beta = norm.bias.detach().double().numpy()
    scale = 1.0 / np.sqrt(y.var(axis=-1, keepdims=True) + float(norm.eps))  # (T, 1)
    return scale, gamma, beta


def _linear_norm(v: np.ndarray, scale: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """N_i(v) for v (T, D) with scale (T, 1), or v (T, T, D) with scale (T, 1, 1): centred, scaled."""
    return gamma * (v - v.mean(axis=-1, keepdims=True)) * scale


def _attention(layer, x: np.ndarray, mask: np.ndarray | None, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """(A (H, T, T), sent (H, T, D)): the attention weights A^h_ij, and what source j sends through head
    h before its weight, (x_j W_V^h + b_V^h) W_O^h; so f_ij = sum_h A^h_ij sent[h, j]."""
    attention = layer.attention
    t, d = x.shape
    dh = d // heads
    wq, bq = _weights(attention.self.query)
    wk, bk = _weights(attention.self.key)
    wv, bv = _weights(attention.self.value)
    wo, _ = _weights(attention.output.dense)
    q = (x @ wq.T + bq).reshape(t, heads, dh).transpose(1, 0, 2)  # (H, T, dh)
    k = (x @ wk.T + bk).reshape(t, heads, dh).transpose(1, 0, 2)  # (H, T, dh)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(dh)  # (H, T, T)
    if mask is not None:
        scores = np.where(np.asarray(mask, dtype=bool)[None, None, :], scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)  # (H, T, T) A^h_ij
    values = (x @ wv.T + bv).reshape(t, heads, dh).transpose(1, 0, 2)  # (H, T, dh) x_j W_V^h + b_V^h
    return weights, np.einsum("hjc,dhc->hjd", values, wo.reshape(d, heads, dh))  # (H, T, D)


def _rest_of_layer(layer, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
    """From y (..., D), attention's sum with the residual, to the layer's output: (h, u, LN1's parts,
    LN2's parts), u the feed-forward block's output."""
    import torch

    scale1, gamma1, beta1 = _norm_parts(y, layer.attention.output.LayerNorm)
    z = _linear_norm(y, scale1, gamma1) + beta1  # (..., D)
    w1, b1 = _weights(layer.intermediate.dense)
    w2, b2 = _weights(layer.output.dense)
    with torch.no_grad():
        hidden = layer.intermediate.intermediate_act_fn(torch.from_numpy(z @ w1.T + b1)).numpy()  # (..., 4D)
    u = hidden @ w2.T + b2  # (..., D)
    scale2, gamma2, beta2 = _norm_parts(z + u, layer.output.LayerNorm)
    return _linear_norm(z + u, scale2, gamma2) + beta2, u, (scale1, gamma1, beta1), (scale2, gamma2, beta2)


def decompose_layer(layer: torch.nn.Module, x: np.ndarray, after: np.ndarray, mask: np.ndarray | None = None,
                    n_heads: int | None = None, rows: Sequence[int] | None = None) -> LayerParts:  # fmt: skip
    """Split one BERT layer's output for the tokens at `rows` (every token if None; see the module's
    docstring). `x` (T, D) is the layer's input, `after` (T, D) the model's own output (kept beside the
    parts to check them); `mask` (T,) marks real tokens (padding gets no attention). Only the rows'
    sources are kept: (rows, T, D), not (T, T, D) (256 tokens would make 200 MB a layer)."""
    heads = int(n_heads or layer.attention.self.num_attention_heads)
    x = x.astype(np.float64)  # (T, D)
    rows = np.arange(len(x)) if rows is None else np.asarray(rows, dtype=int)
    weights, sent = _attention(layer, x, mask, heads)
    _, bo = _weights(layer.attention.output.dense)
    y = x + np.einsum("hij,hjd->id", weights, sent) + bo  # (T, D)
    _, u, (scale1, gamma1, beta1), (scale2, gamma2, beta2) = _rest_of_layer(layer, y)
    scale1, scale2 = scale1[rows], scale2[rows]  # (R, 1)

    def both(v: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
        return _linear_norm(_linear_norm(v, s1, gamma1), s2, gamma2)

    f = np.einsum("hij,hjd->ijd", weights[:, rows], sent)  # (R, T, D) f_ij for the rows' tokens i
    biases = _linear_norm(np.broadcast_to(bo, (len(rows), x.shape[1])), scale1, gamma1) + beta1
    return LayerParts(
        rows=rows,
        before=x[rows],
        after=np.asarray(after, dtype=np.float64)[rows],
        itself=both(x[rows], scale1, scale2),
        sources=both(f, scale1[:, :, None], scale2[:, :, None]),
        feed_forward=_linear_norm(u[rows], scale2, gamma2),
        bias=_linear_norm(biases, scale2, gamma2) + beta2,
        attention=weights[:, rows],
        mixing=weights.mean(axis=0),
    )


def value_zeroing(layer: torch.nn.Module, x: np.ndarray, mask: np.ndarray | None = None,
                  n_heads: int | None = None) -> np.ndarray:  # fmt: skip
    """(T, T) [i, j]: how far token i's layer output moves (cosine distance) when source j's value
    vectors are zeroed in every head (Mohebbi et al., EACL 2023): the ground truth the parts are checked
    against, not an explanation drawn on the page."""
    heads = int(n_heads or layer.attention.self.num_attention_heads)
    x = x.astype(np.float64)  # (T, D)
    weights, sent = _attention(layer, x, mask, heads)
    f = np.einsum("hij,hjd->ijd", weights, sent)  # (T, T, D) f_ij
    _, bo = _weights(layer.attention.output.dense)
    y = x + f.sum(axis=1) + bo  # (T, D)
    h, *_ = _rest_of_layer(layer, y)  # (T, D)
    h_without, *_ = _rest_of_layer(layer, y[None, :, :] - f.transpose(1, 0, 2))  # (T_j, T_i, D)
    cos = (h_without * h[None]).sum(-1) / (np.linalg.norm(h_without, axis=-1) * np.linalg.norm(h, axis=-1))
    return (1.0 - cos).T  # (T_i, T_j)


def decompose(
    backbone: torch.nn.Module, features: dict, rows: Sequence[int] | None = None
) -> list[LayerParts]:
    """Every layer's parts for the tokens at `rows` (all if None) of one sentence (`features`: the model's
    own tokenized batch of one), from layer 1 to the last; NotCovered for another architecture."""
    import torch

    check_covered(backbone)
    inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
    if inputs["input_ids"].shape[0] != 1:
        raise ValueError(f"decompose takes one sentence at a time, not {inputs['input_ids'].shape[0]}.")
    with torch.inference_mode():
        hidden = backbone(
            **inputs, output_hidden_states=True, return_dict=True
        ).hidden_states  # L+1 of (1,T,D)
    mask = inputs["attention_mask"][0].numpy().astype(bool) if "attention_mask" in inputs else None
    states = [h[0].double().numpy() for h in hidden]  # L+1 of (T, D)
    return [
        decompose_layer(layer, states[n], states[n + 1], mask, backbone.config.num_attention_heads, rows)
        for n, layer in enumerate(backbone.encoder.layer)
    ]


def relative_error(parts: LayerParts) -> np.ndarray:
    """(R,) how far the parts' sum is from the model's own vector, relative to that vector's length."""
    return np.linalg.norm(parts.total() - parts.after, axis=-1) / np.linalg.norm(parts.after, axis=-1)


PARTS = ("itself", "other tokens", "feed-forward", "biases")


PULLS_BY = ("parts", "attention", "rollout")


def rollout(layers: Sequence[LayerParts]) -> list[np.ndarray]:
    """Attention rollout (Abnar & Zuidema, ACL 2020), per layer: (T, T), how much of each input token
    reaches each token through attention alone, the residual counted as half of every layer's mixing
    (A/2 + I/2, rows summing to 1). Not what moved a token: the feed-forward blocks and the values are
    left out."""
    out, total = [], None
    for parts in layers:
        mixing = 0.5 * parts.mixing + 0.5 * np.eye(len(parts.mixing))  # (T, T)
        mixing /= mixing.sum(axis=-1, keepdims=True)
        total = mixing if total is None else mixing @ total
        out.append(total)
    return out


def _strength(parts: LayerParts, by: str, rolled: np.ndarray | None) -> np.ndarray:
    """(R, T) what each source gave each token split, by the chosen measure."""
    if by == "parts":
        return np.linalg.norm(parts.sources, axis=-1)
    if by == "attention":
        return parts.attention.mean(axis=0)
    return rolled[parts.rows]


def pull_table(layers: Sequence[LayerParts], by: str = "parts") -> pd.DataFrame:
    """One row per (layer, token split, source token other than itself): how much the source sent
    (`strength`, the length of its part) and its share of what every other token sent (`share`), ranked
    within the token's layer (`rank` 1 = the most). Layers count from 1 (the update from layer 0).
    `by="attention"`: the attention weights averaged over heads instead (where the heads looked, for
    comparison: not what moved the token); `by="rollout"`: attention rollout across the layers so far."""
    import pandas as pd

    if by not in PULLS_BY:
        raise ValueError(f"Unknown way to rank sources: {by}. Valid: {list(PULLS_BY)}")
    frames = []
    rolled = rollout(layers) if by == "rollout" else None
    for n, parts in enumerate(layers, start=1):
        strength = _strength(parts, by, rolled[n - 1] if rolled is not None else None)  # (R, T)
        for r, i in enumerate(parts.rows):
            others = np.delete(np.arange(strength.shape[1]), i)
            values = strength[r, others]
            order = np.argsort(-values, kind="stable")
            total = values.sum()
            frames.append(
                pd.DataFrame(
                    {
                        "layer": n,
                        "target": int(i),
                        "source": others[order],
                        "strength": values[order],
                        "share": values[order] / total if total > 0 else 0.0,
                        "rank": np.arange(1, len(order) + 1),
                    }
                )
            )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["layer", "target", "source", "strength", "share", "rank"])
    )


def move_table(layers: Sequence[LayerParts]) -> pd.DataFrame:
    """One row per (layer, token split, part): how far that part carried the token along its actual move
    from layer l-1 to l (`along`: the part's projection on the move; the four add up to `move`, the move's
    length, exactly). `itself` is the residual's change plus what the token sent itself through attention;
    a negative value pulled against the move."""
    import pandas as pd

    rows = []
    for n, parts in enumerate(layers, start=1):
        move = parts.after - parts.before  # (R, D)
        length = np.linalg.norm(move, axis=-1)  # (R,)
        direction = move / np.where(length > 0, length, 1.0)[:, None]
        own = parts.sources[np.arange(len(parts.rows)), parts.rows]  # (R, D) what i sent itself
        pieces = {
            "itself": parts.itself - parts.before + own,
            "other tokens": parts.sources.sum(axis=1) - own,
            "feed-forward": parts.feed_forward,
            "biases": parts.bias,
        }
        for name in PARTS:
            along = (pieces[name] * direction).sum(-1)  # (R,)
            for r, i in enumerate(parts.rows):
                rows.append((n, int(i), name, float(along[r]), float(length[r])))
    return pd.DataFrame(rows, columns=["layer", "target", "part", "along", "move"])
