"""The share menu on every page: a link that reproduces this view and the export bundle beside it, the
link as a QR code large enough for a room, and the address the class should use when the page's own
address is one phones cannot open (127.0.0.1, localhost, ...). Receiving a link is `links`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from explorer import qr, share
from explorer.export import with_manifest_fields
from explorer.inputs import escape_markdown
from explorer.share import MAX_TOKEN_CHARS, QUERY_KEY, encode_view
from explorer.ui import exports
from explorer.ui.state import kept, persisted, remembered

# The share menu's key ends in the number of times its QR button closed it: a new key is a new menu,
# drawn closed. (A menu that tracks its open state, closed through st.session_state, stayed open over the
# dialog when the QR button was pressed while the rerun from opening the menu was still running.)
SHARE_MENU_CLOSINGS = "_share_menu_closings"
PUBLIC_ADDRESS = "public_address"  # the QR dialog's box: the address the class should use (kept per user)


def share_link(state: dict[str, Any]) -> str:
    """The full URL of this page, at the address this browser uses, with the view encoded in it."""
    token = encode_view(state)
    try:
        parts = urlsplit(str(st.context.url or ""))
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    except (AttributeError, ValueError):
        base = ""
    return f"{base}?{QUERY_KEY}={token}"


def class_address() -> str:
    """The address the class should use, as this user last typed it in the QR dialog (default: the
    server's LSE_PUBLIC_URL setting, else empty). Not yet checked: see `share.public_base`."""
    return str(kept(PUBLIC_ADDRESS, os.environ.get(share.PUBLIC_URL_ENV, "").strip()) or "")


def for_the_class(link: str) -> str:
    """`link` at the address the class should use, when its own host is one phones cannot open (127.0.0.1,
    localhost, ...) and a valid public address is known; else `link` unchanged."""
    if not share.is_local_host(share.link_host(link)) or not class_address().strip():
        return link
    try:
        return share.rebase_link(link, share.public_base(class_address()))
    except share.PublicAddressError:
        return link


def share_and_export(
    state: dict[str, Any],
    bundle: Callable[[], bytes] | exports.Exports,
    file_name: str,
    note: str | None = None,
    label: str | None = None,
) -> None:
    """One popover: a link that reproduces this view, and a ZIP with data, chart and manifest (its
    manifest names the link); `note` says what the link leaves out; `label` a shorter name for a crowded
    row of controls. A page may pass `exports.Exports` instead of the bundle: with a chart that carries
    every layer the menu also offers the offline interactive chart, and with a sweep the animated one."""
    made = bundle if isinstance(bundle, exports.Exports) else exports.Exports(bundle)
    # Left open, the menu covered the top half of the QR dialog on a 1280 x 720 projector: the QR button
    # closes it (see SHARE_MENU_CLOSINGS).
    with st.popover(
        label or "🔗 Share or export", width="stretch" if label else "content", key=share_menu_key()
    ):
        link = share_link(state)
        if note:
            st.caption(note)
        if len(link) > MAX_TOKEN_CHARS:
            st.warning("These sentences are too long to fit in a link: share the export bundle instead.")
        else:
            st.markdown("**Copy link**: opening it shows this exact view.")
            st.code(for_the_class(link), language=None, wrap_lines=True)
            link_qr_code(link)
        shared = link if len(link) <= MAX_TOKEN_CHARS else ""
        st.download_button(
            "📦 Download export bundle (ZIP)",
            data=lambda: with_manifest_fields(made.bundle(), {"share_link": shared}),
            file_name=file_name,
            mime="application/zip",
            key="export_bundle",
            on_click="ignore",
            help="Coordinates (CSV), vectors with the token table (NPZ), the chart as HTML, PNG and SVG, "
            "and a manifest (model, weight fingerprint, versions, settings).",
        )
        if made.layer_chart is not None:
            exports.offline_download(made.layer_chart, shared)
        if made.sweep is not None:
            exports.sweep_button(made.sweep, shared, _close_share_menu)
        if made.lesson_pack is not None:
            exports.pack_button(made.lesson_pack, shared, _close_share_menu)
        elif made.pack_needs:
            exports.pack_waiting(made.pack_needs)


QR_CAPTION = "QR code of this link"
QR_ALT = "QR code of this view's share link: scanning it with a phone camera opens this view."
# Static CSS only (no user text ever goes here): the code and its caption fit the screen's height under
# the dialog's title (15rem: the dialog's margins, title, padding and the caption; at 1280 x 720 in
# classroom mode a 435 px code). Whole pixels a module are kept where the screen allows; scaled down,
# the modules stay sharp-edged.
_QR_CSS = """
<style>
.st-key-large_qr img {
  width: auto !important; height: auto !important; max-width: 100%;
  max-height: calc(100dvh - 15rem); image-rendering: pixelated;
}
</style>
"""


def share_menu_key() -> str:
    """The share menu's key in this run (a new one after each click on its QR button)."""
    return f"share_menu_{st.session_state.get(SHARE_MENU_CLOSINGS, 0)}"


def _close_share_menu() -> None:
    st.session_state[SHARE_MENU_CLOSINGS] = st.session_state.get(SHARE_MENU_CLOSINGS, 0) + 1


def link_qr_code(link: str) -> None:
    """A button under the link that shows it as a QR code, large enough to scan from the back of a room.

    Made on the click, not on every run: the link changes with every layer move, and a code takes about
    170 ms to make. A link too long to scan across a room gets a sentence instead of the button. The
    click closes the share menu, so the dialog opens uncovered."""
    shown = for_the_class(link)
    if not qr.fits(shown):
        st.caption(qr.too_long_message(shown))
        return
    if st.button(
        "🔳 Show a QR code of this link",
        key="share_qr_large",
        help="For a room: scanning it with a phone camera opens this view.",
        width="stretch",
        on_click=_close_share_menu,
    ):
        show_large_qr(link)


# Closing it reruns the page, so that the share menu's copy link follows an address typed in it (a change
# in the dialog reruns the dialog alone).
@st.dialog("Scan to open this view", width="large", on_dismiss="rerun")
def show_large_qr(link: str) -> None:
    """The link's QR code as large as the screen allows, for a projector. A link to an address phones
    cannot open (127.0.0.1, localhost, ...) says so beside the code and takes the address the class should
    use; the code then opens the same view there."""
    st.html(_QR_CSS)
    host = share.link_host(link)
    if share.is_local_host(host):
        words, place = st.columns([2, 3], gap="medium")
        with words:
            link = _class_address_box(link, host)
    else:
        place = st.container()
    with place.container(key="large_qr"):
        try:
            png, _, _ = qr.link_png(link, qr.LARGE_PX)
        except qr.LinkTooLongForQR as exc:
            st.warning(str(exc), icon="🔳")
            return
        st.image(png, caption=QR_CAPTION, width="content", output_format="PNG", alt=QR_ALT)


def _class_address_box(link: str, host: str) -> str:
    """Say that phones cannot open `link`'s `host`, and take the address the class should use: `link` at
    that address if it is valid, else `link` (with a message saying what to fix)."""
    persisted(PUBLIC_ADDRESS, class_address())
    typed = str(st.session_state[PUBLIC_ADDRESS] or "")  # the box's value, read before it is drawn
    base = problem = None
    if typed.strip():
        try:
            base = share.public_base(typed)
        except share.PublicAddressError as exc:
            problem = str(exc)
    why = (
        f"its address, **{escape_markdown(host)}**, is this computer's own name for itself"
        if host
        else "it carries no address"
    )
    if base is None:
        st.warning(
            f"Phones cannot open this link: {why}. Type the address the class should use (the Network URL "
            "that `streamlit run` printed), and the code opens this same view there.",
            icon="📵",
        )
    else:
        st.info(
            f"Phones cannot open this link as it is ({why}): the code opens this same view at `{base}`.",
            icon="📱",
        )
    st.text_input(
        "Address for the class",
        **remembered(PUBLIC_ADDRESS),
        placeholder=share.PUBLIC_ADDRESS_EXAMPLE,
        help="http:// or https://, this computer's address on the room's network, and the port: the "
        "'Network URL' that `streamlit run` prints. To set it for everyone, start the app with "
        f"{share.PUBLIC_URL_ENV}=http://… in the environment.",
    )
    if problem is not None:
        example = share.PUBLIC_ADDRESS_EXAMPLE  # as code, so that Markdown does not make it a link
        st.error(escape_markdown(problem).replace(escape_markdown(example), f"`{example}`"), icon="✍️")
    return link if base is None else share.rebase_link(link, base)
