"""The embedding index: building, growing without mutation, cosine search, the 2-D map, the corpus."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from explorer.assets import bundled_corpus
from explorer.index import EmbeddingIndex, embed_texts
from explorer.projection import fit_map


def _toy() -> EmbeddingIndex:
    vectors = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3], [1, 1, 0]], dtype=np.float32)
    return EmbeddingIndex.build(["x", "y", "z", "xy"], vectors, ["a", "a", "b", "b"])


def test_build_stores_unit_vectors_read_only():
    index = _toy()
    assert index.size == 4 and index.dim == 3
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError):
        index.vectors[0, 0] = 5.0


def test_search_ranks_by_cosine():
    hits = _toy().search(np.array([1.0, 0.2, 0.0]), k=2)
    assert [h.text for h in hits] == ["x", "xy"]
    assert hits[0].score == pytest.approx(1 / np.sqrt(1.04), rel=1e-5)
    assert hits[1].score == pytest.approx(1.2 / np.sqrt(1.04) / np.sqrt(2), rel=1e-5)
    assert [h.rank for h in hits] == [1, 2]


def test_search_k_larger_than_index_returns_everything_sorted():
    hits = _toy().search(np.array([0.0, 0.0, 1.0]), k=10)
    assert len(hits) == 4
    assert hits[0].text == "z"
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_add_returns_new_index_and_leaves_the_old_one_alone():
    index = _toy()
    grown = index.add(["w"], np.array([[0.0, 1.0, 1.0]]), "typed")
    assert index.size == 4 and grown.size == 5
    assert grown.texts[-1] == "w" and grown.sources[-1] == "typed"
    assert grown.key != index.key
    assert grown.search(np.array([0.0, 1.0, 1.0]), k=1)[0].text == "w"
    assert index.search(np.array([0.0, 1.0, 1.0]), k=1)[0].text != "w"


def test_add_skips_texts_already_stored():
    index = _toy()
    same = index.add(["x", "y"], np.eye(3, dtype=np.float32)[:2], "typed")
    assert same is index
    grown = index.add(["x", "new", "new"], np.eye(3, dtype=np.float32), "typed")
    assert grown.size == 5


def test_bad_shapes_fail_fast():
    with pytest.raises(ValueError, match="one vector"):
        EmbeddingIndex.build(["a", "b"], np.ones((3, 4)), ["s", "s"])
    with pytest.raises(ValueError, match="dims"):
        _toy().add(["w"], np.ones((1, 5)), "typed")
    with pytest.raises(ValueError, match="dims"):
        _toy().search(np.ones(5))
    with pytest.raises(ValueError, match="k must"):
        _toy().search(np.ones(3), k=0)


def test_map_places_stored_vectors_where_they_were_fitted():
    index = _toy()
    projection = fit_map(index.vectors)
    assert projection.coords.shape == (4, 2)
    np.testing.assert_allclose(projection.place(index.vectors), projection.coords, atol=1e-5)
    assert 0 < projection.explained <= 1


def test_corpus_is_large_varied_and_unique():
    corpus = bundled_corpus()
    assert len(corpus.texts) >= 200
    assert len(set(corpus.texts)) == len(corpus.texts)
    assert len(set(corpus.topics)) >= 8


def test_embed_texts_equals_encode_in_input_order(model):
    texts = [
        "A short one.",
        "A much longer sentence about gardens and tomatoes in the summer heat.",
        "Mid length.",
    ]
    ours = embed_texts(model, texts)
    theirs = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_embed_texts_reports_progress(model):
    seen = []
    embed_texts(
        model, [f"sentence number {i}" for i in range(600)], progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (600, 600)
    assert len(seen) >= 2


def test_a_long_add_lets_go_of_the_model_between_slices_and_still_equals_encode(model):
    """A file of long lines holds the shared model lock a slice at a time (SLICE_TOKENS padded word
    pieces), so another visitor's thread can take it in between: after each slice, another thread gets
    the lock at once. The vectors are still the model's own."""
    import threading

    from explorer.index import SLICE_TOKENS
    from explorer.models import model_lock
    from explorer.states import word_pieces

    texts = [" ".join(f"w{i}x{k}," for k in range(120)) for i in range(6)]  # each at the 256-piece limit
    assert min(word_pieces(model, texts)) * 2 > SLICE_TOKENS, "one long line per slice"
    others_got_in = []

    def progress(done: int, total: int) -> None:
        def try_lock() -> None:
            lock = model_lock(model)
            got = lock.acquire(timeout=5)
            others_got_in.append(got)
            if got:
                lock.release()

        other = threading.Thread(target=try_lock)
        other.start()
        other.join()

    ours = embed_texts(model, texts, progress=progress)
    assert others_got_in == [True] * len(texts), "a slice per long line, the lock free after each"
    theirs = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_unambiguous_query_finds_its_corpus_sentence(model):
    corpus = bundled_corpus()
    index = EmbeddingIndex.build(corpus.texts, embed_texts(model, corpus.texts), corpus.topics)
    hit = index.search(embed_texts(model, ["seeing Saturn's rings through a telescope"])[0], k=1)[0]
    assert "rings of Saturn" in hit.text and hit.source == "astronomy"


def test_key_covers_vectors_and_sources_not_just_texts():
    index = _toy()
    other_model = EmbeddingIndex.build(index.texts, np.eye(4, 3, k=1, dtype=np.float32) + 0.1, index.sources)
    other_dims = EmbeddingIndex.build(index.texts, np.ones((4, 5)), index.sources)
    other_labels = EmbeddingIndex.build(index.texts, index.vectors, ["c", "c", "c", "c"])
    keys = {index.key, other_model.key, other_dims.key, other_labels.key}
    assert len(keys) == 4
    assert _toy().key == index.key  # the same content gives the same key
    row = np.array([[0.0, 1.0, 1.0]])
    assert index.add(["w"], row, "typed").key != index.add(["w"], row, "file: mine.csv").key
    assert index.add(["w"], row, "typed").key != index.add(["w"], -row, "typed").key


def test_new_texts_are_the_ones_add_would_store():
    index = _toy()
    assert index.new_texts(["x", "new", "new", "other"]) == ("new", "other")
    grown = index.add(["x", "new", "new", "other"], np.eye(4, 3, dtype=np.float32), "typed")
    assert grown.texts[index.size :] == index.new_texts(["x", "new", "new", "other"])
