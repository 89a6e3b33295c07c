"""requirements.txt keeps torch on the CPU build on Linux (Community Cloud), with no network needed here."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
CPU_PAGE = "https://download.pytorch.org/whl/cpu/"

# Marker variables as each platform reports them (the rest come from the running interpreter).
PLATFORMS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    "darwin": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
    "win32": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
}


def _lines() -> list[str]:
    """Non-empty lines without comments (a requirements file comment starts with ' #' or the line)."""
    out = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _options() -> list[tuple[str, str]]:
    """(option, value) for each option line, e.g. ("--find-links", "https://...")."""
    out = []
    for line in _lines():
        if line.startswith("-"):
            name, _, value = line.replace("=", " ", 1).partition(" ")
            out.append((name, value.strip()))
    return out


def _requirements() -> list[Requirement]:
    return [Requirement(line) for line in _lines() if not line.startswith("-")]


def _torch_for(platform: str) -> list[Requirement]:
    env = {**default_environment(), **PLATFORMS[platform]}
    return [r for r in _requirements() if r.name == "torch" and (r.marker is None or r.marker.evaluate(env))]


def test_on_linux_torch_is_pinned_to_the_cpu_build_only() -> None:
    (torch,) = _torch_for("linux")
    (spec,) = torch.specifier
    assert spec.operator == "=="
    assert Version(spec.version).local == "cpu"
    public = Version(spec.version).public
    # PyPI's Linux wheel of the same release is the CUDA build: the pin must not admit it.
    assert Version(f"{public}+cpu") in torch.specifier
    assert Version(public) not in torch.specifier
    assert Version(f"{public}+cu130") not in torch.specifier


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_elsewhere_torch_is_the_same_release_from_pypi(platform: str) -> None:
    (linux,) = _torch_for("linux")
    (torch,) = _torch_for(platform)
    (spec,) = torch.specifier
    assert spec.operator == "=="
    assert Version(spec.version).local is None  # PyPI's macOS and Windows wheels carry no local label
    (linux_spec,) = linux.specifier
    assert Version(spec.version) == Version(Version(linux_spec.version).public)


def test_the_cpu_wheel_is_found_on_the_pytorch_cpu_page_and_nothing_overrides_pypi() -> None:
    options = _options()
    links = [value for name, value in options if name in ("--find-links", "-f")]
    assert links, "requirements.txt needs a --find-links line for the +cpu wheel"
    assert all(link.startswith(CPU_PAGE) for link in links)
    # An (extra) index would be searched before PyPI by uv, for every package, not just torch.
    assert not [name for name, _ in options if name in ("-i", "--index-url", "--extra-index-url")]


def test_every_requirement_is_pinned() -> None:
    for req in _requirements():
        assert [s.operator for s in req.specifier] == ["=="], req
