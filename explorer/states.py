"""One forward pass → every layer's vector for every token, a token table, and the pooled vectors.

Pooling is done by the model's own modules (its Pooling, then Normalize), applied to the same hidden
states we show, so the pooled vector is exactly what `SentenceTransformer.encode` returns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer.assets import stopwords
from explorer.models import model_lock, on_model_thread
from explorer.vectors import frozen

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

TOKEN_COLUMNS = ("sentence", "position", "token", "text", "word_id", "special")
DEFAULT_BATCH_SIZE = 32
MAX_LAYERS = 96  # the deepest layer a link or a chart may name (the largest models have fewer)

ProgressFn = Callable[[int, int], None]  # progress(done, total): long work reports how far it is


@dataclass(frozen=True)
class LayerStates:
    """Hidden states of every real (non-padding) token at every layer, plus pooled sentence vectors.

    layers:      (L+1, N, D)  entry 0 is the embedding layer, entry L the output layer
    tokens:      N rows, columns TOKEN_COLUMNS, in sentence then position order
    pooled_raw:  (L+1, S, D)  the model's pooling applied at each layer, before normalisation
    pooled:      (S, D)       the model's sentence embedding (what `encode` returns)
    """

    texts: tuple[str, ...]
    layers: np.ndarray
    tokens: pd.DataFrame
    pooled_raw: np.ndarray
    pooled: np.ndarray
    truncated: tuple[bool, ...]
    max_seq_length: int
    pooling: str

    @property
    def n_layers(self) -> int:
        """Number of transformer layers (the arrays hold one more: the embedding layer)."""
        return self.layers.shape[0] - 1

    @property
    def n_sentences(self) -> int:
        return len(self.texts)

    def sentence_of_token(self) -> np.ndarray:
        return self.tokens["sentence"].to_numpy()

    def summary(self) -> StatesSummary:
        """Everything about these states except the vectors (small enough to cache anywhere)."""
        return StatesSummary(
            self.texts, self.tokens, self.n_layers, int(self.layers.shape[2]), self.pooling,
            self.truncated, self.max_seq_length,
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays and the token table (what a cache of states must budget for)."""
        table = int(self.tokens.memory_usage(index=True, deep=True).sum())
        return int(self.layers.nbytes + self.pooled_raw.nbytes + self.pooled.nbytes) + table


@dataclass(frozen=True)
class StatesSummary:
    """What pages show about a set of states without needing the vectors themselves."""

    texts: tuple[str, ...]
    tokens: pd.DataFrame
    n_layers: int
    width: int  # D, the size of each token's vector
    pooling: str
    truncated: tuple[bool, ...]
    max_seq_length: int


def layer_names(n_layers: int) -> list[str]:
    """Named stops for a layer slider: '0 · embeddings', '1', …, 'L · output'."""
    names = ["0 · embeddings"] + [str(i) for i in range(1, n_layers)]
    return [*names, f"{n_layers} · output"] if n_layers > 0 else names


def _pooling_modules(model: SentenceTransformer) -> tuple[list, list]:
    """Split the modules after the transformer into (the pooling itself, everything after it).

    Only the pooling step maps token vectors to a point in the same space (what `pooled_raw` holds);
    Dense layers, Normalize and the like come after and are applied only for the final embedding.
    """
    after = list(model)[1:]
    cut = next((i + 1 for i, m in enumerate(after) if hasattr(m, "pooling_mode")), 0)
    return after[:cut], after[cut:]


def _pool(modules: list, features: dict, hidden: torch.Tensor) -> torch.Tensor:
    """The model's pooling of one layer's token vectors; a plain masked mean when the model has no
    pooling module or its output is not a point in the token space (several modes concatenated)."""
    if modules:
        out = _run(modules, {**features, "token_embeddings": hidden})["sentence_embedding"]
        if out.shape[-1] == hidden.shape[-1]:
            return out
    mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (B, D)


def _run(modules: list, features: dict) -> dict:
    for module in modules:
        features = module(features)
    return features


# Padded word pieces in one batch (sentences × the batch's longest): bounds a batch's working memory,
# which for long sentences is most of a pass's peak (attention scores grow with the square of the
# length). Every preset keeps its one batch (the stored first views stay bit for bit). Measured over 64
# sentences of 256 pieces, above the model: 160 MB with 4,096 a batch, 90 with 2,048, 40 with 1,024
# (and 1,024 took longer); the same time with 2,048 as with 4,096.
MAX_BATCH_TOKENS = 2048


def batches(
    lengths: Sequence[int], pieces: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> list[list[int]]:
    """Sentence indices in batches: longest text first, as `encode` does, so each batch pads little; a
    batch ends at `batch_size` sentences or at `max_tokens` padded word pieces (`pieces` per sentence)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in order:
        wider = max(longest, pieces[i])
        if batch and (len(batch) == batch_size or (len(batch) + 1) * wider > max_tokens):
            batches.append(batch)
            batch, wider = [], pieces[i]
        batch.append(i)
        longest = wider
    if batch:
        batches.append(batch)
    return batches


def word_pieces(model: SentenceTransformer, texts: Sequence[str]) -> list[int]:
    """How many word pieces the model reads of each text (tokenized as the model's own `preprocess` does,
    truncated at `max_seq_length`)."""
    with model_lock(model):  # the tokenizer is shared by every session
        mask = model.preprocess(list(texts))["attention_mask"]  # (S, T)
    return [int(n) for n in mask.sum(dim=1).tolist()]


# Texts this short (about 500 word pieces, 0.1 s of work here) are run in one hold of the model lock: a
# quick update waits for the lock once, not once to count its word pieces and again per batch.
ONE_HOLD_CHARS = 2_000


def extract_states(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> LayerStates:
    """Run the model once over `texts` and keep every layer of every real token.

    The layers are written batch by batch into one array sized up front: the states are held once, not
    once per sentence and again for all (what a server's memory claim must cover:
    `peaks.states_peak_bytes`).
    """
    texts = tuple(str(t) for t in texts)
    if sum(len(t) for t in texts) > ONE_HOLD_CHARS:
        return _extract_states(model, texts, batch_size, progress)
    with model_lock(model):
        return _extract_states(model, texts, batch_size, progress)


def _extract_states(
    model: SentenceTransformer, texts: tuple[str, ...], batch_size: int, progress: ProgressFn | None
) -> LayerStates:
    import torch

    if not texts:
        raise ValueError("extract_states needs at least one sentence.")
    first = model[0]
    backbone = first.auto_model
    tokenizer = first.tokenizer
    max_len = int(model.max_seq_length)
    pool_modules, post_modules = _pooling_modules(model)
    pooling = str(getattr(next(iter(pool_modules), None), "pooling_mode", "unknown"))

    pieces = word_pieces(model, texts)
    starts = np.concatenate([[0], np.cumsum(pieces)])  # sentence i's tokens: rows starts[i]:starts[i + 1]
    n_layers = int(getattr(backbone.config, "num_hidden_layers", 0))
    layers = np.empty((n_layers + 1, int(starts[-1]), int(backbone.config.hidden_size)), dtype=np.float32)
    pooled_raw = np.empty((n_layers + 1, len(texts), layers.shape[2]), dtype=np.float32)  # (L+1, S, D)
    pooled_rows: dict[int, np.ndarray] = {}  # (D',) per sentence: D' may differ from D
    tables: dict[int, dict[str, list]] = {}
    cut: dict[int, bool] = {}

    def forward(features: dict, idx: list[int]) -> tuple[torch.Tensor, list[int], np.ndarray]:
        with torch.inference_mode():  # on the model thread (see `on_model_thread`)
            out = backbone(**_inputs(features), output_hidden_states=True, return_dict=True)
            hidden = out.hidden_states  # L+1 of (B, T, D)
            if len(hidden) != len(layers):
                raise ValueError(f"The model gave {len(hidden)} hidden states for {n_layers} layers.")
            mask = features["attention_mask"].bool()  # (B, T) padding may sit on either side
            n_real = mask.sum(dim=1).tolist()  # (B,)
            if n_real != [pieces[i] for i in idx]:
                raise ValueError("The model read other word pieces than its tokenizer counted.")
            rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in idx])  # batch order
            for depth, h in enumerate(hidden):
                layers[depth, rows] = h[mask].float().numpy()  # (tokens of the batch, D)
                pooled_raw[depth, idx] = _pool(pool_modules, features, h).float().numpy()  # (B, D)
            last = _run(pool_modules, {**features, "token_embeddings": hidden[-1]}) if pool_modules else None
            final = _run(
                post_modules,
                last
                if last is not None
                else {**features, "sentence_embedding": torch.from_numpy(pooled_raw[-1, idx])},
            )
            pooled = final["sentence_embedding"].float().numpy()  # (B, D') the model's embedding
            return mask, n_real, pooled  # the batch's tensors die with this frame

    done = 0
    for idx in batches([len(t) for t in texts], pieces, batch_size):
        batch = [texts[i] for i in idx]
        with model_lock(model):  # the tokenizer and model are shared by every session
            features = model.preprocess(batch)
            encoding = tokenizer(batch, truncation=True, max_length=max_len, return_offsets_mapping=True)
            mask, n_real, pooled = on_model_thread(partial(forward, features, idx), int(starts[-1]))
            at_limit = [b for b, n in enumerate(n_real) if n >= max_len]  # only these can have been cut
            full = (
                tokenizer([batch[b] for b in at_limit], truncation=False, verbose=False)["input_ids"]
                if at_limit
                else []
            )
        too_long = {b: len(ids) > max_len for b, ids in zip(at_limit, full, strict=True)}
        special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}  # [UNK] stands for real text
        for b, i in enumerate(idx):
            n = n_real[b]
            ids = features["input_ids"][b][mask[b]].tolist()
            tokens = tokenizer.convert_ids_to_tokens(ids)
            offsets = encoding["offset_mapping"][b][:n] if "offset_mapping" in encoding else [(0, 0)] * n
            tables[i] = {  # columns as plain lists: one DataFrame for all sentences is built at the end
                "sentence": [i] * n,
                "position": list(range(n)),
                "token": tokens,
                "text": [_surface(texts[i], p, o) for p, o in zip(tokens, offsets, strict=False)],
                "word_id": _word_ids(encoding, b, n),
                "special": [t in special for t in ids],
            }
            pooled_rows[i] = pooled[b]
            cut[i] = too_long.get(b, False)
        done += len(idx)
        if progress is not None:
            progress(done, len(texts))

    order = range(len(texts))
    tokens = pd.DataFrame({c: [v for i in order for v in tables[i][c]] for c in TOKEN_COLUMNS})
    tokens["word_id"] = tokens["word_id"].astype("Int64")
    return LayerStates(
        texts=texts,
        layers=frozen(layers),
        tokens=tokens,
        pooled_raw=frozen(pooled_raw),
        pooled=frozen(np.stack([pooled_rows[i] for i in order])),  # (S, D')
        truncated=tuple(cut[i] for i in order),
        max_seq_length=max_len,
        pooling=pooling,
    )


def pooled_vectors(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """(S, D') the model's sentence embeddings, exactly `extract_states(model, texts).pooled` (the same
    batches, the same pooling, bit for bit), without keeping any token's layers: for work that needs only
    the sentence vectors (the Fine-tune page's head and its proof), a fraction of the memory."""
    import torch

    texts = tuple(str(t) for t in texts)
    if not texts:
        raise ValueError("pooled_vectors needs at least one sentence.")
    backbone = model[0].auto_model
    pool_modules, post_modules = _pooling_modules(model)
    pieces = word_pieces(model, texts)
    total = int(sum(pieces))  # the whole pass's word pieces (`on_model_thread`)
    rows: dict[int, np.ndarray] = {}

    def forward(features: dict) -> np.ndarray:
        with torch.inference_mode():  # on the model thread (see `on_model_thread`)
            out = backbone(**_inputs(features), return_dict=True)
            last = out.last_hidden_state  # (B, T, D)
            if pool_modules:
                pooled_features = _run(pool_modules, {**features, "token_embeddings": last})
            else:
                pooled_features = {**features, "sentence_embedding": _pool([], features, last)}
            pooled = _run(post_modules, pooled_features)["sentence_embedding"].float().numpy()  # (B, D')
            return pooled  # its tensors die with this frame, before the next batch

    done = 0
    for idx in batches([len(t) for t in texts], pieces, batch_size):
        with model_lock(model):  # the tokenizer and model are shared
            features = model.preprocess([texts[i] for i in idx])
            pooled = on_model_thread(partial(forward, features), total)
        for b, i in enumerate(idx):
            rows[i] = pooled[b]
        done += len(idx)
        if progress is not None:
            progress(done, len(texts))
    return frozen(np.stack([rows[i] for i in range(len(texts))]))  # (S, D')


def _inputs(features: dict) -> dict:
    """What the backbone reads of the model's own preprocessing (`model.preprocess`)."""
    return {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}


def _word_ids(encoding, b: int, n: int) -> list[int | None]:
    try:
        ids = encoding.word_ids(b)
    except (ValueError, AttributeError):  # slow tokenizers do not track words
        return [None] * n
    return list(ids[:n]) + [None] * max(0, n - len(ids))


def _surface(text: str, token: str, offset: tuple[int, int]) -> str:
    """The characters of the input a token came from (so '[UNK]' shows as the emoji it stands for)."""
    start, end = offset
    if end > start:
        return text[start:end]
    return token


def is_punctuation(text: str) -> bool:
    """True for tokens made only of punctuation or symbols (',' '.' '##!' '…')."""
    stripped = text.removeprefix("##")
    return bool(stripped) and all(unicodedata.category(ch)[0] in "PS" for ch in stripped)


def token_mask(
    tokens: pd.DataFrame, hide_special: bool = False, hide_punctuation: bool = False
) -> np.ndarray:
    """Boolean (N,) mask of the tokens to show."""
    keep = np.ones(len(tokens), dtype=bool)
    if hide_special:
        keep &= ~tokens["special"].to_numpy(dtype=bool)
    if hide_punctuation:
        keep &= ~tokens["token"].map(is_punctuation).to_numpy(dtype=bool)
    return keep


def default_highlight(tokens: pd.DataFrame, limit: int = 8) -> list[int]:
    """Token rows worth following by default: the most repeated content word across sentences.

    For the 'bank' set that is every 'bank'; ties go to the word seen first; at most `limit` rows (a
    word repeated in a hundred sentences would bury the picture). Empty when no word repeats.
    """
    stop = stopwords()
    rows: dict[str, list[int]] = {}  # each candidate word's rows, words in the order first seen
    sentences: dict[str, set[int]] = {}
    columns = (tokens.index, tokens["text"], tokens["sentence"], tokens["special"])
    for row, text, sentence, special in zip(*(c.tolist() for c in columns), strict=True):
        word = str(text).lower()
        if special or len(word) <= 2 or not word.isalpha() or word in stop:
            continue
        rows.setdefault(word, []).append(row)
        sentences.setdefault(word, set()).add(sentence)
    spread = {word: len(seen) for word, seen in sentences.items() if len(seen) >= 2}
    if not spread:
        return []
    best = max(spread, key=spread.__getitem__)  # the first of the most spread
    return rows[best][:limit]


def find_word(tokens: pd.DataFrame, sentence: int, word: str) -> list[int]:
    """Rows of the first occurrence of `word` (case-insensitive) in a sentence, all its pieces."""
    wanted = word.strip().lower()
    rows = tokens[(tokens["sentence"] == sentence) & tokens["word_id"].notna()]
    for _, group in rows.groupby("word_id", sort=True):
        if "".join(group["text"]).lower() == wanted:
            return group.index.tolist()
    return []
