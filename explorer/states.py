"""One forward pass → every layer's vector for every token, a token table, and the pooled vectors.

Pooling is done by the model's own modules (its Pooling, then Normalize), applied to the same hidden
states we show, so the pooled vector is exactly what `SentenceTransformer.encode` returns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer.assets import stopwords
from explorer.models import model_lock
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


def extract_states(
    model: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> LayerStates:
    """Run the model once over `texts` and keep every layer of every real token."""
    import torch

    texts = tuple(str(t) for t in texts)
    if not texts:
        raise ValueError("extract_states needs at least one sentence.")
    first = model[0]
    backbone = first.auto_model
    tokenizer = first.tokenizer
    max_len = int(model.max_seq_length)
    pool_modules, post_modules = _pooling_modules(model)
    pooling = str(getattr(next(iter(pool_modules), None), "pooling_mode", "unknown"))

    # Longest first, as `encode` does, so each batch pads little; results are put back in input order.
    lengths = [len(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    per_sentence: dict[int, tuple[np.ndarray, dict[str, list], np.ndarray, np.ndarray, bool]] = {}
    done = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [texts[i] for i in idx]
        with model_lock(model):  # the tokenizer and model are shared by every session
            features = model.preprocess(batch)
            encoding = tokenizer(batch, truncation=True, max_length=max_len, return_offsets_mapping=True)
            with torch.inference_mode():
                out = backbone(
                    **{
                        k: features[k]
                        for k in ("input_ids", "attention_mask", "token_type_ids")
                        if k in features
                    },
                    output_hidden_states=True,
                    return_dict=True,
                )
                hidden = torch.stack(out.hidden_states)  # (L+1, B, T, D)
                pooled_raw = torch.stack([_pool(pool_modules, features, h) for h in hidden])  # (L+1, B, D)
                last = (
                    _run(pool_modules, {**features, "token_embeddings": hidden[-1]}) if pool_modules else None
                )
                final = _run(
                    post_modules,
                    last if last is not None else {**features, "sentence_embedding": pooled_raw[-1]},
                )
                pooled = final["sentence_embedding"]  # (B, D') the model's embedding; D' may differ from D
            mask = features["attention_mask"].bool()  # (B, T)
            n_real = mask.sum(dim=1).tolist()  # (B,)
            at_limit = [b for b, n in enumerate(n_real) if n >= max_len]  # only these can have been cut
            full = (
                tokenizer([batch[b] for b in at_limit], truncation=False, verbose=False)["input_ids"]
                if at_limit
                else []
            )
        cut = {b: len(ids) > max_len for b, ids in zip(at_limit, full, strict=True)}
        special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}  # [UNK] stands for real text
        for b, i in enumerate(idx):
            real = mask[b]  # (T,) padding may sit on either side
            n = int(real.sum())
            ids = features["input_ids"][b][real].tolist()
            pieces = tokenizer.convert_ids_to_tokens(ids)
            offsets = encoding["offset_mapping"][b][:n] if "offset_mapping" in encoding else [(0, 0)] * n
            table = {  # columns as plain lists: one DataFrame for all sentences is built at the end
                "sentence": [i] * n,
                "position": list(range(n)),
                "token": pieces,
                "text": [_surface(texts[i], p, o) for p, o in zip(pieces, offsets, strict=False)],
                "word_id": _word_ids(encoding, b, n),
                "special": [t in special for t in ids],
            }
            per_sentence[i] = (
                hidden[:, b][:, real].float().numpy(),  # (L+1, n, D)
                table,
                pooled_raw[:, b].float().numpy(),  # (L+1, D)
                pooled[b].float().numpy(),  # (D,)
                cut.get(b, False),
            )
        done += len(idx)
        if progress is not None:
            progress(done, len(texts))

    ordered = [per_sentence[i] for i in range(len(texts))]
    layers = np.concatenate([o[0] for o in ordered], axis=1)  # (L+1, N, D)
    tokens = pd.DataFrame({c: [v for o in ordered for v in o[1][c]] for c in TOKEN_COLUMNS})
    tokens["word_id"] = tokens["word_id"].astype("Int64")
    result = LayerStates(
        texts=texts,
        layers=frozen(layers),
        tokens=tokens,
        pooled_raw=frozen(np.stack([o[2] for o in ordered], axis=1)),  # (L+1, S, D)
        pooled=frozen(np.stack([o[3] for o in ordered])),  # (S, D)
        truncated=tuple(o[4] for o in ordered),
        max_seq_length=max_len,
        pooling=pooling,
    )
    return result


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
