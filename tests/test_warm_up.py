"""The server's background warm-up: the model by default; UMAP's code (about 360 MB that stay for the
server's life) only once a visitor asks for a UMAP, or at start with LSE_WARM_UP=umap."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from conftest import ROOT

from explorer.models import DEFAULT_MODEL_ID
from explorer.ui import caches


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "1"), ("", "1"), ("1", "1"), (" 0 ", "0"), ("umap", "umap"), ("UMAP", "umap"), ("yes", "1")],
)
def test_the_warm_up_setting_falls_back_to_the_model_alone(raw, expected) -> None:
    assert caches.warm_up_mode(raw) == expected


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    done: list[str] = []
    monkeypatch.setattr(caches, "WARM_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(caches, "_model", lambda model_id: done.append(f"model {model_id}"))
    monkeypatch.setattr(caches, "warm_umap", lambda model_id: done.append(f"umap {model_id}"))
    return done


def test_the_default_warm_up_loads_the_model_and_leaves_umap_alone(monkeypatch) -> None:
    done = _recording(monkeypatch)
    caches._warm("m", with_umap=False)
    assert done == ["model m"]
    caches._warm("m", with_umap=True)  # LSE_WARM_UP=umap
    assert done == ["model m", "model m", "umap m"]


def _fresh_umap_warm_up(monkeypatch: pytest.MonkeyPatch, setting: str) -> list[str]:
    """A server whose UMAP is not warm yet: `warm_up_umap` records instead of compiling."""
    done: list[str] = []
    monkeypatch.setenv(caches.WARM_UP_ENV, setting)
    monkeypatch.setattr(caches, "_umap_warm", threading.Event())
    monkeypatch.setattr(caches, "_umap_warming", threading.Event())
    monkeypatch.setattr(caches, "_after_load", [])
    monkeypatch.setattr(caches, "_prepared", [])
    monkeypatch.setattr(caches, "warm_up_umap", lambda: done.append("compile"))
    monkeypatch.setattr(caches, "settle_long_lived", lambda: None)
    return done


def _ask_for_umap(times: int = 2) -> None:
    """`umap_wanted` as page runs call it, waiting for the threads it starts."""
    for _ in range(times):
        before = set(threading.enumerate())
        caches.umap_wanted("m")
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=10)


def test_the_first_umap_asked_for_fits_the_shipped_sets_once(monkeypatch) -> None:
    done = _fresh_umap_warm_up(monkeypatch, "1")
    caches.on_umap_warm_up(lambda model_id: done.append(f"sets {model_id}"))
    _ask_for_umap()
    assert done == ["sets m", "compile"]


def test_sets_registered_after_the_first_umap_are_fitted_on_the_next(monkeypatch) -> None:
    """E.g. the Geometry lab's UMAP came first, before the Token journey was ever opened."""
    done = _fresh_umap_warm_up(monkeypatch, "1")
    _ask_for_umap()
    caches.on_umap_warm_up(lambda model_id: done.append(f"sets {model_id}"))
    _ask_for_umap()
    assert done == ["compile", "sets m"]


def test_no_background_umap_work_with_the_warm_up_off(monkeypatch) -> None:
    done = _fresh_umap_warm_up(monkeypatch, "0")
    caches.on_umap_warm_up(lambda model_id: done.append(f"sets {model_id}"))
    _ask_for_umap()
    assert done == []


@pytest.mark.slow
def test_a_server_warmed_up_by_default_has_not_imported_umap() -> None:
    """The default warm-up loads the model and imports neither UMAP nor numba (their import and compile
    kept about 360 MB of a 1.17 GB server resting with one visitor)."""
    code = (
        "import sys\n"
        "from explorer.ui import caches\n"
        "caches.WARM_AFTER_SECONDS = 0\n"
        f"caches._warm({DEFAULT_MODEL_ID!r}, with_umap=False)\n"
        f"assert caches.model_ready({DEFAULT_MODEL_ID!r})\n"
        "print(sorted(m for m in ('umap', 'numba', 'pynndescent', 'llvmlite') if m in sys.modules))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
