"""Geometry measures: hand-computed values on tiny arrays, edge cases, and loops on the real model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from explorer import assets, geometry, senses
from explorer.geometry import (
    anisotropy,
    consecutive_layer_cosine,
    effective_dimension,
    intra_sentence_similarity,
    mean_norm,
    self_similarity,
)
from explorer.projection import FAITHFULNESS_MAX_POINTS, faithfulness_sample
from explorer.senses import SenseContexts, SenseSeparation, sense_separation
from explorer.vectors import cosine

R2 = 1 / math.sqrt(2)


def one_layer(*vectors: list[float]) -> np.ndarray:
    return np.array([vectors], dtype=np.float64)  # (1, N, D)


# ---------------------------------------------------------------- hand-computed values
def test_anisotropy_averages_only_pairs_from_different_sentences() -> None:
    layers = one_layer([1, 0], [0, 1], [1, 1])
    # cross pairs: ([1,0],[1,1]) and ([0,1],[1,1]), both 1/√2; the within pair (cosine 0) is ignored
    assert anisotropy(layers, np.array([0, 0, 1])) == pytest.approx([R2])


def test_anisotropy_is_nan_for_one_sentence_and_zero_vectors_count_as_zero() -> None:
    assert np.isnan(anisotropy(one_layer([1, 0], [0, 1]), np.array([3, 3]))).all()
    assert anisotropy(one_layer([1, 0], [0, 0]), np.array([0, 1])) == pytest.approx([0.0])
    with pytest.raises(ValueError, match="labels"):
        anisotropy(one_layer([1, 0]), np.array([0, 1]))


def test_self_similarity_skips_words_seen_once() -> None:
    layers = one_layer([1, 0], [1, 1], [0, 1])
    assert self_similarity(layers, np.array(["x", "x", "y"])) == pytest.approx([R2])
    three = one_layer([1, 0], [0, 1], [1, 1])  # pairs: 0, 1/√2, 1/√2
    assert self_similarity(three, np.array(["w", "w", "w"])) == pytest.approx([2 * R2 / 3])
    assert np.isnan(self_similarity(layers, np.array(["a", "b", "c"]))).all()


def test_self_similarity_per_word_names_the_repeated_words() -> None:
    layers = one_layer([1, 0], [1, 0], [0, 1], [1, 0], [0, 1])
    words, per_word = geometry.self_similarity_per_word(layers, np.array(["b", "b", "a", "c", "a"]))
    assert list(words) == ["a", "b"]
    assert per_word[0] == pytest.approx([1.0, 1.0])


def test_intra_sentence_similarity_uses_each_sentence_mean() -> None:
    layers = one_layer([1, 0], [0, 1], [5, 5], [2, 0], [4, 0])
    ids = np.array([0, 0, 1, 2, 2])  # sentence 1 has one vector and is left out
    assert intra_sentence_similarity(layers, ids) == pytest.approx([(R2 + 1) / 2])
    assert np.isnan(intra_sentence_similarity(one_layer([1, 0], [0, 1]), np.array([0, 1]))).all()


def test_measures_do_not_depend_on_the_order_of_the_vectors() -> None:
    """Labels in reading order take a path without sorting; shuffled ones are sorted first: same numbers."""
    rng = np.random.default_rng(3)
    layers = rng.normal(size=(2, 40, 5))
    layers[:, 7] = 0.0  # a zero vector counts as cosine 0 everywhere
    sentence = np.repeat(np.arange(8), 5)
    words = np.array([f"w{i % 6}" for i in range(40)], dtype=object)
    shuffle = rng.permutation(40)
    for measure, labels in (
        (anisotropy, sentence),
        (intra_sentence_similarity, sentence),
        (self_similarity, words),
    ):
        in_order = measure(layers, labels)
        assert np.isfinite(in_order).all()
        np.testing.assert_allclose(measure(layers[:, shuffle], labels[shuffle]), in_order, rtol=1e-12)


def test_mean_norm_and_zero_vectors() -> None:
    assert mean_norm(one_layer([3, 4], [0, 0])) == pytest.approx([2.5])


def test_effective_dimension_counts_used_directions() -> None:
    assert effective_dimension(one_layer([0, 0], [1, 1], [2, 2])) == pytest.approx([1.0])
    assert effective_dimension(one_layer([1, 0], [-1, 0], [0, 1], [0, -1])) == pytest.approx([2.0])
    # variances 8 and 2 (up to the same factor): (8 + 2)² / (8² + 2²)
    assert effective_dimension(one_layer([2, 0], [-2, 0], [0, 1], [0, -1])) == pytest.approx([100 / 68])
    assert np.isnan(effective_dimension(one_layer([1, 2], [1, 2]))).all()
    assert np.isnan(effective_dimension(one_layer([1, 2]))).all()


def test_effective_dimension_is_the_same_with_more_points_than_dimensions() -> None:
    rng = np.random.default_rng(0)
    wide, tall = rng.normal(size=(1, 5, 8)), rng.normal(size=(1, 12, 3))
    for layers in (wide, tall):
        values = np.linalg.eigvalsh(np.cov(layers[0].T))
        assert effective_dimension(layers)[0] == pytest.approx(values.sum() ** 2 / np.sum(values**2))


def test_consecutive_layer_cosine_is_tokens_by_steps() -> None:
    layers = np.array([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])  # (3 layers, 1 token, 2)
    out = consecutive_layer_cosine(layers)
    assert out.shape == (1, 2)
    assert out[0] == pytest.approx([R2, 0.0])
    with pytest.raises(ValueError, match="two layers"):
        consecutive_layer_cosine(layers[:1])


def test_sense_separation_on_two_clean_clusters() -> None:
    vectors = one_layer([1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1])
    result = sense_separation(vectors, ["a", "a", "b", "b"])
    assert result.accuracy == pytest.approx([1.0])
    assert result.same_sense == pytest.approx([0.99 / 1.01])
    assert result.cross_sense == pytest.approx([0.0])  # 0.2/1.01, 0, 0, −0.2/1.01
    assert result.gap == pytest.approx([0.99 / 1.01])
    assert result.chance == 0.5


def test_sense_separation_leaves_each_context_out_of_its_own_centroid() -> None:
    # Without leaving out, [1,0] would match its own sense; left out, the other sense is closer.
    vectors = one_layer([1, 0], [0, 1], [1, 0.1], [0.1, 1])
    result = sense_separation(vectors, ["a", "a", "b", "b"])
    assert result.accuracy == pytest.approx([0.0])
    assert list(result.predicted[0]) == [1, 1, 0, 0]


@pytest.mark.parametrize("labels", [["a", "a", "a"], ["a", "a", "b"]])
def test_sense_separation_needs_two_senses_with_two_contexts(labels: list[str]) -> None:
    with pytest.raises(ValueError, match="at least two senses"):
        sense_separation(one_layer([1, 0], [0, 1], [1, 1]), labels)


def test_best_layer_breaks_accuracy_ties_by_gap() -> None:
    result = SenseSeparation(
        senses=("a", "b"),
        labels=np.array([0, 0, 1, 1]),
        accuracy=np.array([0.5, 1.0, 1.0, 0.75]),
        same_sense=np.array([0.5, 0.6, 0.7, 0.9]),
        cross_sense=np.array([0.5, 0.5, 0.5, 0.1]),
        predicted=np.zeros((4, 4), dtype=int),
    )
    assert result.best_layer == 2


def test_parse_sense_lines_reports_lines_without_a_label() -> None:
    parsed = senses.parse_sense_lines(
        "River : We sat on the bank.\n\nno label here\n# note\nmoney: The bank: closed."
    )
    assert parsed.labels == ("river", "money")
    assert parsed.sentences == ("We sat on the bank.", "The bank: closed.")
    assert parsed.skipped == (3,)
    assert senses.parse_sense_lines(parsed.as_text()).sentences == parsed.sentences
    capped = senses.parse_sense_lines("\n".join(f"s{i % 2}: bank {i}" for i in range(5)), max_contexts=3)
    assert len(capped.sentences) == 3 and capped.dropped == 2


def test_parse_sense_lines_reads_the_journeys_group_tag() -> None:
    """One tag syntax everywhere: '[sense] sentence' as on the Token journey, the old form still read."""
    parsed = senses.parse_sense_lines("[River] We sat on the bank.\nmoney: The bank closed.\n[] odd line")
    assert parsed.labels == ("river", "money")
    assert parsed.sentences == ("We sat on the bank.", "The bank closed.")
    assert parsed.skipped == (3,)
    assert parsed.as_text().splitlines()[0] == "[river] We sat on the bank."


def test_word_sense_presets_cover_the_promised_words() -> None:
    presets = senses.word_sense_presets()
    assert {"bank", "bat", "spring", "cell", "pitch", "crane", "match"} <= set(presets)
    for word, contexts in presets.items():
        counts = pd.Series(contexts.labels).value_counts()
        assert len(counts) >= 2 and counts.min() >= 4, word
        assert all(word in s.lower() for s in contexts.sentences), word


def test_corpus_is_varied_and_long_enough() -> None:
    corpus = assets.geometry_corpus()
    assert len(corpus) >= 60 and len(set(corpus)) == len(corpus)


# ---------------------------------------------------------------- the real model, against plain loops
def _loop_words(states) -> tuple[list[np.ndarray], list[str], list[int]]:
    """Word vectors the slow way: walk the token table word by word."""
    from explorer.states import is_punctuation

    vectors, texts, sentences = [], [], []
    table = states.tokens
    for (sentence, _), group in table[~table["special"] & table["word_id"].notna()].groupby(
        ["sentence", "word_id"], sort=True
    ):
        rows = [i for i in group.index if not is_punctuation(table.loc[i, "token"])]
        if rows:
            vectors.append(states.layers[:, rows].astype(np.float64).mean(axis=1))  # (L+1, D)
            texts.append("".join(table.loc[rows, "text"]).lower())
            sentences.append(int(sentence))
    return vectors, texts, sentences


def test_measures_match_plain_loops_on_the_model(bank_states) -> None:
    vectors, texts, sentences = _loop_words(bank_states)
    measures = geometry.layer_measures(bank_states.layers, bank_states.tokens)
    for layer in range(bank_states.n_layers + 1):
        v = [w[layer] for w in vectors]
        n = len(v)
        cross = [cosine(v[i], v[j]) for i in range(n) for j in range(n) if sentences[i] != sentences[j]]
        repeated = {}
        for i, j in itertools.combinations(range(n), 2):
            if texts[i] == texts[j]:
                repeated.setdefault(texts[i], []).append(cosine(v[i], v[j]))
        intra = []
        for s in sorted(set(sentences)):
            members = [v[i] for i in range(n) if sentences[i] == s]
            if len(members) >= 2:
                centre = np.mean(members, axis=0)
                intra.append(np.mean([cosine(m, centre) for m in members]))
        eigen = np.linalg.eigvalsh(np.cov(np.array(v).T))
        row = measures.iloc[layer]
        assert row["anisotropy"] == pytest.approx(np.mean(cross), abs=1e-9)
        assert row["self_similarity"] == pytest.approx(
            np.mean([np.mean(c) for c in repeated.values()]), abs=1e-9
        )
        assert row["intra_sentence"] == pytest.approx(np.mean(intra), abs=1e-9)
        assert row["intra_sentence_adjusted"] == pytest.approx(np.mean(intra) - np.mean(cross), abs=1e-9)
        assert row["mean_norm"] == pytest.approx(np.mean([np.linalg.norm(x) for x in v]), rel=1e-9)
        assert row["effective_dimension"] == pytest.approx(eigen.sum() ** 2 / np.sum(eigen**2), rel=1e-6)


def test_pool_words_averages_word_pieces(model) -> None:
    from explorer.states import extract_states

    states = extract_states(model, ["Tokenization of unbelievably long words, okay?"])
    words = geometry.pool_words(states.layers, states.tokens)
    assert "tokenization" in set(words.text) and "?" not in set(words.text)
    split = int(np.flatnonzero(words.text == "tokenization")[0])
    assert words.n_pieces[split] >= 2
    rows = states.tokens.index[(states.tokens["word_id"] == 0) & ~states.tokens["special"]]
    assert np.allclose(words.vectors[:, split], states.layers[:, rows].mean(axis=1), atol=1e-6)


def test_consecutive_cosine_matches_a_loop_on_the_model(bank_states) -> None:
    out = consecutive_layer_cosine(bank_states.layers)
    assert out.shape == (bank_states.layers.shape[1], bank_states.n_layers)
    for token in (0, 5, out.shape[0] - 1):
        for step in range(bank_states.n_layers):
            a, b = bank_states.layers[step, token], bank_states.layers[step + 1, token]
            assert out[token, step] == pytest.approx(
                float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-5
            )


def test_sense_lab_matches_a_loop_on_the_model(model) -> None:
    from explorer.states import extract_states

    contexts = senses.word_sense_presets()["bank"]
    states = extract_states(model, contexts.sentences)
    found = senses.find_sense_occurrences(states.layers, states.tokens, contexts, "bank")
    assert found.missing == () and all(p == ("bank",) for p in found.pieces)
    result = sense_separation(found.vectors, found.labels)
    labels = found.labels
    for layer in range(states.n_layers + 1):
        v = found.vectors[layer]
        right = 0
        for i, own in enumerate(labels):
            scores = {}
            for sense in dict.fromkeys(labels):
                members = [v[j] for j in range(len(v)) if labels[j] == sense and j != i]
                scores[sense] = cosine(v[i], np.mean(members, axis=0))
            right += max(scores, key=scores.get) == own
        same = [
            cosine(v[i], v[j]) for i, j in itertools.permutations(range(len(v)), 2) if labels[i] == labels[j]
        ]
        cross = [
            cosine(v[i], v[j]) for i, j in itertools.permutations(range(len(v)), 2) if labels[i] != labels[j]
        ]
        assert result.accuracy[layer] == pytest.approx(right / len(v))
        assert result.gap[layer] == pytest.approx(np.mean(same) - np.mean(cross), abs=1e-9)
    # The embedding layer knows no context; by the output the two senses of 'bank' must have come apart.
    assert result.gap[-1] > result.gap[0]


def test_sense_occurrences_report_missing_words_and_plurals(model) -> None:
    from explorer.states import extract_states

    contexts = SenseContexts(
        ("a", "a", "b"), ("Two banks merged.", "No such word here.", "The bank of the river.")
    )
    states = extract_states(model, contexts.sentences)
    found = senses.find_sense_occurrences(states.layers, states.tokens, contexts, "bank")
    assert found.missing == (1,)
    assert found.labels == ("a", "b") and found.vectors.shape[1] == 2


def test_projection_faithfulness_is_nan_when_umap_has_too_few_points() -> None:
    from explorer.projection import FAITHFULNESS_K, MIN_POINTS_FOR_UMAP

    rng = np.random.default_rng(0)
    few = rng.normal(size=(3, MIN_POINTS_FOR_UMAP - 1, 5))
    assert few.shape[1] > FAITHFULNESS_K + 1  # enough for PCA's score, too few for UMAP
    assert np.isnan(geometry.projection_faithfulness(few, "umap")).all()
    pca = geometry.projection_faithfulness(few, "pca_aligned")
    assert pca.shape == (3,) and ((pca >= 0) & (pca <= 1)).all()


def test_projection_faithfulness_is_nan_when_neighbourhoods_are_the_whole_cloud() -> None:
    from explorer.projection import FAITHFULNESS_K

    rng = np.random.default_rng(1)
    cloud = rng.normal(size=(2, FAITHFULNESS_K + 2, 6))
    for n in (0, 1, 2, FAITHFULNESS_K + 1):
        assert np.isnan(geometry.projection_faithfulness(cloud[:, :n], "pca_aligned")).all(), n
    assert not np.isnan(geometry.projection_faithfulness(cloud, "pca_aligned")).any()


def test_faithfulness_sample_keeps_every_point_when_there_are_few() -> None:
    assert faithfulness_sample(0).tolist() == []
    assert faithfulness_sample(40, max_points=40).tolist() == list(range(40))


def test_faithfulness_sample_is_seeded_distinct_sorted_and_capped() -> None:
    picked = faithfulness_sample(5000, max_points=300, seed=0)
    assert len(picked) == 300 and len(set(picked.tolist())) == 300
    assert (np.diff(picked) > 0).all() and picked.min() >= 0 and picked.max() < 5000
    assert np.array_equal(picked, faithfulness_sample(5000, max_points=300, seed=0))
    assert not np.array_equal(picked, faithfulness_sample(5000, max_points=300, seed=1))
    assert picked.max() > 2500  # drawn from the whole range, not the first sentences only
    assert len(faithfulness_sample(5000)) == FAITHFULNESS_MAX_POINTS


@pytest.mark.parametrize(("n", "cap"), [(-1, 10), (10, 0)])
def test_faithfulness_sample_rejects_nonsense(n: int, cap: int) -> None:
    with pytest.raises(ValueError, match="max_points"):
        faithfulness_sample(n, max_points=cap)


def test_sense_occurrences_pool_a_word_split_into_pieces(model) -> None:
    from explorer.states import extract_states

    contexts = SenseContexts(("a", "b"), ("Tokenization is fun.", "We studied tokenization today."))
    states = extract_states(model, contexts.sentences)
    found = senses.find_sense_occurrences(states.layers, states.tokens, contexts, "tokenization")
    assert found.missing == () and all(len(p) >= 2 for p in found.pieces)
    rows = states.tokens.index[(states.tokens["sentence"] == 1) & (states.tokens["word_id"] == 2)]
    assert len(rows) == len(found.pieces[1])
    assert np.allclose(found.vectors[:, 1], states.layers[:, rows].mean(axis=1), atol=1e-6)


def test_word_count_is_the_number_of_words_pool_words_makes(model) -> None:
    from explorer.states import extract_states

    states = extract_states(model, ["Hello, world! Tokenisation splits words.", "A second, shorter one."])
    words = geometry.pool_words(states.layers, states.tokens)
    assert geometry.word_count(states.tokens) == words.vectors.shape[1] == len(words.text)
    assert geometry.word_count(states.tokens, skip_punctuation=False) > len(words.text)
