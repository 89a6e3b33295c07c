"""Per-word separation against chance, group axes, and the journey's request value: every number checked
against an independent numpy computation on the real model's states."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

from explorer.group_axes import drawn_ratio, group_axis
from explorer.inputs import parse_sentences
from explorer.journey_request import JourneyRequest
from explorer.projection import project
from explorer.separation import (
    count_splits,
    grouped_words,
    readout_pairs,
    readout_summary,
    relabellings,
    word_separation,
)
from explorer.states import extract_states

SENSE_SET = Path(__file__).parent / "data" / "two_sense_words.txt"


def _word_sets() -> list:
    blocks = SENSE_SET.read_text(encoding="utf-8").split("\n\n")
    keep = ["\n".join(x for x in b.splitlines() if x.strip() and not x.startswith("#")) for b in blocks]
    return [parse_sentences(b, with_groups=True) for b in keep if b]


@pytest.fixture(scope="module")
def two_words(model):
    """'bat' and 'spring', four sentences per sense each, in one set (four groups)."""
    sets = _word_sets()
    text = "\n".join(f"[{g}] {s}" for p in sets[:2] for g, s in zip(p.groups, p.sentences, strict=True))
    parsed = parse_sentences(text, with_groups=True)
    return parsed, extract_states(model, parsed.sentences)


def test_the_test_set_has_six_or_more_words_of_two_senses_four_sentences_each() -> None:
    sets = _word_sets()
    assert len(sets) >= 6
    for parsed in sets:
        counts = {g: parsed.groups.count(g) for g in set(parsed.groups)}
        assert len(counts) == 2 and set(counts.values()) == {4}, counts


def test_every_word_used_in_two_groups_is_found_with_each_occurrence(two_words) -> None:
    parsed, states = two_words
    words = grouped_words(states.tokens, parsed.groups)
    assert [w.word for w in words] == ["bat", "spring"]
    for w in words:
        assert len(w.rows) == 8 and len(set(w.groups)) == 2
        assert all(states.tokens.loc[r, "text"].lower() == w.word for r in w.rows)
    # a word two groups share once each by chance ('next ball', 'next spring') is not a question
    assert "next" not in {w.word for w in words}
    assert grouped_words(states.tokens, ()) == ()


def test_splits_are_every_balanced_relabelling_once() -> None:
    codes, exhaustive = relabellings(["a"] * 4 + ["b"] * 4)
    assert exhaustive and len(codes) == 35 == count_splits([4, 4])
    partitions = {
        frozenset(frozenset(np.flatnonzero(c == g).tolist()) for g in set(c.tolist())) for c in codes
    }
    assert len(partitions) == 35, "no split twice (a swap of the two groups is the same split)"
    assert list(codes[0]) == [0, 0, 0, 0, 1, 1, 1, 1], "the real labelling first"
    assert count_splits([3, 2, 2]) == 105
    sampled, exhaustive = relabellings(["a"] * 8 + ["b"] * 8, limit=100, seed=3)
    assert not exhaustive and len(sampled) == 101
    assert (np.bincount(sampled[5]) == 8).all(), "a sampled relabelling keeps the group sizes"


def test_readout_numbers_equal_an_independent_computation(two_words) -> None:
    parsed, states = two_words
    words = grouped_words(states.tokens, parsed.groups)
    seps = [word_separation(states.layers, w) for w in words]
    summary, pairs = readout_summary(seps), readout_pairs(seps)
    assert set(pairs["word"]) == {"bat", "spring"}
    assert (pairs.groupby(["layer", "word"]).size() == 28).all(), "every pair of one word's 8, no cross pairs"
    for w in words:
        v = states.layers[:, list(w.rows)].astype(np.float64)
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        g = np.array(w.groups)
        for layer in range(states.layers.shape[0]):
            cos = v[layer] @ v[layer].T

            def gap_of(labels: np.ndarray, cos: np.ndarray = cos) -> float:
                same = [cos[i, j] for i, j in itertools.combinations(range(8), 2) if labels[i] == labels[j]]
                other = [cos[i, j] for i, j in itertools.combinations(range(8), 2) if labels[i] != labels[j]]
                return float(np.mean(same) - np.mean(other))

            row = summary[(summary["word"] == w.word) & (summary["layer"] == layer)].iloc[0]
            real = gap_of(g)
            assert row["gap"] == pytest.approx(real, abs=1e-5)
            first = g[0]
            gaps = []
            for chosen in itertools.combinations(range(1, 8), 3):  # the 35 splits, 0 always in the first part
                labels = np.array([first if i == 0 or i in chosen else "other" for i in range(8)])
                gaps.append(gap_of(labels))
            assert len(gaps) == 35 and row["splits"] == 35
            assert row["beats"] == sum(x < real - 1e-6 for x in gaps), f"{w.word} layer {layer}"
            for r in pairs[(pairs["word"] == w.word) & (pairs["layer"] == layer)].itertuples():
                i, j = w.labels.index(r.a), w.labels.index(r.b)
                assert r.cosine == pytest.approx(cos[i, j], abs=1e-5)
                assert (r.relation == "same group") == (g[i] == g[j])


def test_the_output_layer_separates_the_real_senses_beyond_chance(two_words) -> None:
    parsed, states = two_words
    summary = readout_summary(
        [word_separation(states.layers, w) for w in grouped_words(states.tokens, parsed.groups)]
    )
    out = summary[summary["layer"] == states.n_layers]
    assert (out["beats"] >= 33).all(), out[["word", "beats"]]


def test_group_axes_part_real_senses_and_not_shuffled_ones(model) -> None:
    """Issue 24's targets on this project's own set: at the output layer the real senses are drawn apart
    (ratio >= 2.5 for most words) and rank near the top of all balanced relabellings, which rarely reach
    2.5 themselves (the axes cannot invent a split)."""
    reaching, top, shuffled_reaching, shuffled = 0, 0, 0, 0
    for parsed in _word_sets():
        states = extract_states(model, parsed.sentences)
        word = grouped_words(states.tokens, parsed.groups)[0]
        rows = list(word.rows)
        ratios = []
        for codes in relabellings(word.groups)[0]:
            labels = [str(c) for c in codes]
            coords = project(states.layers, "groups", words=[(rows, labels)]).coords
            ratios.append(drawn_ratio(coords[-1, rows], labels))
        real, others = ratios[0], np.array(ratios[1:])
        reaching += real >= 2.5
        top += (others >= real).sum() + 1 <= 3.5
        shuffled_reaching += (others >= 2.5).sum()
        shuffled += len(others)
    n = len(_word_sets())
    assert reaching >= 0.75 * n and top >= 0.75 * n, (reaching, top)
    assert shuffled_reaching / shuffled <= 0.15


def test_group_axis_ignores_labels_outside_the_words_main_directions() -> None:
    """Labels pick a direction only among the first three principal axes: a split carried by a small
    direction outside them cannot become the axis."""
    rng = np.random.default_rng(0)
    big = rng.normal(size=(8, 3)) * 10
    small = np.array([1, 1, 1, 1, -1, -1, -1, -1.0])[:, None] * 0.5
    vectors = np.hstack([big, small, np.zeros((8, 4))])
    axis = group_axis(vectors, list("aaaabbbb"))
    assert abs(axis[3]) < 0.05, "the split direction outside the main three barely enters"
    free = (vectors[4:].mean(0) - vectors[:4].mean(0)) / np.linalg.norm(
        vectors[4:].mean(0) - vectors[:4].mean(0)
    )
    assert abs(free[3]) > 5 * abs(axis[3]), "an axis fitted freely on the labels would lean on it"


def test_pooled_points_stay_on_their_tokens_centroid_under_group_axes(two_words) -> None:
    parsed, states = two_words
    words = [(list(w.rows), list(w.groups)) for w in grouped_words(states.tokens, parsed.groups)]
    proj = project(states.layers, "groups", pooled=states.pooled_raw, words=words)
    sentence = states.tokens["sentence"].to_numpy()
    for s in range(len(parsed.sentences)):
        centroid = proj.coords[:, sentence == s].mean(axis=1)
        np.testing.assert_allclose(proj.pooled[:, s], centroid, atol=1e-3)
    bat, spring = words
    out = proj.coords[-1]
    # bat lines up along x and spring along y: each word's points share one value on the other axis
    assert np.ptp(out[bat[0], 1]) < 1e-3 * np.ptp(out[:, 1])
    assert np.ptp(out[spring[0], 0]) < 1e-3 * np.ptp(out[:, 0])


def test_a_changed_request_field_changes_the_chart_key() -> None:
    request = JourneyRequest(
        model_id="m", texts=("a",), groups=("g",), method="groups", seed=0, hide_special=False,
        hide_punct=False, fit_on=(), follow=(1, 2), paths="selected", readout=True, labels=True,
        classroom=False, presenter=False, height=520,
    )  # fmt: skip
    changed = {
        str: lambda v: v + "x",
        int: lambda v: v + 1,
        bool: lambda v: not v,
        tuple: lambda v: (*v, 9) if not v or not isinstance(v[0], str) else (*v, "z"),
    }
    for field in dataclasses.fields(JourneyRequest):
        value = getattr(request, field.name)
        other = dataclasses.replace(request, **{field.name: changed[type(value)](value)})
        assert other.key != request.key and hash(other.key) != hash(request.key), field.name
