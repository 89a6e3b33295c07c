"""Share links: a page's state as a short, compressed, checked token for the URL query string.

A token is `1.<checksum>.<payload>`: payload is zlib-compressed compact JSON in URL-safe base64, checksum
the first 8 hex digits of its sha256. Decoding is strict (size, checksum, JSON, every field's type and
range) and raises ShareLinkError with a sentence a user can read; unknown fields are dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Callable
from typing import Any

from explorer.models import DEFAULT_MODEL_ID, is_hub_id

QUERY_KEY = "view"
VERSION = "1"
MAX_TOKEN_CHARS = 16_000
MAX_JSON_BYTES = 400_000

Validator = Callable[[Any], bool]


class ShareLinkError(ValueError):
    """A share link that cannot be used; the message is meant for the user."""


def encode_view(state: dict[str, Any]) -> str:
    """The token for a view's state (deterministic: the same state gives the same token)."""
    raw = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    payload = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
    return f"{VERSION}.{_checksum(payload)}.{payload}"


def decode_view(token: str, fields: dict[str, Validator]) -> dict[str, Any]:
    """The state in a token, keeping only known fields that pass their validator."""
    if not isinstance(token, str) or not token:
        raise ShareLinkError("The link carries no view.")
    if len(token) > MAX_TOKEN_CHARS:
        raise ShareLinkError("The link is too long to be one of ours.")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise ShareLinkError("The link is not in a format this app writes.")
    _, checksum, payload = parts
    if _checksum(payload) != checksum:
        raise ShareLinkError(
            "The link was changed or cut off after it was made (its checksum does not match)."
        )
    try:
        compressed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES or inflater.unconsumed_tail:
            raise ShareLinkError("The link holds more than a view can.")
        state = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except ShareLinkError:
        raise
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, NaN/Infinity and integers too long to parse
        raise ShareLinkError("The link is damaged and cannot be read.") from exc
    if not isinstance(state, dict):
        raise ShareLinkError("The link does not describe a view.")
    bad = sorted(key for key, check in fields.items() if key in state and not check(state[key]))
    if bad:
        raise ShareLinkError(f"The link has values this page cannot use: {', '.join(bad)}.")
    return {key: state[key] for key in fields if key in state}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a value a view can hold")


def _checksum(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:8]


# ---------------------------------------------------------------- validators for common field types
def is_int_between(lo: int, hi: int) -> Validator:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def is_one_of(options: Any) -> Validator:
    allowed = set(options)
    return lambda v: isinstance(v, str) and v in allowed


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_text(max_chars: int) -> Validator:
    return lambda v: isinstance(v, str) and len(v) <= max_chars


def is_int_list(max_items: int) -> Validator:
    return lambda v: (
        isinstance(v, list)
        and len(v) <= max_items
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
    )


def is_model_id(v: Any) -> bool:
    """A link may name the bundled model or a hub id ('owner/name'), never a folder on the server."""
    return isinstance(v, str) and (v == DEFAULT_MODEL_ID or is_hub_id(v))
