"""The bundled model's states for the shipped sentence sets, computed ahead and stored in `assets/`.

A visitor's first view (home, and the Token journey with its default set) then draws without loading the
model: importing torch and loading the weights takes longer than everything else the first view does.
The Sentence embedding page's first view needs two more things the model makes, stored here too: the
bundled corpus's sentence embeddings (its search index) and the default query's (as `embed_texts` makes
them). Without them its first visit loaded the model and embedded the corpus: 12.5 s against 4.5 s. The
Geometry lab's corpus and the Fine-tune page's labelled sets likewise (the model's load was 4 and 3.4 s of
those pages' first 6.3 and 5.9 s).
The files hold exactly what `extract_states` returns (float32, bit for bit on this CPU), with the weight
fingerprint of the model they came from; `tests/test_precomputed.py` recomputes them with the real model
and fails when they drift. When the model is loaded, `caches` checks the fingerprint again and stops using
these files if it differs.

Rebuild after changing a sentence set or the model:  python -m explorer.precomputed
"""

from __future__ import annotations

import dataclasses
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
import pandas as pd

from explorer import assets, geometry, senses
from explorer.finetune.labelled import prepare_labelled
from explorer.index import embed_texts
from explorer.inputs import parse_sentences
from explorer.models import DEFAULT_MODEL_ID, ModelInfo, describe_model, load_model, weights_fingerprint
from explorer.states import TOKEN_COLUMNS, LayerStates, extract_states, layer_names, pooled_vectors
from explorer.vectors import frozen

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

FOLDER = assets.PRECOMPUTED
FORMAT = 2
LAB_FILE = "lab_measures.npz"  # the Geometry lab's first-view measures, derived from the stored states


def shipped_inputs() -> list[tuple[str, ...]]:
    """Every input a first view asks of the bundled model every layer of: each sentence set as the pages
    read it (group tags taken off), the home page's two-sentence demo, and the Geometry lab's corpus and
    first word's sense contexts."""
    inputs = [parse_sentences(s.text, with_groups=True).sentences for s in assets.sentence_sets().values()]
    first_word = next(iter(senses.word_sense_presets().values()))
    lab = [assets.geometry_corpus(), senses.parse_sense_lines(first_word.as_text()).sentences]
    return list(dict.fromkeys([*inputs, assets.HOME_DEMO[:2], *map(tuple, lab)]))


def shipped_tables() -> list[tuple[str, ...]]:
    """The texts of each labelled set as the Fine-tune page reads them: it needs their sentence vectors
    only (`pooled_vectors`), not every layer."""
    return list(dict.fromkeys(tuple(prepare_labelled(p.rows).texts) for p in assets.labelled_sets().values()))


def shipped_embedded() -> list[tuple[str, ...]]:
    """Every list of texts a first view embeds with `embed_texts`: the bundled corpus (the search index)
    and each query a first view or a lesson asks (one at a time, as a query is embedded)."""
    queries = {lesson.view["query"] for lesson in assets.lessons() if "query" in lesson.view}
    return [tuple(assets.bundled_corpus().texts), *sorted((q,) for q in {assets.DEFAULT_QUERY, *queries})]


V = TypeVar("V")


class _Decoded(Mapping[tuple[str, ...], V], Generic[V]):
    """texts → what is stored for them, each decoded from the file on first use and then kept for the
    server's life (a lock: two visitors asking at once decode it once). Keys are known from the index,
    so asking whether something is stored reads nothing."""

    def __init__(self, keys: list[tuple[str, ...]], decode: Callable[[int], V]) -> None:
        self._position = {key: i for i, key in enumerate(keys)}
        self._decode = decode
        self._decoded: dict[tuple[str, ...], V] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: tuple[str, ...]) -> V:
        position = self._position[key]
        with self._lock:
            if key not in self._decoded:
                self._decoded[key] = self._decode(position)
            return self._decoded[key]

    def __contains__(self, key: object) -> bool:
        return key in self._position

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)


@dataclasses.dataclass(frozen=True)
class Precomputed:
    """The bundled model's card, its states for each shipped input, and its embeddings of each shipped
    list of texts ((N, D), as `embed_texts` returns them) and its sentence vectors of each labelled set
    ((S, D), as `pooled_vectors` returns them). Each is read from the file when first asked for."""

    info: ModelInfo
    states: Mapping[tuple[str, ...], LayerStates]
    embedded: Mapping[tuple[str, ...], np.ndarray] = dataclasses.field(default_factory=dict)
    pooled: Mapping[tuple[str, ...], np.ndarray] = dataclasses.field(default_factory=dict)
    lab: Mapping[tuple[str, ...], geometry.LabMeasures] = dataclasses.field(default_factory=dict)


def build(model: SentenceTransformer, info: ModelInfo, folder: Path = FOLDER) -> Path:
    """Compute the states of every shipped input with `model` and write them to `folder`."""
    entries, arrays = [], {}
    states_of = {}
    for i, texts in enumerate(shipped_inputs()):
        states = states_of[texts] = extract_states(model, texts)
        for name in ("layers", "pooled_raw", "pooled"):
            arrays[f"{i}_{name}"] = getattr(states, name)
        entries.append(
            {
                "texts": list(texts),
                "truncated": list(states.truncated),
                "max_seq_length": states.max_seq_length,
                "pooling": states.pooling,
                "tokens": {c: states.tokens[c].astype(object).where(states.tokens[c].notna(), None).tolist()
                           for c in TOKEN_COLUMNS},
                "dtypes": {c: str(states.tokens[c].dtype) for c in TOKEN_COLUMNS},
            }
        )  # fmt: skip
    embedded, pooled = [], []
    for i, texts in enumerate(shipped_embedded()):
        arrays[f"embedded_{i}"] = embed_texts(model, texts)
        embedded.append({"texts": list(texts)})
    for i, texts in enumerate(shipped_tables()):
        arrays[f"pooled_{i}"] = pooled_vectors(model, texts)
        pooled.append({"texts": list(texts)})
    index = {
        "format": FORMAT,
        "model_id": info.model_id,
        "info": dataclasses.asdict(info),
        "entries": entries,
        "embedded": embedded,
        "pooled": pooled,
    }
    written = assets.write_stored_arrays(index, arrays, folder)
    build_lab(lambda texts: states_of[texts], info.fingerprint, folder)
    return written


def shipped_lab() -> list[tuple[str, ...]]:
    """The inputs whose Geometry lab measures a first view shows: the bundled corpus (its first tab)."""
    return [tuple(assets.geometry_corpus())]


def build_lab(
    states_of: Callable[[tuple[str, ...]], LayerStates], fingerprint: str, folder: Path = FOLDER
) -> Path:
    """Write the Geometry lab's measures (no UMAP) of each `shipped_lab` input, from its stored states
    (`geometry.lab_measures` of them is what the page would compute): 0.3-0.6 s off the lab's first visit."""
    arrays: dict[str, np.ndarray] = {"fingerprint": np.array(fingerprint)}
    for i, texts in enumerate(shipped_lab()):
        lab = geometry.lab_measures(states_of(texts))
        numbers = lab.measures.drop(columns=["layer", "layer_name"])
        arrays |= {
            f"{i}_texts": np.array(texts, dtype=str),
            f"{i}_columns": np.array(list(numbers.columns), dtype=str),
            f"{i}_values": numbers.to_numpy(np.float64),
            f"{i}_changes": lab.changes,
            f"{i}_counts": np.array([lab.n_words, lab.n_repeated, lab.n_sampled], dtype=np.int64),
        }
    written = folder / LAB_FILE
    np.savez_compressed(written, **arrays)
    return written


def _lab(arrays, i: int) -> geometry.LabMeasures:
    values = arrays[f"{i}_values"]
    measures = pd.DataFrame({"layer": np.arange(len(values)), "layer_name": layer_names(len(values) - 1)})
    for j, column in enumerate(arrays[f"{i}_columns"].tolist()):
        measures[column] = values[:, j]
    n_words, n_repeated, n_sampled = (int(n) for n in arrays[f"{i}_counts"])
    changes = arrays[f"{i}_changes"]  # float64, as the page computes it
    changes.flags.writeable = False  # shared by every visitor
    return geometry.LabMeasures(measures, n_words, n_repeated, changes, n_sampled)


def read_lab(folder: Path, fingerprint: str) -> Mapping[tuple[str, ...], geometry.LabMeasures]:
    """What `build_lab` wrote to `folder` for the model of `fingerprint` (each read when first asked
    for); empty when the file is missing, unreadable or of other weights."""
    try:
        arrays = np.load(folder / LAB_FILE, allow_pickle=False)
        if str(arrays["fingerprint"]) != fingerprint:
            return {}
        count = sum(1 for name in arrays.files if name.endswith("_texts"))
        keys = [tuple(arrays[f"{i}_texts"].tolist()) for i in range(count)]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return {}
    return _Decoded(keys, lambda i: _lab(arrays, i))


def _states(i: int, entry: dict, arrays) -> LayerStates:
    tokens = pd.DataFrame({c: pd.Series(entry["tokens"][c], dtype=entry["dtypes"][c]) for c in TOKEN_COLUMNS})
    return LayerStates(
        texts=tuple(entry["texts"]),
        layers=frozen(arrays[f"{i}_layers"]),
        tokens=tokens,
        pooled_raw=frozen(arrays[f"{i}_pooled_raw"]),
        pooled=frozen(arrays[f"{i}_pooled"]),
        truncated=tuple(entry["truncated"]),
        max_seq_length=int(entry["max_seq_length"]),
        pooling=entry["pooling"],
    )


def read(folder: Path = FOLDER) -> Precomputed | None:
    """What `build` wrote to `folder`, or None when there is nothing usable there."""
    stored = assets.read_stored_arrays(folder)
    if stored is None or stored[0].get("format") != FORMAT:
        return None
    index, arrays = stored
    try:
        entries, embedded, pooled = index["entries"], index["embedded"], index["pooled"]
        needed = {f"{i}_{name}" for i in range(len(entries)) for name in ("layers", "pooled_raw", "pooled")}
        needed |= {f"embedded_{i}" for i in range(len(embedded))} | {
            f"pooled_{i}" for i in range(len(pooled))
        }
        if not needed <= arrays.names:
            return None
        return Precomputed(
            ModelInfo(**index["info"]),
            _Decoded([tuple(e["texts"]) for e in entries], lambda i: _states(i, entries[i], arrays)),
            _Decoded([tuple(e["texts"]) for e in embedded], lambda i: frozen(arrays[f"embedded_{i}"])),
            _Decoded([tuple(e["texts"]) for e in pooled], lambda i: frozen(arrays[f"pooled_{i}"])),
            read_lab(folder, index["info"]["fingerprint"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=1)
def shipped() -> Precomputed | None:
    """The files in `assets/precomputed`, read once per server (shared and never mutated)."""
    return read()


def main() -> None:
    model = load_model(DEFAULT_MODEL_ID)
    written = build(model, describe_model(model, DEFAULT_MODEL_ID, weights_fingerprint(model)))
    print(f"wrote {written} ({written.stat().st_size / 2**20:.1f} MB) and its index.json")


if __name__ == "__main__":
    main()
