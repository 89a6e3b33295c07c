"""Bounds on a forward pass's peak memory, claimed on the server's memory ledger before the model runs."""

from __future__ import annotations

from explorer.states import DEFAULT_BATCH_SIZE, MAX_BATCH_TOKENS


def batch_peak_bytes(longest: int, n_texts: int, n_layers: int, dim: int, heads: int) -> int:
    """A bound on one batch's working memory in a forward pass that keeps `n_layers` + 1 layers (0: only
    the last): those hidden states, one layer's attention scores and their softmax, and the feed-forward's
    4×-wide activations (three copies), for a batch as `states.batches` fills it with sentences of
    `longest` word pieces. Measured one batch of 8 × 256 pieces: 62 MB above the model (this bound: 91 MB);
    keeping every layer 105 MB (113)."""
    batch = max(1, min(DEFAULT_BATCH_SIZE, n_texts, MAX_BATCH_TOKENS // max(1, longest)))
    pieces = batch * longest
    return int(pieces * 4 * ((n_layers + 1) * dim + 2 * heads * longest + 3 * 4 * dim))


# What the token table costs per token while it is built (its Python lists) and kept (its DataFrame).
TOKEN_TABLE_BYTES = 256


def states_peak_bytes(n_tokens: int, longest: int, n_texts: int, n_layers: int, dim: int, heads: int) -> int:
    """A bound on the memory `extract_states` takes at its peak above what the process held before: every
    token's layers once (the result), its token table, a batch's working memory and 32 MB. Measured with
    MiniLM warm (bench/bench_peaks.py), peak (this bound) in MB: the default Fine-tune table 21 (…);
    100 sentences of 256 word pieces 308-362 (…); 80 of 256, 292 (…); 200 of 256, 669 (…)."""
    layers = n_tokens * (n_layers + 1) * dim * 4 + n_texts * (n_layers + 1) * dim * 4  # float32, + pooled_raw
    return int(
        layers
        + n_tokens * TOKEN_TABLE_BYTES
        + batch_peak_bytes(longest, n_texts, n_layers, dim, heads)
        + 32 * 2**20
    )


def pooled_peak_bytes(longest: int, n_texts: int, dim: int, heads: int) -> int:
    """A bound on the memory `pooled_vectors` takes at its peak above the model: one batch's working
    memory keeping no layer but the last, and 32 MB. Measured on 200 sentences of 256 word pieces: 62 MB
    (this bound: 123 MB)."""
    return batch_peak_bytes(longest, n_texts, 0, dim, heads) + 32 * 2**20


def umap_peak_bytes(n_points: int, n_layers: int, dim: int) -> int:
    """A bound on the memory an aligned UMAP over `n_layers` + 1 layers of `n_points` points takes at its
    peak above what the process held before (numba's code compiled already: the warm-up does that): two
    copies of the input and about 9 KB of neighbour graphs and layouts per point and layer, and 16 MB.
    Measured with MiniLM's 384 dimensions over 7 layers, peak (this bound) in MB: 500 points 29 (60),
    1,500 points 101 (138), 3,000 points 118 (260)."""
    per_point = 2 * dim * 4 + 9 * 1024
    return int(n_points * (n_layers + 1) * per_point + 16 * 2**20)


def measures_peak_bytes(n_words: int, n_tokens: int, n_layers: int, dim: int) -> int:
    """A bound on the memory the Geometry lab's layer-by-layer measures take above the states they read:
    the words' vectors in float64 (kept while they are measured), then the larger of the measures'
    working copies (unit vectors and their products, about 1.6× the words again) and the per-layer
    comparison of every token (three float64 layers), and 32 MB. Measured over 100 sentences of 256
    word pieces (8,700 words, 25,600 tokens, 7 layers): words 187 MB, peak 447 MB (this bound: 498)."""
    words = (n_layers + 1) * n_words * dim * 8
    return int(max(2.6 * words, words + 3 * n_tokens * dim * 8) + 32 * 2**20)


def why_peak_bytes(n_tokens: int, n_rows: int, n_layers: int, dim: int, heads: int) -> int:
    """A bound on the memory `decomposition.decompose` takes for `n_rows` followed tokens of one sentence of
    `n_tokens` word pieces (float64 throughout): what it keeps for every layer (each row's sources, its
    attention and the layer's mixing) and one layer's working copies (the attention weights and each
    head's values, four copies of the rows' sources, the feed-forward's 4×-wide activations), and 32 MB.
    Measured with MiniLM warm (bench/bench_peaks.py, `why_long`): six followed tokens of a sentence of
    256 word pieces, 85 MB (this bound: 124)."""
    f8 = 8
    kept = n_layers * f8 * (n_rows * n_tokens * (dim + heads) + n_tokens * n_tokens + 8 * n_rows * dim)
    working = f8 * (
        4 * n_rows * n_tokens * dim + 3 * heads * n_tokens * n_tokens + 2 * heads * n_tokens * dim
    )
    return int(kept + working + f8 * 8 * n_tokens * dim + 32 * 2**20)
