"""AppTest of every lesson: it opens its page on its view with its question on top; nothing that gives
the answer away is drawn before Reveal; after Reveal the answer and the answer-bearing element are there."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from conftest import APPTEST_TIMEOUT, ROOT, chart_rows, chart_specs, layer_name, open_page, scatter_layers
from streamlit.testing.v1 import AppTest

from explorer.assets import lessons, sentence_set
from explorer.inputs import escape_markdown
from explorer.share import QUERY_KEY
from explorer.ui.lessons import LESSON_KEY, gallery_query, pick_key


def _open(lesson) -> AppTest:
    at = AppTest.from_file(str(ROOT / lesson.page), default_timeout=APPTEST_TIMEOUT)
    for key, value in gallery_query(lesson).items():
        at.query_params[key] = value
    return at.run()


def _button(at: AppTest, text: str):
    return next(b for b in at.button if text in b.label)


def _charts_with(at: AppTest, *columns: str) -> list[dict]:
    return [c for c in chart_specs(at) if any(set(columns) <= set(d.columns) for d in c["datasets"].values())]


def _has_diamond(at: AppTest) -> bool:
    return any(
        layer.get("mark", {}).get("shape") == "diamond"
        for chart in _charts_with(at, "kind")
        for layer in chart["spec"].get("layer", [])
    )


def _journey_reveals(at: AppTest) -> bool:
    spec = next(c["spec"] for c in chart_specs(at) if "layer" in c["spec"])
    names = {layer_name(layer) for layer in scatter_layers(spec)}
    return {"followed_paths", "readout"} <= names  # the paths, and the full-space readout


def test_the_why_lesson_measures_which_word_sent_each_bank_the_most_live() -> None:
    """The 'what pulls bank' lesson: before Reveal no line is drawn; after, the lines are, and the live
    measure names the top sender of each 'bank' at layer 2 from the exact split, matching the first
    option (a word that says what kind of bank) on the preset."""
    (lesson,) = [lesson for lesson in lessons() if lesson.id == "why-bank"]
    at = _open(lesson)
    assert not at.exception
    pulls = [x for c in chart_specs(at) if "layer" in c["spec"] for x in scatter_layers(c["spec"])]
    assert "pulls" not in {layer_name(x) for x in pulls}, "no line before Reveal"
    at.radio(key=pick_key(lesson)).set_value(lesson.pick_options[1]).run()
    _button(at, "Reveal the answer").click().run()
    assert not at.exception
    spec = next(c["spec"] for c in chart_specs(at) if "layer" in c["spec"])
    assert "pulls" in {layer_name(x) for x in scatter_layers(spec)}
    (beside,) = [m.value for m in at.markdown if m.value.startswith("Your pick:")]
    for word in ("deposited", "loan", "grassy", "muddy"):
        assert word in beside, beside
    assert escape_markdown(lesson.pick_options[0]) in beside and "❌" in beside, beside


def _index_verdict(at: AppTest) -> bool:
    return any("identical: the model did not change" in c.value for c in at.caption)


def _add_sentences(at: AppTest) -> None:
    at.button(key="add_typed").click().run()


def _tune(at: AppTest) -> None:
    _button(at, "Tune a private copy").click().run()


def _train(at: AppTest) -> None:
    _button(at, "Train the head").click().run()


# lesson id → (what the student does first, whether the answer-bearing element is drawn)
CHECKS: dict[str, tuple[Callable[[AppTest], None] | None, Callable[[AppTest], bool]]] = {
    "one-vector": (None, _has_diamond),
    "bank-senses": (None, _journey_reveals),
    "own-words": (None, lambda at: any("Where the meanings part" in c.value for c in at.caption)),
    "why-bank": (None, lambda at: any("not attention weights" in c.value for c in at.caption)),
    "bank-neighbours": (None, lambda at: any("nearest other words" in d.value.columns for d in at.dataframe)),
    "search-geometry": (None, lambda at: bool(at.dataframe) and bool(_charts_with(at, "x2", "y2", "score"))),
    "index-not-model": (_add_sentences, _index_verdict),
    "tune-weights": (_tune, lambda at: bool(_charts_with(at, "cka", "moved"))),
    "head-not-model": (_train, lambda at: any("✅ identical" in m.value for m in at.markdown)),
    "negation": (None, lambda at: bool(_charts_with(at, "row_text", "column_text"))),
    "nearest-meaning": (None, lambda at: bool(_charts_with(at, "row_text", "column_text"))),
    "anisotropy-layers": (None, lambda at: bool(_charts_with(at, "key", "value"))),
}


# lesson id → words a chart's own text may say only after Reveal (the text is in the spec, not on the page's
# elements the checks above read): the tuned copy's per-layer mean move, 0.000 below the tuned layers
ANSWER_IN_CHARTS = {"tune-weights": "mean move"}


def _charts_say(at: AppTest, words: str) -> bool:
    return any(words in json.dumps(c["spec"]) for c in chart_specs(at))


def test_one_lesson_per_idea_at_least_five_with_teacher_notes() -> None:
    assert len(lessons()) >= 5
    assert {lesson.idea for lesson in lessons()} == {1, 2, 3, 4, 5}
    assert all(lesson.teacher_notes.strip() and lesson.hides for lesson in lessons())
    assert set(CHECKS) == {lesson.id for lesson in lessons()}, "every lesson is checked below"


@pytest.mark.parametrize("lesson", lessons(), ids=lambda lesson: lesson.id)
def test_nothing_gives_the_answer_away_before_reveal(lesson) -> None:
    act, answered = CHECKS[lesson.id]
    at = _open(lesson)
    assert not at.exception
    assert f"🤔 **Predict:** {escape_markdown(lesson.question)}" in [m.value for m in at.markdown]
    if act is not None:
        act(at)
        assert not at.exception
    assert not any(lesson.answer == s.value for s in at.success), "the answer text is hidden"
    assert not answered(at), "an answer-bearing element is drawn before Reveal"
    shown = _screen_text(at).lower()
    assert lesson.answer_words and not [w for w in lesson.answer_words if w.lower() in shown]
    assert lesson.answer_words and all(w.lower() in lesson.answer.lower() for w in lesson.answer_words[:1])
    assert _button(at, "Reveal the answer").disabled, "no Reveal before a committed pick"
    assert not _fingerprint_pairs(at), "a fingerprint's before → after pair is shown before Reveal"
    in_charts = ANSWER_IN_CHARTS.get(lesson.id)
    assert in_charts is None or not _charts_say(at, in_charts), f"a chart says {in_charts!r} before Reveal"
    pick = lesson.pick_options[-1]
    at.radio(key=pick_key(lesson)).set_value(pick).run()
    _button(at, "Reveal the answer").click().run()
    assert not at.exception
    assert any(lesson.answer == s.value for s in at.success)
    assert answered(at), "Reveal shows the answer-bearing element"
    if lesson.id in ("index-not-model", "tune-weights", "head-not-model"):
        assert _fingerprint_pairs(at), "Reveal shows the weights fingerprint before and after"
    assert in_charts is None or _charts_say(at, in_charts), f"Reveal's charts say {in_charts!r}"
    beside = [m.value for m in at.markdown if m.value.startswith("Your pick:")]
    assert beside and escape_markdown(pick) in beside[0]
    if lesson.measure:
        assert "measured now, on the sentences on screen" in beside[0]


def _fingerprint_pairs(at: AppTest) -> list[str]:
    """Texts that show a weights fingerprint (16 hex digits) twice: before and after."""
    texts = [e.value for kind in ("markdown", "caption") for e in getattr(at, kind)]
    return [t for t in texts if len(re.findall(r"\b[0-9a-f]{16}\b", str(t))) >= 2]


def _screen_text(at: AppTest) -> str:
    """Every text element on the page (charts excluded): what a student reads."""
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "title", "header",
                                  "subheader") for e in getattr(at, kind)]  # fmt: skip
    parts += [b.label for b in at.button] + [r.label for r in at.radio]
    return " ".join(str(p) for p in parts)


def test_three_lessons_measure_their_answer_live() -> None:
    """The measured answer comes from the model on the sentences on screen, not stored text: the 'bank'
    lesson's parting layer equals the independent computation, and it changes with the sentences."""
    from explorer.models import load_model
    from explorer.separation import grouped_words, parting_layer, word_separation
    from explorer.states import extract_states

    assert sum(bool(lesson.measure) for lesson in lessons()) >= 3
    (lesson,) = [lesson for lesson in lessons() if lesson.id == "bank-senses"]
    at = _open(lesson)
    at.radio(key=pick_key(lesson)).set_value("2").run()
    _button(at, "Reveal the answer").click().run()
    texts = sentence_set("Word senses: bank")
    states = extract_states(load_model(), texts.sentences)
    layer, _ = parting_layer(word_separation(states.layers, grouped_words(states.tokens, texts.groups)[0]))
    beside = next(m.value for m in at.markdown if m.value.startswith("Your pick:"))
    assert f"'bank' parts at layer {layer}" in beside
    assert ("✅" in beside) == (layer == 2)
    at.text_area(key="sentences").input(
        "[animal] A bat hung from the barn roof.\n[animal] The bat hunted moths at dusk.\n"
        "[sport] He swung the bat hard.\n[sport] Her cricket bat cracked."
    ).run()
    beside = next(m.value for m in at.markdown if m.value.startswith("Your pick:"))
    assert "'bat' parts at" in beside and "'bank'" not in beside


def test_a_lesson_opened_from_the_menu_applies_its_view_and_can_be_left() -> None:
    at = AppTest.from_file(str(ROOT / "pages/2_Sentence_embedding.py"), default_timeout=APPTEST_TIMEOUT).run()
    assert not any("Predict:" in m.value for m in at.markdown), "no lesson runs until one is started"
    _button(at, "Start lesson: Does 'not' move a sentence?").click().run()
    assert at.query_params[LESSON_KEY] in ("negation", ["negation"]) and QUERY_KEY in at.query_params
    assert not at.exception
    assert at.session_state["sentence_set"] == "Negation"
    assert any("Predict:" in m.value for m in at.markdown)
    _button(at, "Leave the lesson").click().run()
    assert not any("Predict:" in m.value for m in at.markdown)
    assert _charts_with(at, "row_text", "column_text"), "outside a lesson nothing is hidden"


def test_the_anisotropy_answer_quotes_what_the_page_measures() -> None:
    (lesson,) = [lesson for lesson in lessons() if lesson.id == "anisotropy-layers"]
    at = _open(lesson)
    at.radio(key=pick_key(lesson)).set_value("5").run()
    _button(at, "Reveal the answer").click().run()
    measured = pd.concat([chart_rows(c) for c in _charts_with(at, "key", "value")])
    anisotropy = measured[measured["key"] == "anisotropy"].set_index("layer")["value"]
    for layer in (0, 5, 6):  # the figures the answer quotes, recomputed by the page
        assert f"{anisotropy[layer]:.2f}" in lesson.answer


PAGE_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


@pytest.mark.parametrize("page", [None, *PAGE_FILES])
def test_every_chart_has_a_text_alternative(page) -> None:
    """A screen reader hears what each chart shows (Vega's own default is only 'Vega visualization')."""
    at = open_page(page)
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert charts, "the page draws at least one chart"
    missing = [json.loads(c.proto.spec).get("mark") for c in charts if not c.proto.alt.strip()]
    assert not missing, f"{page or 'home'}: {len(missing)} chart(s) without a text alternative"
    both = [
        c.proto.alt for c in charts if c.proto.alt.strip() and json.loads(c.proto.spec).get("description")
    ]
    assert not both, f"a description beside an alt: Streamlit logs a stack trace on every run ({both})"


def test_the_nearest_meaning_lesson_counts_partners_found_first() -> None:
    """Its live answer equals an independent count on the preset's embeddings (what `encode` returns)."""
    from sentence_transformers import SentenceTransformer

    from explorer.models import load_model

    (lesson,) = [lesson for lesson in lessons() if lesson.id == "nearest-meaning"]
    at = _open(lesson)
    at.radio(key=pick_key(lesson)).set_value(lesson.pick_options[0]).run()
    _button(at, "Reveal the answer").click().run()
    texts = sentence_set("Paraphrases")
    model: SentenceTransformer = load_model()
    vectors = model.encode(list(texts.sentences), normalize_embeddings=True)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -2)
    found = sum(
        texts.groups[int(similarity[i].argmax())] == texts.groups[i] for i in range(len(texts.sentences))
    )
    beside = next(m.value for m in at.markdown if m.value.startswith("Your pick:"))
    assert f"{found} of {len(texts.sentences)} sentences find a sentence of their own group nearest" in beside


def test_the_anisotropy_lesson_measures_the_peak_layer_live() -> None:
    """The layer shown beside the pick is the anisotropy peak of the words the lab measures, computed here
    independently from the model's states over the same corpus."""
    from explorer import geometry
    from explorer.assets import geometry_corpus
    from explorer.models import load_model
    from explorer.states import extract_states

    (lesson,) = [lesson for lesson in lessons() if lesson.id == "anisotropy-layers"]
    at = _open(lesson)
    at.radio(key=pick_key(lesson)).set_value("6").run()
    _button(at, "Reveal the answer").click().run()
    assert not at.exception
    states = extract_states(load_model(), geometry_corpus())
    words = geometry.pool_words(states.layers, states.tokens)
    anisotropy = geometry.layer_measures(states.layers, states.tokens, words)["anisotropy"].to_numpy()
    peak = int(np.nanargmax(anisotropy))
    beside = next(m.value for m in at.markdown if m.value.startswith("Your pick:"))
    said = f"anisotropy peaks at layer {peak} ({anisotropy[peak]:.2f}); at the output layer "
    assert escape_markdown(said + f"{len(anisotropy) - 1} it is {anisotropy[-1]:.2f}") in beside
    assert ("✅" in beside) == (peak == 6) and ("❌" in beside) == (peak != 6)
