"""The address a share link opens at: which hosts a phone cannot open, how a typed public address is
checked, and how a link is rebuilt on it with the same page and the same view token."""

from __future__ import annotations

import pytest

from explorer.share import (
    PUBLIC_ADDRESS_EXAMPLE,
    PublicAddressError,
    decode_view,
    encode_view,
    is_local_host,
    is_text,
    link_host,
    public_base,
    rebase_link,
)

TOKEN = encode_view({"sentences": "The bank by the river.", "layer": 4})


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",  # all of 127.0.0.0/8 is loopback
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
        "localhost",
        "LocalHost.",
        "app.localhost",
        "teachers-mac.local",
        "mylaptop",  # a bare name without dots
        "",  # no host at all
    ],
)
def test_hosts_a_phone_cannot_open(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize(
    "host",
    ["192.168.1.20", "10.0.0.7", "172.16.4.2", "2001:db8::1", "latent-space-explorer.streamlit.app", "a.b"],
)
def test_hosts_a_phone_can_open(host: str) -> None:
    assert not is_local_host(host)


def test_the_host_of_a_link() -> None:
    assert link_host(f"http://127.0.0.1:8501/Token_journey?view={TOKEN}") == "127.0.0.1"
    assert link_host("http://[::1]:8501/") == "::1"
    assert link_host("http://LOCALHOST.:8501/") == "localhost"
    assert link_host(f"?view={TOKEN}") == ""  # a link without an address of its own
    assert link_host("http://[::1") == ""


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("http://192.168.1.20:8501", "http://192.168.1.20:8501"),
        ("  http://192.168.1.20:8501/  ", "http://192.168.1.20:8501"),
        ("HTTPS://Class.Example.org", "https://class.example.org"),
        ("https://class.example.org.:443", "https://class.example.org:443"),
        ("http://[2001:db8::1]:8501", "http://[2001:db8::1]:8501"),
        ("http://10.0.0.7", "http://10.0.0.7"),
    ],
)
def test_a_public_address_is_written_as_scheme_host_and_port(typed: str, base: str) -> None:
    assert public_base(typed) == base


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Type the address"),
        ("192.168.1.20:8501", "http:// or https://"),
        ("localhost:8501", "http:// or https://"),  # read as a scheme named 'localhost'
        ("ftp://192.168.1.20", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://", "http:// or https://"),
        ("http://192.168.1.20:99999", "port"),
        ("http://192.168.1.20:0", "port"),
        ("http://192.168.1.20:port", "port"),
        ("http://[2001:db8::1", "not an address"),
        ("http://user:secret@192.168.1.20:8501", "user name or password"),
        ("http://192.168.1.20:8501/Token_journey", "only the start"),
        ("http://192.168.1.20:8501/?view=1.abc.def", "only the start"),
        ("http://192.168.1.20:8501#top", "only the start"),
        ("http://192.168.1.20:8501?", "only the start"),
        ("http://under_score.example.org", "The host must be"),
        ("http://-bad.example.org", "The host must be"),
        ("http://bücher.example", "The host must be"),
        ("http://[fe80::1%25eth0]:8501", "The host must be"),
        ("http://<b>x.org", "The host must be"),
        ("http://192.168.1.20 :8501", "no spaces"),
        ("http://127.0.0.1:8501", "Phones cannot open 127.0.0.1"),
        ("http://localhost:8501", "Phones cannot open localhost"),
        ("http://[::1]:8501", "Phones cannot open ::1"),
        ("http://0.0.0.0:8501", "Phones cannot open 0.0.0.0"),
        ("http://teachers-mac.local:8501", "Phones cannot open teachers-mac.local"),
        ("http://mylaptop:8501", "Phones cannot open mylaptop"),
        ("http://" + "a" * 400 + ".org", "too long"),
    ],
)
def test_a_bad_public_address_gets_a_clear_message(typed: str, says: str) -> None:
    with pytest.raises(PublicAddressError) as info:
        public_base(typed)
    assert says in str(info.value)


def test_the_messages_show_an_example_to_copy() -> None:
    for typed in ("", "192.168.1.20:8501", "http://x.org/page", "http://localhost:8501"):
        with pytest.raises(PublicAddressError) as info:
            public_base(typed)
        assert PUBLIC_ADDRESS_EXAMPLE in str(info.value)


def test_a_link_rebuilt_on_the_public_address_keeps_its_page_and_token() -> None:
    link = f"http://127.0.0.1:8501/Token_journey?view={TOKEN}"
    rebuilt = rebase_link(link, public_base("http://192.168.1.20:8501"))
    assert rebuilt == f"http://192.168.1.20:8501/Token_journey?view={TOKEN}"
    token = rebuilt.split("view=", 1)[1]
    assert decode_view(token, {"sentences": is_text(100)}) == {"sentences": "The bank by the river."}


def test_a_rebuilt_link_keeps_a_path_prefix_and_takes_the_new_scheme() -> None:
    link = f"http://localhost:8501/explorer/Geometry_lab?view={TOKEN}"
    assert (
        rebase_link(link, public_base("https://class.example.org"))
        == f"https://class.example.org/explorer/Geometry_lab?view={TOKEN}"
    )
    assert (
        rebase_link(f"?view={TOKEN}", "http://[2001:db8::1]:8501")
        == f"http://[2001:db8::1]:8501/?view={TOKEN}"
    )
