"""Poolings, per-token measures, similarity and downloads of the Sentence embedding page."""

from __future__ import annotations

import io

import numpy as np
import pytest

from explorer import sentence as sm
from explorer.vectors import cosine


def test_leave_one_out_by_hand():
    # mean of [1,0] and [0,1] is [.5,.5]; without the first token the mean is [0,1]: cos = 1/sqrt(2)
    shift = sm.leave_one_out_shift(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(shift, [1 - 1 / np.sqrt(2)] * 2)


def test_leave_one_out_three_tokens_by_hand():
    # tokens [2,0], [0,2], [2,2]: mean [4/3,4/3]; dropping [2,2] leaves mean [1,1]: same direction, shift 0
    x = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    shift = sm.leave_one_out_shift(x)
    assert shift[2] == pytest.approx(0.0, abs=1e-12)
    # dropping [2,0] leaves mean [1,2]: cos with [1,1] = 3 / (sqrt(5)·sqrt(2))
    assert shift[0] == pytest.approx(1 - 3 / np.sqrt(10))


def test_leave_one_out_max_and_bad_mode():
    shift = sm.leave_one_out_shift(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.5]]), "max")
    assert shift[2] == pytest.approx(0.0)  # never the maximum anywhere: nothing moves
    assert shift[0] > 0
    with pytest.raises(ValueError, match="Valid poolings"):
        sm.leave_one_out_shift(np.ones((2, 2)), "cls")
    assert sm.leave_one_out_shift(np.ones((1, 3))).tolist() == [0.0]


def test_token_measures_match_the_models_pooling(bank_states):
    s = 1
    measures = sm.token_measures(bank_states, s)
    rows = bank_states.tokens.index[bank_states.tokens["sentence"] == s]
    final = bank_states.layers[-1, rows]
    # the model's own pooled vector is the mean of exactly these tokens
    np.testing.assert_allclose(final.mean(axis=0), bank_states.pooled_raw[-1, s], atol=1e-5)
    np.testing.assert_allclose(measures["cosine_to_pooled"], cosine(final, bank_states.pooled[s]), atol=1e-5)
    n = len(rows)
    without_first = (final.sum(axis=0) - final[0]) / (n - 1)
    expected = 1 - cosine(without_first, bank_states.pooled[s])
    assert measures["leave_one_out_shift"].iloc[0] == pytest.approx(expected, abs=1e-5)
    assert list(measures["position"]) == list(range(n))
    assert measures["special"].iloc[0] and measures["special"].iloc[-1]


def test_sentence_vectors_and_similarity(bank_states):
    model_sim = sm.similarity_matrix(sm.sentence_vectors(bank_states, "model"))
    s = bank_states.n_sentences
    assert model_sim.shape == (s, s)
    np.testing.assert_allclose(np.diag(model_sim), 1.0, atol=1e-6)
    np.testing.assert_allclose(model_sim, model_sim.T)
    first = bank_states.tokens.index[bank_states.tokens["sentence"] == 0][0]
    np.testing.assert_allclose(sm.sentence_vectors(bank_states, "cls")[0], bank_states.layers[-1, first])
    layer0 = sm.similarity_matrix(sm.sentence_vectors(bank_states, "mean_layer", 0))
    assert not np.allclose(layer0, model_sim)
    with pytest.raises(ValueError, match="Valid poolings"):
        sm.sentence_vectors(bank_states, "median")
    frame = sm.similarity_frame(model_sim, bank_states.texts)
    assert len(frame) == s * s and set(frame["row"]) == {f"S{i + 1}" for i in range(s)}


def test_cloud_puts_the_mean_on_the_centroid_of_its_tokens(bank_states):
    cloud = sm.cloud_frames(bank_states, contrast="max")
    model = cloud.pooled[cloud.pooled["kind"] == "model"].set_index("sentence_id")
    centroids = cloud.tokens.groupby("sentence_id")[["x", "y"]].mean()
    np.testing.assert_allclose(model[["x", "y"]].to_numpy(), centroids.to_numpy(), atol=1e-4)
    assert set(cloud.pooled["kind"]) == {"model", "max"}
    assert (
        cloud.tokens["pooled_x"].to_numpy() == model.loc[cloud.tokens["sentence_id"], "x"].to_numpy()
    ).all()


def test_norm_table_shows_unit_length_after(bank_states):
    table = sm.norm_table(bank_states)
    np.testing.assert_allclose(table["length returned"], 1.0, atol=1e-5)
    assert (table["length before normalising"] > 1.5).all()


def test_downloads_round_trip():
    texts = ["one", "two, with a comma"]
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    with np.load(io.BytesIO(sm.embeddings_npz(texts, vectors)), allow_pickle=False) as npz:
        assert npz["texts"].tolist() == texts
        np.testing.assert_array_equal(npz["embeddings"], vectors)
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(sm.embeddings_csv(texts, vectors)))
    assert frame["text"].tolist() == texts and frame.shape == (2, 4)
    sim = pd.read_csv(io.BytesIO(sm.similarity_csv(texts, np.eye(2))))
    assert sim.columns.tolist() == ["sentence", "text", "S1", "S2"]


# ---------------------------------------------------------------- uploads
def _marks(spec: dict) -> list[str]:
    return [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]
    ]


def test_charts_build_with_the_expected_layers(bank_states):
    from explorer.charts import sentence as sc
    from explorer.index import EmbeddingIndex
    from explorer.projection import fit_map

    cloud = sm.cloud_frames(bank_states, contrast="cls")
    spec = sc.cloud_chart(cloud.tokens, cloud.pooled).to_dict()
    assert {"rule", "circle", "point"} <= set(_marks(spec))
    heat = sc.similarity_heatmap(
        sm.similarity_frame(sm.similarity_matrix(bank_states.pooled), bank_states.texts)
    ).to_dict()
    assert _marks(heat) == ["rect", "text"]
    bars = sc.token_importance_chart(sm.token_measures(bank_states, 0)).to_dict()
    assert len(bars["hconcat"]) == 2

    rng = np.random.default_rng(0)
    index = EmbeddingIndex.build([f"t{i}" for i in range(30)], rng.normal(size=(30, 8)), ["a"] * 30)
    index = index.add(["mine"], rng.normal(size=(1, 8)), "typed")
    projection = fit_map(index.vectors)
    points = sc.corpus_map_frame(index.texts, index.sources, projection.coords, n_base=30)
    hits = index.search(index.vectors[3], k=3)
    chart = sc.corpus_map_chart(points, projection.place(index.vectors[3])[0], "q", hits).to_dict()
    assert _marks(chart) == ["circle", "rule", "circle", "circle", "point"]
    dots = chart["datasets"][chart["layer"][0]["data"]["name"]]
    assert len(dots) == 31 and dots[-1]["added"] is True  # a few added texts are drawn last (on top)


# ---------------------------------------------------------------- token measures under other poolings
def _repooled(states, mode: str):
    """The same token vectors with the model's pooling swapped for `mode` (pooled_raw recomputed)."""
    import dataclasses

    sentence_of = states.sentence_of_token()
    pooled_raw = np.stack(
        [
            np.stack(
                [sm.pool(states.layers[layer, sentence_of == s], mode) for s in range(states.n_sentences)]
            )
            for layer in range(states.n_layers + 1)
        ]
    )  # (L+1, S, D)
    return dataclasses.replace(states, pooling=mode, pooled_raw=pooled_raw.astype(np.float32))


def test_token_measures_of_a_cls_model_compare_with_cls_and_have_no_leave_one_out(bank_states):
    states = _repooled(bank_states, "cls")
    measures = sm.token_measures(states, 1)
    assert measures["cosine_to_pooled"].iloc[0] == pytest.approx(1.0, abs=1e-6)  # [CLS] is the pooled vector
    assert measures["leave_one_out_shift"].isna().all()
    assert not sm.leave_one_out_applies("cls") and sm.leave_one_out_applies("mean")
    from explorer.charts import sentence as sc

    assert len(sc.token_importance_chart(measures).to_dict()["hconcat"]) == 1  # no mislabelled second panel


def test_token_measures_of_a_max_model_use_max(bank_states):
    states = _repooled(bank_states, "max")
    measures = sm.token_measures(states, 0)
    rows = states.tokens.index[states.tokens["sentence"] == 0]
    final = states.layers[-1, rows]
    np.testing.assert_allclose(measures["cosine_to_pooled"], cosine(final, final.max(axis=0)), atol=1e-5)
    np.testing.assert_allclose(
        measures["leave_one_out_shift"], sm.leave_one_out_shift(final, "max"), atol=1e-6
    )
