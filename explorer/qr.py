"""QR codes of share links, sized to be scanned off a projector from the back of a room.

A share link is 350-410 characters (more when it carries typed sentences). Error correction L keeps
the symbol as small as it can be, so each module is as large as it can be on screen: a projected code is
clean and flat, so it needs little redundancy (segno still raises the level when the data fits in the
same version for free). Above `MAX_VERSION` the modules get too small to scan across a room, and the
link is refused with a sentence for the user instead. No Streamlit here: the UI layer draws the PNG.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import lru_cache

import segno

ERROR_LEVEL = "L"
# Version 13 (69 x 69 modules) holds 425 bytes at level L, enough for every link without typed text.
# Version 20 (97 x 97) holds 858 bytes: still 7 px a module in a 720 px image; beyond that, refuse.
MAX_VERSION = 20
MAX_BYTES = 858  # what version 20 holds at level L in byte mode (ISO/IEC 18004, table 7)
BORDER = 4  # quiet zone in modules, as the standard asks
SMALL_PX = 300  # the popover
LARGE_PX = 760  # presenter view: the dialog, or the popover in classroom mode


class LinkTooLongForQR(ValueError):
    """A link that no QR code scannable across a room can hold; the message is meant for the user."""


@dataclass(frozen=True)
class LinkQR:
    """A link's QR code: the symbol, and its size figures."""

    link: str
    code: segno.QRCode

    @property
    def version(self) -> int:
        return int(self.code.version)

    @property
    def error(self) -> str:
        return str(self.code.error)

    @property
    def modules(self) -> int:
        """Modules along one side of the symbol, quiet zone excluded."""
        return int(self.code.symbol_size(scale=1, border=0)[0])

    @property
    def modules_with_border(self) -> int:
        return self.modules + 2 * BORDER

    def scale_for(self, target_px: int) -> int:
        """Whole pixels per module so the image (quiet zone included) comes close to `target_px` wide
        without exceeding it (at least 2 px a module): whole pixels keep every module edge sharp."""
        return max(2, target_px // self.modules_with_border)

    def side_px(self, scale: int) -> int:
        return self.modules_with_border * scale

    def png(self, scale: int) -> bytes:
        """The code as a black-on-white PNG with `scale` pixels a module and the quiet zone."""
        out = io.BytesIO()
        self.code.save(out, kind="png", scale=scale, border=BORDER, dark="#000", light="#fff")
        return out.getvalue()


def fits(link: str) -> bool:
    """Whether a QR code scannable across a room can hold `link` (byte mode, level L, version ≤ 20)."""
    return len(link.encode("utf-8")) <= MAX_BYTES


def too_long_message(link: str) -> str:
    return (
        f"This link is too long ({len(link):,} characters) for a QR code that can be scanned across "
        "a room. Copy the link instead, or share the export bundle."
    )


def link_qr(link: str) -> LinkQR:
    """The QR code of exactly `link` (byte mode), or LinkTooLongForQR if it would not scan across a room."""
    code = None
    if fits(link):  # refuse a long link at once, without building its code
        with contextlib.suppress(segno.DataOverflowError):
            code = segno.make(link, error=ERROR_LEVEL, mode="byte", micro=False, boost_error=True)
    if code is None or int(code.version) > MAX_VERSION:
        raise LinkTooLongForQR(too_long_message(link))
    return LinkQR(link, code)


@lru_cache(maxsize=64)
def link_png(link: str, target_px: int) -> tuple[bytes, int, LinkQR]:
    """The PNG of a link's QR code close to `target_px` wide: (PNG bytes, its width in px, the code)."""
    qr = link_qr(link)
    scale = qr.scale_for(target_px)
    return qr.png(scale), qr.side_px(scale), qr
