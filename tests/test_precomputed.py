"""The stored first-view states (assets/precomputed) are what the bundled model computes today, and a
first view drawn from them needs no model."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd

from explorer import assets, geometry, precomputed
from explorer.index import embed_texts
from explorer.models import DEFAULT_MODEL_ID, describe_model, weights_fingerprint
from explorer.states import extract_states, pooled_vectors


def test_stored_states_match_the_model(model) -> None:
    """Recompute every stored input with the real model: a changed model, sentence set or extraction
    makes this fail (rebuild with `python -m explorer.precomputed`). Within float32 rounding, not bit for
    bit: the same wheels on another CPU take other kernels (measured: up to 5.5e-6 apart on a machine
    other than the one that stored them); a real change moves values by far more than 5e-5."""
    stored = precomputed.read()
    assert stored is not None, "assets/precomputed is missing or unreadable"
    assert dataclasses.asdict(stored.info) == dataclasses.asdict(
        describe_model(model, DEFAULT_MODEL_ID, weights_fingerprint(model))
    )
    assert set(stored.states) == set(precomputed.shipped_inputs()), "every shipped input, and only those"
    for texts, kept in stored.states.items():
        fresh = extract_states(model, texts)
        for name in ("layers", "pooled_raw", "pooled"):
            np.testing.assert_allclose(
                getattr(kept, name), getattr(fresh, name), rtol=1e-5, atol=5e-5, err_msg=f"{texts[0]}: {name}"
            )
        pd.testing.assert_frame_equal(kept.tokens, fresh.tokens)
        assert (kept.truncated, kept.max_seq_length, kept.pooling) == (
            fresh.truncated,
            fresh.max_seq_length,
            fresh.pooling,
        )
    assert list(stored.embedded) == precomputed.shipped_embedded(), "the corpus and every first query"
    for texts, kept in stored.embedded.items():
        np.testing.assert_allclose(kept, embed_texts(model, texts), rtol=1e-5, atol=5e-5, err_msg=texts[0])
    assert list(stored.pooled) == precomputed.shipped_tables(), "every labelled set's texts"
    for texts, kept in stored.pooled.items():
        np.testing.assert_allclose(kept, pooled_vectors(model, texts), rtol=1e-5, atol=5e-5, err_msg=texts[0])
    assert list(stored.lab) == precomputed.shipped_lab(), "the Geometry lab's corpus"
    for texts, kept in stored.lab.items():
        # within what float32 rounding of the states moves them (the states as stored give them exactly)
        fresh = geometry.lab_measures(extract_states(model, texts))
        _same_measures(kept.measures, fresh.measures, rtol=1e-4, atol=1e-4)
        assert (kept.n_words, kept.n_repeated, kept.n_sampled) == (
            fresh.n_words,
            fresh.n_repeated,
            fresh.n_sampled,
        )
        np.testing.assert_allclose(kept.changes, fresh.changes, rtol=1e-4, atol=1e-4)


# Neighbour counts are steps: a coordinate a rounding apart can swap two neighbours at the same distance.
# On another CPU (AMD EPYC, AVX2 kernels, against the machine that stored them) faithfulness moved by one
# neighbour of the 1,100 a layer counts (9e-4) while every other measure stayed within 1e-15.
NEIGHBOUR_STEP = 1e-3


def _same_measures(kept: pd.DataFrame, fresh: pd.DataFrame, rtol: float, atol: float) -> None:
    steps = [c for c in kept.columns if c.startswith("faithfulness")]
    assert steps, "the measures name their neighbour scores"
    pd.testing.assert_frame_equal(
        kept.drop(columns=steps), fresh.drop(columns=steps), check_exact=False, rtol=rtol, atol=atol
    )
    np.testing.assert_allclose(kept[steps], fresh[steps], rtol=0, atol=max(atol, NEIGHBOUR_STEP))


def test_stored_lab_measures_are_what_the_page_computes_from_the_stored_states() -> None:
    """The lab's first view shows what it would compute from the states it reads: bit for bit on the
    machine that stored them, within a rounding (and a neighbour swapped at a tie) on another CPU."""
    stored = precomputed.read()
    for texts, kept in stored.lab.items():
        fresh = geometry.lab_measures(stored.states[texts])
        _same_measures(kept.measures, fresh.measures, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(kept.changes, fresh.changes)
        assert not kept.changes.flags.writeable, "shared by every visitor"


def test_the_file_is_read_as_it_is_used(monkeypatch) -> None:
    """Opening the stored files reads no array; a set of states is read on first use, once, and
    is what the file holds (a first view pays for the one set it draws, not the 16 MB file)."""
    reads: list[str] = []
    original = assets.StoredArrays.__getitem__

    def counted(self, name):
        reads.append(name)
        return original(self, name)

    monkeypatch.setattr(assets.StoredArrays, "__getitem__", counted)
    stored = precomputed.read()
    assert stored is not None and reads == []
    texts = precomputed.shipped_inputs()[0]
    assert texts in stored.states and reads == []
    states = stored.states[texts]
    assert sorted(reads) == ["0_layers", "0_pooled", "0_pooled_raw"]
    assert stored.states[texts] is states and len(reads) == 3
    with np.load(precomputed.FOLDER / "states.npz") as whole:
        np.testing.assert_array_equal(states.layers, whole["0_layers"])
        np.testing.assert_array_equal(stored.embedded[precomputed.shipped_embedded()[0]], whole["embedded_0"])


def test_a_changed_file_is_not_used(tmp_path) -> None:
    """A wrong format or a damaged file reads as nothing (the pages then run the model)."""
    assert precomputed.read(tmp_path) is None
    (tmp_path / "index.json").write_text('{"format": 999}')
    (tmp_path / "states.npz").write_bytes((precomputed.FOLDER / "states.npz").read_bytes())
    assert precomputed.read(tmp_path) is None, "another format"
    (tmp_path / "index.json").write_text((precomputed.FOLDER / "index.json").read_text())
    assert precomputed.read(tmp_path) is not None, "the same files, copied"
    assert list(precomputed.read(tmp_path).lab) == [], "no lab measures file: the lab computes them"
    (tmp_path / precomputed.LAB_FILE).write_bytes((precomputed.FOLDER / precomputed.LAB_FILE).read_bytes())
    assert list(precomputed.read(tmp_path).lab) == precomputed.shipped_lab()
    assert precomputed.read_lab(tmp_path, "another model's weights") == {}, "measures of other weights"
    (tmp_path / precomputed.LAB_FILE).write_bytes(b"not a zip")
    assert list(precomputed.read(tmp_path).lab) == [], "a damaged lab file reads as none"
    (tmp_path / "states.npz").write_bytes(b"not a zip")
    assert precomputed.read(tmp_path) is None, "damaged arrays"


FIRST_VIEWS = """
import sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
from explorer.ui import caches
caches.warm_model = lambda *args, **kwargs: None  # no background load: see what the page itself needs
def no_model(*args, **kwargs):
    raise AssertionError("a first view loaded the model")
caches.load_model = no_model
for page in ("app.py", *sorted(str(p) for p in Path("pages").glob("*.py"))):
    at = AppTest.from_file(page, default_timeout=120).run()
    assert not at.exception, (page, at.exception)
    charts = [e for e in at.get("vega_lite_chart")]
    assert charts, page
    loaded = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
    print(page, "loaded:", loaded)
    print(page, "scipy:", "scipy" in sys.modules)
"""


def test_first_views_draw_without_the_model() -> None:
    """Every page's first view (Sentence embedding's search index and first query, the Geometry lab's
    corpus and sense contexts and the Fine-tune page's table included) draws its charts in a fresh
    interpreter without loading the model or importing torch, transformers or sentence-transformers (the
    Fine-tune page's untrained preview included: `head.untrained_preview`)."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_VIEWS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=precomputed.FOLDER.parent.parent,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = dict(line.split(" loaded: ") for line in done.stdout.splitlines() if " loaded: " in line)
    assert len(said) == 5, done.stdout
    assert {page: libs for page, libs in said.items() if libs != "[]"} == {}, done.stdout
    # scipy takes 0.3 s of a cold start to import: every first view draws without it (the Geometry lab's
    # measures, which fit Procrustes rotations, are stored ahead). The pages run in one interpreter.
    scipy = dict(line.split(" scipy: ") for line in done.stdout.splitlines() if " scipy: " in line)
    assert [page for page, used in scipy.items() if used == "True"] == [], done.stdout
