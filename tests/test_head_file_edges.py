"""Hostile head files: every one is refused with one sentence that says why, never Python's own words."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import APPTEST_TIMEOUT
from safetensors.numpy import load, save
from streamlit.testing.v1 import AppTest

from explorer.finetune import head as hd
from explorer.finetune import head_file
from explorer.finetune import labelled as lb

PREFIX = "Not a head file from this app: "
# Words of Python's, json's, zipfile's or sklearn's own messages, which a user should never see.
RAW_WORDS = ("sys.set_int_max_str_digits", "recursion", "codec", "Expecting", "File is not a zip", "Input X")


@pytest.fixture(scope="module")
def toy():
    """A real head file (rank 4 on 32 dims), the vectors it was trained on, and its two parts."""
    rng = np.random.default_rng(0)
    labels = ["a"] * 4 + ["b"] * 4
    x = rng.normal(size=(len(labels), 32)).astype(np.float32)
    x[:, 0] += np.where(np.array(labels) == "a", 0.8, -0.8)
    labelled = lb.prepare_labelled(zip([f"t{i}" for i in range(len(labels))], labels, strict=True))
    data = head_file.head_to_bytes(hd.run_head(x, labelled, hd.HeadConfig(rank=4, steps=5)), "toy", "0" * 16)
    archive = zipfile.ZipFile(io.BytesIO(data))
    return data, x, archive.read("head.json").decode(), archive.read("head.safetensors")


def _zip(meta: str | bytes, weights: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("head.json", meta)
        archive.writestr("head.safetensors", weights)
    return out.getvalue()


def _with_raw(meta: str, path: tuple[str, ...], raw: str) -> str:
    """head.json text with the raw JSON `raw` at `path` (so it can hold what json.dumps never writes)."""
    edited = json.loads(meta)
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@@RAW@@"
    return json.dumps(edited).replace('"@@RAW@@"', raw)


def _scaled(weights: bytes, scale: float, dtype=np.float32) -> bytes:
    """The same weights as all-ones times `scale`, stored as `dtype`."""
    return save(
        {k: (np.ones(v.shape, dtype=np.float64) * scale).astype(dtype) for k, v in load(weights).items()}
    )


def _refusal(data: bytes) -> str:
    with pytest.raises(head_file.HeadFileError) as caught:
        head_file.head_from_bytes(data)
    message = str(caught.value)
    assert message.startswith(PREFIX) and message.endswith(".")
    assert "\n" not in message and len(message) < 200, message
    assert not any(word in message for word in RAW_WORDS), message
    return message


def test_an_integer_of_thousands_of_digits_is_refused_in_our_words(toy):
    _, _, meta, weights = toy
    for path in (("config", "seed"), ("rank",), ("model_id",)):
        message = _refusal(_zip(_with_raw(meta, path, "9" * 5000), weights))
        assert "5,000-digit integer" in message and "at most 20 digits" in message
    message = _refusal(_zip(_with_raw(meta, ("held_out",), "[" + "1" * 4000 + "]"), weights))
    assert "4,000-digit integer" in message  # below Python's limit, but no field needs it


@pytest.mark.parametrize(("scale", "dtype"), [(1e308, np.float64), (3e38, np.float32), (1e30, np.float32)])
def test_weights_too_large_to_multiply_are_refused(toy, scale, dtype):
    _, _, meta, weights = toy
    message = _refusal(_zip(meta, _scaled(weights, scale, dtype)))
    assert "weights 'down' are too large to use" in message and "at most 1e+06" in message


def test_weights_at_the_bound_load_and_give_finite_pictures(toy):
    """The bound keeps the head's arithmetic finite: no NaN reaches sklearn's silhouette."""
    _, x, meta, weights = toy
    shapes = {k: v.shape for k, v in load(weights).items()}
    per_entry = {k: 0.999 * head_file.MAX_WEIGHT_NORM / np.sqrt(np.prod(s)) for k, s in shapes.items()}
    at_bound = save({k: np.full(shapes[k], per_entry[k], dtype=np.float32) for k in shapes})
    saved = head_file.head_from_bytes(_zip(meta, at_bound))
    run = head_file.run_from_saved(saved, x * 100)  # far longer vectors than any model's embeddings
    assert all(np.isfinite(s.outputs).all() for s in run.snapshots)
    assert np.isfinite([run.after.nn_accuracy, run.after.silhouette]).all()
    over = save({k: np.full(shapes[k], per_entry[k] * 1.01, dtype=np.float32) for k in shapes})
    assert "too large to use" in _refusal(_zip(meta, over))


@pytest.mark.parametrize("nested", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_json_nested_100000_deep_is_refused_before_parsing(toy, nested):
    message = _refusal(_zip(nested, toy[3]))
    assert "nests 100,000 levels deep" in message and "at most 8" in message


def test_brackets_inside_texts_do_not_count_as_nesting(toy):
    _, _, meta, weights = toy
    edited = json.loads(meta)
    edited["texts"] = ['[[[[[[[[[[ {{{{{{{{{{ "quoted" \\ ' + str(i) for i in range(len(edited["texts"]))]
    saved = head_file.head_from_bytes(_zip(json.dumps(edited), weights))
    assert saved.labelled.texts[0].startswith("[[[[[[[[[[")


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("NaN literal", lambda m, w: _zip(_with_raw(m, ("config", "lr"), "NaN"), w), "config lr nan"),
        ("Infinity literal", lambda m, w: _zip(_with_raw(m, ("losses",), "[Infinity]"), w), "loss curve"),
        ("-Infinity temperature", lambda m, w: _zip(_with_raw(m, ("config", "temperature"), "-Infinity"), w),
         "config temperature"),
        ("a list at the top", lambda m, w: _zip("[1, 2, 3]", w), "one JSON object, not list"),
        ("a string at the top", lambda m, w: _zip('"head"', w), "one JSON object, not str"),
        ("empty head.json", lambda m, w: _zip("", w), "head.json is empty"),
        ("broken JSON", lambda m, w: _zip('{"format": }', w), "not valid JSON (expecting value at line 1"),
        ("latin-1 head.json", lambda m, w: _zip(b'{"t": "caf\xe9"}', w), "not UTF-8 text (byte 10 "),
        ("an empty upload", lambda m, w: b"", "the file is empty"),
        ("a 20 MB upload", lambda m, w: b"PK" + b"\0" * 20_000_000, "larger than 5 MB"),
        ("20 MB unpacked", lambda m, w: _zip('{"texts": "' + "x" * 20_000_000 + '"}', w), "20.0 MB unpacked"),
        ("not a zip", lambda m, w: b"plain text", "not a zip file"),
        ("damaged weights", lambda m, w: _zip(m, b"garbage"), "head.safetensors cannot be read"),
        ("lr as a string", lambda m, w: _zip(_with_raw(m, ("config", "lr"), '"0.01"'), w), "config lr '0.01'"),
        ("steps as a string", lambda m, w: _zip(_with_raw(m, ("config", "steps"), '"5"'), w), "config steps '5'"),
        ("rank as a string", lambda m, w: _zip(_with_raw(m, ("rank",), '"4"'), w), "rank '4'"),
        ("a megabyte string", lambda m, w: _zip(_with_raw(m, ("config", "lr"), json.dumps("x" * 10**6)), w),
         "config lr 'xxx"),
        ("losses as strings", lambda m, w: _zip(_with_raw(m, ("losses",), '["1", "2"]'), w), "loss curve"),
        ("numbers as texts", lambda m, w: _zip(_with_raw(m, ("texts",), "[1, 2, 3, 4, 5, 6, 7, 8]"), w),
         "lists of text"),
        ("a number as model_id", lambda m, w: _zip(_with_raw(m, ("model_id",), "7"), w), "must be text"),
    ],
)  # fmt: skip
def test_every_other_bad_input_gets_one_clear_sentence(toy, name, make, expected):
    _, _, meta, weights = toy
    assert expected in _refusal(make(meta, weights)), name


@pytest.mark.parametrize(
    ("field", "value"), [("texts", "\u200b\u200d"), ("labels", "\u2060"), ("texts", ""), ("labels", "  ")]
)
def test_a_row_of_only_invisible_characters_is_refused_like_an_empty_one(toy, field, value):
    """The Fine-tune table's rule: a text or label of zero-width characters alone is empty."""
    _, _, meta, weights = toy
    edited = json.loads(meta)
    edited[field][2] = value
    message = _refusal(_zip(json.dumps(edited), weights))
    assert "row 3 has no text or no label (empty, or only invisible characters" in message


def test_the_good_file_still_loads_bit_for_bit(toy):
    data, x, _, weights = toy
    saved = head_file.head_from_bytes(data)
    stored = load(weights)
    assert np.array_equal(saved.head.down, stored["down"]) and np.array_equal(saved.head.up, stored["up"])
    assert saved.model_id == "toy" and saved.model_fingerprint == "0" * 16
    assert np.isfinite(head_file.run_from_saved(saved, x).snapshots[-1].outputs).all()


def test_the_fine_tune_page_shows_these_sentences(toy):
    """The page's uploader shows the refusal as an error, and a refused file changes nothing."""
    _, _, meta, weights = toy
    at = AppTest.from_file(
        str(Path(__file__).resolve().parent.parent / "pages" / "3_Fine_tune.py"),
        default_timeout=APPTEST_TIMEOUT,
    ).run()
    before = at.session_state["ft_rows"]["text"].tolist()
    for data, reason in (
        (_zip(_with_raw(meta, ("config", "seed"), "9" * 5000), weights), "5,000-digit integer"),
        (_zip("[" * 100_000 + "]" * 100_000, weights), "nests 100,000 levels deep"),
    ):
        at.file_uploader(key="ft_upload").set_value(("head.zip", data, "application/zip")).run()
        assert not at.exception
        errors = " ".join(e.value for e in at.error).replace("\\", "")  # shown Markdown-escaped
        assert PREFIX.strip() in errors and reason in errors, errors
        assert not any(word in errors for word in RAW_WORDS)
        assert at.session_state["ft_rows"]["text"].tolist() == before
