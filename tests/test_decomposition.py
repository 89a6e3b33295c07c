"""Why a token moved (issue 28, item 1): the parts of each layer's update add back to the model's own
vector, on the bundled model over varied sentences and on a random-weight BERT; other architectures are
refused, not drawn wrongly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.assets import bundled_corpus
from explorer.decomposition import NotCovered, check_covered, decompose, relative_error

LIMIT = 1e-4


def _varied(n: int) -> list[str]:
    corpus = list(bundled_corpus().texts)
    picked = corpus[:: max(1, len(corpus) // (n - 6))][: n - 6]
    return [
        *picked,
        "bank",  # one word: [CLS] bank [SEP]
        "The bank of the river, the bank of England, and a bank shot: three banks.",
        "Café naïve — 東京 and emoji 🙂 in one line, with <b>tags</b> and =SUM(A1).",
        " ".join(f"w{i}," for i in range(300)),  # past the 256 word pieces the model reads
        "a " * 40,
        "?!",
    ]


def test_the_parts_add_back_to_the_models_own_vectors_on_the_bundled_model(model) -> None:
    texts = _varied(56)
    assert len(texts) >= 50
    backbone = model[0].auto_model
    worst = 0.0
    for text in texts:
        layers = decompose(backbone, model.preprocess([text]))
        assert len(layers) == backbone.config.num_hidden_layers
        for parts in layers:
            worst = max(worst, float(relative_error(parts).max()))
            np.testing.assert_allclose(parts.attention.sum(axis=-1), 1.0, atol=1e-9)
    assert worst <= LIMIT, f"parts off the model's vector by {worst:.2e} of its length"


def _random_bert(**overrides):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=120, hidden_size=48, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=64, initializer_range=0.3, **overrides,
    )  # fmt: skip
    model = BertModel(config).eval()
    with torch.no_grad():  # random LayerNorm gains and biases, so no part is trivially zero
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
    return model


def test_the_parts_add_back_on_a_random_bert_with_padding_that_gets_nothing() -> None:
    backbone = _random_bert()
    ids = torch.randint(5, 120, (1, 20))
    mask = torch.ones(1, 20, dtype=torch.long)
    mask[0, 15:] = 0  # padding at the end
    layers = decompose(
        backbone, {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    )
    assert len(layers) == 3
    for parts in layers:
        assert relative_error(parts)[:15].max() <= LIMIT
        assert np.abs(parts.sources[:15, 15:]).max() == 0.0, "no real token hears from padding"
        assert np.abs(parts.itself).max() > 0 and np.abs(parts.feed_forward).max() > 0
        assert np.abs(parts.bias).max() > 0


def test_a_wrong_part_is_caught_by_the_sum_check() -> None:
    """The check can fail: the layer's input in place of its output is far off."""
    backbone = _random_bert()
    ids = torch.randint(5, 120, (1, 12))
    (first, *_) = decompose(backbone, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    from dataclasses import replace

    assert relative_error(replace(first, feed_forward=first.feed_forward * 0)).max() > LIMIT
    assert relative_error(replace(first, after=first.before)).max() > LIMIT


def test_other_architectures_are_refused_plainly() -> None:
    from transformers import DistilBertConfig, DistilBertModel

    distil = DistilBertModel(DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    with pytest.raises(NotCovered, match="distilbert"):
        check_covered(distil)
    with pytest.raises(NotCovered, match="relative_key"):
        check_covered(_random_bert(position_embedding_type="relative_key"))
    with pytest.raises(ValueError, match="one sentence"):
        decompose(_random_bert(), {"input_ids": torch.ones(2, 4, dtype=torch.long)})


def test_value_zeroing_matches_the_model_run_with_one_tokens_values_zeroed() -> None:
    """The ablation the parts are validated against, checked against the model itself: a hook zeroes
    source j's value vectors at one layer, and token i's output there moves as `value_zeroing` says."""
    from explorer.decomposition import value_zeroing

    backbone = _random_bert()
    ids = torch.randint(5, 120, (1, 10))
    features = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        states = backbone(**features, output_hidden_states=True).hidden_states
    layer_no, j = 1, 3
    ours = value_zeroing(backbone.encoder.layer[layer_no], states[layer_no][0].double().numpy())

    def zero_j(_module, _inputs, output):
        output = output.clone()
        output[:, j] = 0.0
        return output

    hook = backbone.encoder.layer[layer_no].attention.self.value.register_forward_hook(zero_j)
    try:
        with torch.no_grad():
            ablated = backbone(**features, output_hidden_states=True).hidden_states[layer_no + 1][0]
    finally:
        hook.remove()
    h = states[layer_no + 1][0]
    theirs = 1 - torch.nn.functional.cosine_similarity(ablated, h, dim=-1).double().numpy()
    np.testing.assert_allclose(ours[:, j], theirs, rtol=1e-3, atol=1e-7)
    assert ours[:, j].max() > 1e-4, "zeroing a token's values moves the others"


def test_the_tables_rank_the_sources_and_the_parts_add_up_to_the_move(model) -> None:
    from explorer.decomposition import PARTS, move_table, pull_table

    features = model.preprocess(["She sat on the bank of the river."])
    layers = decompose(model[0].auto_model, features, rows=[4])  # [CLS] she sat on bank …
    pulls = pull_table(layers)
    assert set(pulls["layer"]) == set(range(1, 7)) and set(pulls["target"]) == {4}
    assert 4 not in set(pulls["source"]), "what a token sends itself is 'itself', not a line"
    for _, one in pulls.groupby("layer"):
        assert one["share"].sum() == pytest.approx(1.0)
        assert list(one["rank"]) == list(range(1, len(one) + 1))
        assert one["strength"].is_monotonic_decreasing
    moves = move_table(layers)
    assert list(moves["part"].unique()) == list(PARTS)
    for _, one in moves.groupby("layer"):
        assert one["along"].sum() == pytest.approx(one["move"].iloc[0], rel=1e-4)
        assert one["move"].iloc[0] > 0


def test_rollout_multiplies_the_layers_mixing_and_ranks_sources_by_it(model) -> None:
    from explorer.decomposition import pull_table, rollout

    layers = decompose(model[0].auto_model, model.preprocess(["The bank of the river flooded."]), rows=[2])
    rolled = rollout(layers)
    assert len(rolled) == len(layers)
    for matrix in rolled:
        np.testing.assert_allclose(matrix.sum(axis=-1), 1.0, atol=1e-9)
    first = 0.5 * layers[0].mixing + 0.5 * np.eye(len(layers[0].mixing))
    second = 0.5 * layers[1].mixing + 0.5 * np.eye(len(layers[1].mixing))
    np.testing.assert_allclose(rolled[1], second @ first, atol=1e-12)
    pulls = pull_table(layers, by="rollout")
    at_two = pulls[pulls["layer"] == 2]
    others = np.delete(rolled[1][2], 2)
    assert at_two["strength"].iloc[0] == pytest.approx(others.max())
    with pytest.raises(ValueError, match="Valid"):
        pull_table(layers, by="alti")
