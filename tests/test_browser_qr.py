"""Browser: the QR code a room can scan, at 1280x720 in classroom mode (a projector). Opened from the Token
journey's share menu, the dialog shows the whole code and its caption on the screen with the menu closed;
the test server is on 127.0.0.1, so the dialog says phones cannot open that and takes the class's address,
and the code it then shows holds the same view at that address."""

from __future__ import annotations

import re

import pytest
from browser import ARTIFACTS, classroom_at_home, require_chromium, rerun, wait_idle, wait_still

pytestmark = pytest.mark.browser

require_chromium()

WIDTH, HEIGHT = 1280, 720
CHARTS = "[data-testid='stVegaLiteChart']"
DIALOG = "[data-testid='stDialog']"
CODE = f"{DIALOG} .st-key-large_qr img"
CLASS_ADDRESS = "http://192.168.1.20:8501"
SHARE = re.compile(r"^🔗 Share")  # "🔗 Share" in the presenter view's row of controls


@pytest.fixture(scope="module")
def teacher():
    """The Token journey at 1280x720 with classroom mode switched on at home, and the server's address."""
    with classroom_at_home(WIDTH, HEIGHT) as (page, url):
        with rerun(page):  # the journey's run
            page.locator(
                "[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text="Token journey"
            ).first.evaluate("a => a.click()")
        page.wait_for_selector(f"{CHARTS} svg, {CHARTS} canvas", timeout=180_000)
        wait_idle(page, 180_000)
        assert page.locator("[data-testid='stException']").count() == 0
        yield page, url


def _copy_link(page) -> str:
    """The link in the share menu, read with the menu open (it stays open)."""
    page.get_by_role("button", name=SHARE).click()
    code = page.locator("[data-testid='stPopoverBody'] [data-testid='stCode'] code")
    code.wait_for(timeout=30_000)
    wait_idle(page)
    return code.inner_text().strip().replace("\n", "")


def _show_code(page) -> None:
    """Press the open menu's QR button and wait for the code."""
    menu = page.locator("[data-testid='stPopoverBody']")
    menu.get_by_role("button", name="🔳 Show a QR code of this link").click()
    page.locator(CODE).wait_for(timeout=30_000)
    wait_idle(page)
    wait_still(page)  # the dialog's entrance


def _shown_code(page) -> str:
    """The text the code in the dialog holds, read back from the very PNG the browser shows."""
    from test_share_qr import read_qr_png

    src = page.locator(CODE).get_attribute("src")
    png = page.evaluate(
        """async (src) => {
            const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
            return Array.from(bytes);
        }""",
        src,
    )
    return read_qr_png(bytes(png))["text"]


def _fully_in_view(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not drawn"
    assert box["x"] >= 0 and box["y"] >= 0, f"{selector} at {box}"
    assert box["x"] + box["width"] <= WIDTH and box["y"] + box["height"] <= HEIGHT, f"{selector} at {box}"
    return box


def _nothing_covers_the_code(page) -> None:
    """No share menu is open, and at the code's corners and centre the topmost element is the code itself
    (or its own image toolbar), not a menu or anything else."""
    assert page.locator("[data-testid='stPopoverBody']:visible").count() == 0, "the share menu is still open"
    hits = page.locator(CODE).evaluate(
        """(img) => {
            const r = img.getBoundingClientRect(), own = img.closest('.st-key-large_qr');
            const at = [[r.left + 4, r.top + 4], [r.right - 4, r.top + 4], [r.left + 4, r.bottom - 4],
                        [r.right - 4, r.bottom - 4], [(r.left + r.right) / 2, (r.top + r.bottom) / 2]];
            return at.map(([x, y]) => {
                const top = document.elementFromPoint(x, y);
                return top === img || own.contains(top) ? 'code' : top.outerHTML.slice(0, 120);
            });
        }"""
    )
    assert hits == ["code"] * 5, hits


def test_the_qr_dialog_fits_a_projector_and_asks_for_the_class_address(teacher) -> None:
    page, url = teacher
    link = _copy_link(page)
    assert link.startswith(f"{url}/Token_journey?view=")
    _show_code(page)
    page.mouse.move(2, HEIGHT - 2)  # the pointer off the code (it would show the image's toolbar)

    dialog = page.locator(DIALOG)
    warning = dialog.get_by_text("Phones cannot open this link", exact=False)
    assert warning.is_visible() and "127.0.0.1" in warning.inner_text()
    code = _fully_in_view(page, CODE)
    _fully_in_view(page, f"{DIALOG} [data-testid='stImageCaption']")
    _fully_in_view(page, f"{DIALOG} [data-testid='stTextInput'] input")
    assert code["width"] >= 400, f"the code is large enough to scan across a room: {code}"
    _nothing_covers_the_code(page)
    assert _shown_code(page) == link
    page.screenshot(path=str(ARTIFACTS / "qr_dialog_1280x720.png"))

    before = page.locator(CODE).get_attribute("src")
    box = dialog.locator("[data-testid='stTextInput'] input")
    box.fill(CLASS_ADDRESS)
    box.press("Enter")
    dialog.get_by_text("the code opens this same view at", exact=False).wait_for(timeout=30_000)
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel)?.getAttribute('src') !== before",
        arg=[CODE, before],
        timeout=30_000,
    )
    wait_idle(page)
    page.mouse.move(2, HEIGHT - 2)
    public = link.replace(url, CLASS_ADDRESS, 1)
    assert _shown_code(page) == public  # the same page and view token, at the class's address
    _fully_in_view(page, CODE)
    _fully_in_view(page, f"{DIALOG} [data-testid='stImageCaption']")
    _nothing_covers_the_code(page)
    page.screenshot(path=str(ARTIFACTS / "qr_dialog_class_address_1280x720.png"))

    page.keyboard.press("Escape")  # close the dialog: the copy link now uses the class's address too
    dialog.wait_for(state="hidden", timeout=10_000)
    wait_idle(page)
    assert _copy_link(page) == public
    _show_code(page)  # again, and the address is kept
    page.mouse.move(2, HEIGHT - 2)
    _nothing_covers_the_code(page)
    assert _shown_code(page) == public
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=10_000)
    assert page.locator("[data-testid='stException']").count() == 0


def test_the_menu_closes_when_the_code_is_asked_for_at_once(teacher) -> None:
    """Pressing the QR button the moment the menu opens closes the menu too, every time."""
    page, _ = teacher
    for _ in range(3):
        page.get_by_role("button", name=SHARE).click()
        _show_code(page)
        page.mouse.move(2, HEIGHT - 2)
        _nothing_covers_the_code(page)
        _fully_in_view(page, CODE)
        page.keyboard.press("Escape")
        page.locator(DIALOG).wait_for(state="hidden", timeout=10_000)
