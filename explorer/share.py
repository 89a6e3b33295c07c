"""Share links: a page's state as a short, compressed, checked token for the URL query string.

A token is `1.<checksum>.<payload>`: payload is zlib-compressed compact JSON in URL-safe base64, checksum
the first 8 hex digits of its sha256. Decoding is strict (size, checksum, JSON, every field's type and
range) and raises ShareLinkError with a sentence a user can read; unknown fields are dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


# ---------------------------------------------------------------- the address a link opens at
# A link carries the address this browser used. Opened as http://127.0.0.1:8501 or http://localhost:8501
# (what `streamlit run` suggests), that address means "this computer" on every phone that scans it.
PUBLIC_URL_ENV = "LSE_PUBLIC_URL"  # the address the class should use, set by whoever starts the server
PUBLIC_ADDRESS_EXAMPLE = "http://192.168.1.20:8501"
PUBLIC_SCHEMES = ("http", "https")
MAX_ADDRESS_CHARS = 300
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class PublicAddressError(ValueError):
    """A typed public address that a link cannot be rebuilt on; the message is meant for the user."""


def link_host(link: str) -> str:
    """The host a link opens at, lower case, without IPv6 brackets ('' for a link without one)."""
    try:
        return (urlsplit(link).hostname or "").rstrip(".")
    except ValueError:
        return ""


def is_local_host(host: str) -> bool:
    """Whether `host` names only the computer it is typed on (or its own network segment's mDNS), so a
    phone that scans a link to it cannot open it: loopback and unspecified addresses (127.0.0.0/8, ::1,
    0.0.0.0, ::), localhost and *.localhost, *.local, and a bare name without dots. No host is local too."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone ('fe80::1%eth0') is not a host
    except ValueError:
        return (
            host in _LOCAL_NAMES
            or host.endswith((".localhost", ".local"))
            or "." not in host  # a bare computer name: resolved on this machine or its LAN, not a phone
        )
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def public_base(address: str) -> str:
    """A typed public address checked and written as `scheme://host[:port]`, or PublicAddressError.

    Only the start of an address is taken (http or https, a host, an optional port): the page and its
    view come from the link itself. A local host is refused: phones could not open it either."""
    text = address.strip()
    if not text:
        raise PublicAddressError(f"Type the address the class should use, e.g. {PUBLIC_ADDRESS_EXAMPLE}.")
    if len(text) > MAX_ADDRESS_CHARS:
        raise PublicAddressError(f"That address is too long ({len(text):,} characters).")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise PublicAddressError("An address has no spaces in it.")
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed '[' of an IPv6 address
        raise PublicAddressError(
            f"That is not an address a browser can open; write it like {PUBLIC_ADDRESS_EXAMPLE}."
        ) from None
    try:
        port = parts.port
    except ValueError:
        raise PublicAddressError("The port after the host must be a number from 1 to 65535.") from None
    scheme = parts.scheme.lower()
    if scheme not in PUBLIC_SCHEMES or not parts.netloc:
        raise PublicAddressError(
            f"Start the address with http:// or https://, then the host and port, e.g. {PUBLIC_ADDRESS_EXAMPLE}."
        )
    if "@" in parts.netloc:
        raise PublicAddressError("Leave out any user name or password: give only the host and port.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise PublicAddressError(
            "Give only the start of the address (http or https, the host and the port), e.g. "
            f"{PUBLIC_ADDRESS_EXAMPLE}: the page and its view are added for you."
        )
    if port == 0:
        raise PublicAddressError("The port after the host must be a number from 1 to 65535.")
    host = (parts.hostname or "").rstrip(".")
    if not _is_host(host):
        raise PublicAddressError(
            "The host must be an IP address (e.g. 192.168.1.20) or a name made of letters, digits, "
            "hyphens and dots (e.g. classroom.example.org)."
        )
    if is_local_host(host):
        raise PublicAddressError(
            f"Phones cannot open {host} either: give this computer's address on the room's network, "
            f"e.g. {PUBLIC_ADDRESS_EXAMPLE}."
        )
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")


def rebase_link(link: str, base: str) -> str:
    """`link` opened at `base` (`scheme://host[:port]`, see `public_base`): the same page path and the same
    view token, at another address."""
    target = urlsplit(base)
    parts = urlsplit(link)
    return urlunsplit((target.scheme, target.netloc, parts.path or "/", parts.query, parts.fragment))


def _is_host(host: str) -> bool:
    """An IP address without an IPv6 zone, or a DNS name of ASCII letters, digits and hyphens."""
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in labels)
