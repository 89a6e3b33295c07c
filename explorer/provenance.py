"""Where an export came from: which model (and exactly which weights), the sentences, the settings, the
date, the app's version and a link that reopens the same view. Every export carries it: the ZIP's
manifest, the animated sweep (a line on every frame and the file's comment), the offline chart."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

APP_NAME = "latent-space-explorer"
_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def app_version() -> str:
    """The app's version: the installed package's, else the one in pyproject.toml beside the code."""
    try:
        return metadata.version(APP_NAME)
    except metadata.PackageNotFoundError:
        pass
    try:
        return str(tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def model_fields(page: str, info: Any) -> dict[str, Any]:
    """Which page, which model and exactly which weights: what every export and manifest starts with.
    `info` is an explorer.models.ModelInfo."""
    return {
        "page": page,
        "model_id": info.model_id,
        "model": info.display_name,
        "weights_fingerprint": info.fingerprint,
    }


def provenance(
    page: str,
    info: Any,
    sentences: tuple[str, ...] | list[str],
    settings: dict[str, Any],
    share_link: str = "",
    created: datetime | None = None,
) -> dict[str, Any]:
    """The provenance of one export. `info` is an explorer.models.ModelInfo; `share_link` is empty where
    the view does not fit a link (the sentences then travel in the file itself)."""
    return {
        **model_fields(page, info),
        "sentences": list(sentences),
        "settings": dict(settings),
        "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
        "app_version": app_version(),
        "share_link": share_link,
    }


def provenance_line(prov: dict[str, Any]) -> str:
    """One short plain-text line for the foot of a picture: model, weights, date, app version."""
    return (
        f"{prov['model_id']} · weights {str(prov['weights_fingerprint'])[:12]} · "
        f"{str(prov['created'])[:10]} · Latent Space Explorer {prov['app_version']}"
    )


def provenance_text(prov: dict[str, Any]) -> str:
    """Every field as plain text, one per line (for a file's comment): the sentences numbered."""
    lines = [
        f"Latent Space Explorer {prov['app_version']} · {prov['page']}",
        f"model: {prov['model_id']} ({prov['model']})",
        f"weights sha256: {prov['weights_fingerprint']}",
        f"created: {prov['created']}",
        "settings: " + ", ".join(f"{k}={v}" for k, v in prov["settings"].items() if k != "sentences"),
    ]
    lines += [f"S{i + 1}: {text}" for i, text in enumerate(prov["sentences"])]
    if prov.get("share_link"):
        lines.append(f"reopen: {prov['share_link']}")
    return "\n".join(lines)
