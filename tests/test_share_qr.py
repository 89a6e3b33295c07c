"""The QR code of a share link: it holds exactly the link, stays large enough to scan off a projector,
refuses an over-long link with a sentence, and shows under the link in the share popover.

No QR reader is needed: `read_qr_png` below reads the generated PNG back module by module (a generated
code is undamaged, so error correction is not needed) and parses its byte-mode data, following ISO/IEC
18004: format bits, function patterns, the zigzag data order, masks and block interleaving.
"""

from __future__ import annotations

import io

import pytest
from conftest import APPTEST_TIMEOUT, ROOT, open_page
from PIL import Image
from segno import consts
from streamlit.testing.v1 import AppTest

from explorer import qr
from explorer.share import encode_view

JOURNEY = "pages/1_Token_journey.py"
BASE = "https://latent-space-explorer.streamlit.app/Token_journey"


# ---------------------------------------------------------------- a reader for generated QR codes
LEVELS = {1: "L", 0: "M", 3: "Q", 2: "H"}  # format bits → level
MASKS = [
    lambda r, c: (r + c) % 2 == 0,
    lambda r, c: r % 2 == 0,
    lambda r, c: c % 3 == 0,
    lambda r, c: (r + c) % 3 == 0,
    lambda r, c: (r // 2 + c // 3) % 2 == 0,
    lambda r, c: (r * c) % 2 + (r * c) % 3 == 0,
    lambda r, c: ((r * c) % 2 + (r * c) % 3) % 2 == 0,
    lambda r, c: ((r + c) % 2 + (r * c) % 3) % 2 == 0,
]


def png_modules(png: bytes) -> tuple[list[list[bool]], int, int]:
    """The module grid of a QR PNG (True = dark), and its scale and quiet zone in modules."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    assert width == height
    px = image.load()
    dark = [[px[x, y] < 128 for x in range(width)] for y in range(height)]
    top = next(y for y in range(height) if any(dark[y]))
    left = dark[top].index(True)
    finder = next(x for x in range(left, width) if not dark[top][x]) - left  # 7 modules wide
    assert finder % 7 == 0 and top == left
    scale = finder // 7
    assert left % scale == 0 and width % scale == 0
    border = left // scale
    size = width // scale - 2 * border
    grid = [
        [dark[top + r * scale + scale // 2][left + c * scale + scale // 2] for c in range(size)]
        for r in range(size)
    ]
    for y in range(height):  # every pixel of a module has its module's colour: nothing was resampled
        for x in range(width):
            r, c = y // scale - border, x // scale - border
            inside = 0 <= r < size and 0 <= c < size
            assert dark[y][x] == (grid[r][c] if inside else False)
    return grid, scale, border


def format_bits(level_bits: int, mask: int) -> int:
    data = level_bits << 3 | mask
    rem = data
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    return (data << 10 | rem) ^ 0x5412


def alignment_positions(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    size = 17 + 4 * version
    return [6, *reversed([size - 7 - i * step for i in range(count - 1)])]


def function_modules(version: int) -> list[list[bool]]:
    size = 17 + 4 * version
    fn = [[False] * size for _ in range(size)]

    def mark(r0: int, c0: int, rows: int, cols: int) -> None:
        for r in range(max(r0, 0), min(r0 + rows, size)):
            for c in range(max(c0, 0), min(c0 + cols, size)):
                fn[r][c] = True

    mark(0, 0, 9, 9)  # finder, separator, format bits
    mark(0, size - 8, 9, 8)
    mark(size - 8, 0, 8, 9)  # (and the dark module)
    mark(6, 0, 1, size)  # timing
    mark(0, 6, size, 1)
    pos = alignment_positions(version)
    for i, r in enumerate(pos):
        for j, c in enumerate(pos):
            if (i, j) not in {(0, 0), (0, len(pos) - 1), (len(pos) - 1, 0)}:
                mark(r - 2, c - 2, 5, 5)
    if version >= 7:  # version information
        mark(0, size - 11, 6, 3)
        mark(size - 11, 0, 3, 6)
    return fn


def read_qr_png(png: bytes) -> dict:
    """The text, version and error level a generated QR PNG holds (byte mode segments only)."""
    grid, scale, border = png_modules(png)
    size = len(grid)
    assert (size - 17) % 4 == 0
    version = (size - 17) // 4
    read = sum(grid[r][8] << i for i, r in enumerate([0, 1, 2, 3, 4, 5, 7, 8]))  # bits 0-7: column 8
    read |= sum(grid[8][c] << (8 + i) for i, c in enumerate([7, 5, 4, 3, 2, 1, 0]))  # bits 8-14: row 8
    matches = [(lv, m) for lv in LEVELS for m in range(8) if format_bits(lv, m) == read]
    assert len(matches) == 1, "format information unreadable"
    level_bits, mask = matches[0]

    fn = function_modules(version)
    bits = []
    upward = True
    col = size - 1
    while col > 0:
        if col == 6:
            col -= 1
        rows = range(size - 1, -1, -1) if upward else range(size)
        for r in rows:
            for c in (col, col - 1):
                if not fn[r][c]:
                    bits.append(grid[r][c] ^ MASKS[mask](r, c))
        upward = not upward
        col -= 2
    raw = [
        int("".join("1" if b else "0" for b in bits[i : i + 8]), 2) for i in range(0, len(bits) // 8 * 8, 8)
    ]

    groups = consts.ECC[version][level_bits]  # ISO/IEC 18004 table 9: blocks, codewords, data codewords
    blocks = [g.num_data for g in groups for _ in range(g.num_blocks)]
    assert sum(g.num_total * g.num_blocks for g in groups) == len(raw)
    data_blocks: list[list[int]] = [[] for _ in blocks]
    stream = iter(raw)
    for i in range(max(blocks)):  # data codewords are interleaved block by block
        for b, n in enumerate(blocks):
            if i < n:
                data_blocks[b].append(next(stream))
    data = [cw for block in data_blocks for cw in block]

    bitstring = "".join(f"{cw:08b}" for cw in data)
    pos, text = 0, b""
    count_bits = 8 if version <= 9 else 16
    while pos + 4 <= len(bitstring):
        mode = int(bitstring[pos : pos + 4], 2)
        pos += 4
        if mode == 0:
            break
        assert mode == 0b0100, f"unexpected segment mode {mode:04b}"
        n = int(bitstring[pos : pos + count_bits], 2)
        pos += count_bits
        text += bytes(int(bitstring[pos + 8 * i : pos + 8 * i + 8], 2) for i in range(n))
        pos += 8 * n
    return {
        "text": text.decode("iso-8859-1"),
        "version": version,
        "level": LEVELS[level_bits],
        "modules": size,
        "scale": scale,
        "border": border,
    }


# ---------------------------------------------------------------- links
def journey_link(**extra) -> str:
    """A Token journey link as the app writes it: the page URL, then the token."""
    state = {
        "sentence_set": "Word senses: bank",
        "model_id": "sentence-transformers/all-MiniLM-L6-v2",
        "layer": 6,
        "projection": "pca_aligned",
        "followed": ["bank", "river", "money"],
        **extra,
    }
    return f"{BASE}?view={encode_view(state)}"


def link_of_length(n: int) -> str:
    stem = f"{BASE}?view=1.0123abcd."
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return stem + "".join(alphabet[(i * 7) % 64] for i in range(n - len(stem)))


@pytest.mark.parametrize("length", [60, 350, 410, 460, qr.MAX_BYTES])
@pytest.mark.parametrize("target", [qr.SMALL_PX, qr.LARGE_PX])
def test_the_code_holds_exactly_the_link(length: int, target: int) -> None:
    link = link_of_length(length) if length != 60 else f"{BASE}?view=1.0123abcd.eNpVjlFO"
    png, side, code = qr.link_png(link, target)
    got = read_qr_png(png)
    assert got["text"] == link
    assert got["version"] == code.version and got["modules"] == code.modules
    assert got["level"] == code.error.upper()
    assert got["border"] == qr.BORDER
    assert side == Image.open(io.BytesIO(png)).size[0] <= target


def test_a_real_link_encodes_the_token_unchanged() -> None:
    link = journey_link(sentences="The bank by the river.\nShe paid the bank.\nA bank of clouds.")
    png, _, _ = qr.link_png(link, qr.LARGE_PX)
    assert read_qr_png(png)["text"] == link


def test_todays_links_give_large_modules() -> None:
    """Links of 350-410 characters (the token alone) fit version 13 (69 × 69 modules) at level L; with a
    deployed page URL in front, version 15 at most. The presenter image gives each module ≥ 8 px."""
    for length in (350, 380, 410):
        code = qr.link_qr(link_of_length(length))
        assert code.version <= 13 and code.modules <= 69
        assert code.error in {"L", "M"}
    code = qr.link_qr(link_of_length(460))
    assert code.version <= 15 and code.modules <= 77
    assert code.scale_for(qr.LARGE_PX) >= 8
    assert code.scale_for(qr.SMALL_PX) >= 3


def test_the_largest_code_allowed_still_has_room_per_module() -> None:
    code = qr.link_qr(link_of_length(qr.MAX_BYTES))
    assert code.version == qr.MAX_VERSION
    assert code.modules == 17 + 4 * qr.MAX_VERSION
    assert code.scale_for(qr.LARGE_PX) >= 7


@pytest.mark.parametrize("length", [qr.MAX_BYTES + 1, 1_000, 2_954, 16_000])
def test_an_over_long_link_gets_a_sentence(length: int) -> None:
    with pytest.raises(qr.LinkTooLongForQR, match="too long"):
        qr.link_qr(link_of_length(length))
    with pytest.raises(qr.LinkTooLongForQR):
        qr.link_png(link_of_length(length), qr.SMALL_PX)


def _qr_under(link: str) -> None:
    from explorer.ui import share_menu

    share_menu.link_qr_code(link)


def test_the_popover_says_so_when_the_link_is_too_long_for_a_code() -> None:
    at = AppTest.from_function(_qr_under, args=(link_of_length(qr.MAX_BYTES + 500),)).run()
    assert not at.exception
    assert not at.get("image")
    assert any("too long" in c.value for c in at.caption)


def test_fits_agrees_with_the_code_builder() -> None:
    for length in (300, qr.MAX_BYTES, qr.MAX_BYTES + 1):
        link = link_of_length(length)
        if qr.fits(link):
            assert qr.link_qr(link).version <= qr.MAX_VERSION
        else:
            with pytest.raises(qr.LinkTooLongForQR):
                qr.link_qr(link)


def blocks(node):
    """Every block under an AppTest node, depth first."""
    for child in getattr(node, "children", {}).values():
        if hasattr(child, "children"):
            yield child
            yield from blocks(child)


def _share_popover(at):
    """The share menu (the page has other popovers: the lessons menu comes before it)."""
    return next(
        block for block in blocks(at.main) if block.type == "popover" and "Share" in block.proto.popover.label
    )


def test_the_share_popover_offers_the_code_after_the_link() -> None:
    at = open_page(JOURNEY)
    assert not at.exception
    kinds = [child.type for child in _share_popover(at).children.values()]
    assert kinds.index("button") == kinds.index("code") + 1
    assert not at.get("image"), "no code is made until asked"
    link = next(c.value for c in at.code if "view=" in c.value)
    menu = _share_popover(at).proto.id
    at.button(key="share_qr_large").click().run()
    assert not at.exception
    # the menu closes (open, it covered the dialog): it is drawn anew, under another key
    assert _share_popover(at).proto.id != menu and not _share_popover(at).proto.popover.open
    [image] = at.get("image")  # in the dialog
    shown = image.proto.imgs[0]
    assert shown.caption == "QR code of this link"
    assert shown.alt  # a text alternative for screen readers
    assert read_qr_png(qr.link_png(link, qr.LARGE_PX)[0])["text"] == link


def test_a_camera_style_reader_agrees_when_installed() -> None:
    """zbar reads the image as a phone would (skipped where pyzbar or libzbar is missing)."""
    pyzbar = pytest.importorskip("pyzbar.pyzbar", exc_type=ImportError)
    link = journey_link()
    for target in (qr.SMALL_PX, qr.LARGE_PX):
        png, _, _ = qr.link_png(link, target)
        [found] = pyzbar.decode(Image.open(io.BytesIO(png)))
        assert found.data.decode() == link


# ---------------------------------------------------------------- an address phones can open
LOCAL = f"http://127.0.0.1:8501/Token_journey?view={encode_view({'layer': 4, 'sentence_set': 'Negation'})}"
TOKEN = LOCAL.split("view=", 1)[1]


def _dialog(link: str) -> None:
    from explorer.ui import share_menu

    share_menu.show_large_qr(link)


@pytest.fixture
def coded(monkeypatch) -> list[str]:
    """Every link the app makes a QR code of, in order (the real builder still makes them)."""
    made: list[str] = []
    real = qr.link_png

    def spy(link: str, target_px: int):
        made.append(link)
        return real(link, target_px)

    monkeypatch.setattr(qr, "link_png", spy)
    return made


def test_a_loopback_link_says_phones_cannot_open_it_and_takes_the_class_address(monkeypatch, coded) -> None:
    monkeypatch.delenv("LSE_PUBLIC_URL", raising=False)
    at = AppTest.from_function(_dialog, args=(LOCAL,)).run()
    assert not at.exception
    [warning] = at.warning
    assert "Phones cannot open this link" in warning.value and "127\\.0\\.0\\.1" in warning.value
    box = at.text_input(key="public_address")
    assert box.label == "Address for the class" and box.value == ""
    assert at.get("image") and coded[-1] == LOCAL  # the code is still shown, of the link as it is

    box.input("192.168.1.20:8501").run()  # no scheme: said plainly, the code is not rebuilt
    [error] = at.error
    assert "http:// or https://" in error.value.replace("\\", "")
    assert "`http://192.168.1.20:8501`" in error.value  # the example as code, not as a link
    assert coded[-1] == LOCAL

    at.text_input(key="public_address").input("http://192.168.1.20:8501").run()
    assert not at.error and not at.exception and not at.warning
    [info] = at.info  # phones still cannot open the page's own address; the code now uses the class's
    assert "127\\.0\\.0\\.1" in info.value and "`http://192.168.1.20:8501`" in info.value
    rebuilt = f"http://192.168.1.20:8501/Token_journey?view={TOKEN}"
    assert coded[-1] == rebuilt  # the same page and view token, at the class's address
    assert read_qr_png(qr.link_png(rebuilt, qr.LARGE_PX)[0])["text"] == rebuilt
    # typed text never reaches HTML: the dialog's only HTML is its static style
    assert all("192.168" not in html.proto.body for html in at.get("html"))


def test_a_local_name_gets_the_same_message(monkeypatch, coded) -> None:
    monkeypatch.delenv("LSE_PUBLIC_URL", raising=False)
    for host in ("localhost:8501", "[::1]:8501", "0.0.0.0:8501", "teachers-mac.local:8501", "mylaptop:8501"):
        at = AppTest.from_function(_dialog, args=(f"http://{host}/Token_journey?view={TOKEN}",)).run()
        assert "Phones cannot open this link" in at.warning[0].value, host
        assert at.text_input(key="public_address")


def test_a_public_link_shows_the_code_alone(coded) -> None:
    link = journey_link()
    at = AppTest.from_function(_dialog, args=(link,)).run()
    assert not at.exception
    assert not at.warning and not at.text_input
    assert at.get("image") and coded == [link]


def test_the_server_setting_gives_the_class_address(monkeypatch, coded) -> None:
    """LSE_PUBLIC_URL: the page is opened at localhost, so the copy link and the code use the setting."""
    monkeypatch.setenv("LSE_PUBLIC_URL", "http://192.168.1.20:8501")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APPTEST_TIMEOUT)
    at.context = {"url": "http://localhost:8501/Token_journey"}
    at.run()
    at.switch_page(JOURNEY).run()
    assert not at.exception
    link = next(c.value for c in at.code if "view=" in c.value)
    assert link.startswith("http://192.168.1.20:8501/Token_journey?view=")
    at.button(key="share_qr_large").click().run()
    assert not at.exception
    assert at.text_input(key="public_address").value == "http://192.168.1.20:8501"
    assert "localhost" in at.info[0].value and "`http://192.168.1.20:8501`" in at.info[0].value
    assert coded[-1] == link


def test_a_bad_server_setting_is_said_in_the_dialog(monkeypatch, coded) -> None:
    monkeypatch.setenv("LSE_PUBLIC_URL", "http://localhost:8501")
    at = AppTest.from_function(_dialog, args=(LOCAL,)).run()
    assert "Phones cannot open localhost either" in at.error[0].value
    assert coded[-1] == LOCAL
