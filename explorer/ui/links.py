"""Share links and export bundles for every page, through one path.

Each page declares its link once, as a `LinkSpec`: field → (validator, the widget key it fills). The
validators are built from the same constants the widgets use. Receiving (decode, ask before replacing
what the user typed, fill the widgets) and sending (read the widgets, encode, show the link beside the
export bundle) are written here once; adding a field to a page's link is one line in its spec.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import assets, qr, share
from explorer.budget import return_freed_memory
from explorer.inputs import escape_markdown, parse_sentences
from explorer.models import DEFAULT_MODEL_ID
from explorer.separation import MAX_GROUPED_WORDS, MAX_OCCURRENCES
from explorer.share import MAX_TOKEN_CHARS, QUERY_KEY, ShareLinkError, Validator, decode_view, encode_view
from explorer.states import LayerStates
from explorer.ui import caches, memory
from explorer.ui.state import kept, persisted, remember, set_value

MAX_LINK_TEXT_CHARS = 60_000  # the sentence box's text in a link (100 sentences of 600 characters)
MODEL_BOX = "model_box"  # the sidebar's model box: a link's model_id fills it
SEEN_LINKS = "_share_links_seen"  # tokens already applied in this session
# Heavy work never starts from opening a link. A link's text up to this size runs at once (the largest
# preset is about 900 characters, a few hundred milliseconds); a longer one, or UMAP, waits for a click.
LIGHT_LINK_CHARS = 2_000
# What a link asked for that waits for the visitor's click, per page (page script hash → part → the
# value the link gave it), so that visiting one page never lifts another page's hold.
LINK_GATES = "_link_gates"
# A link follows at most this many tokens on the Token journey: every token the page follows by default
# (4 words × 24 occurrences), so a shared default view opens as it was. Measured on a link following
# 1,500 tokens of 8 short lines: 111 s to open uncapped; 2.5 s following 96, 2.1 s following 24.
MAX_LINK_FOLLOW = MAX_GROUPED_WORDS * MAX_OCCURRENCES


@dataclass(frozen=True)
class LinkField:
    """One field of a page's link: how it is checked, and the persisted widget key it fills.

    key=None: the page applies the field itself (e.g. followed tokens, a labelled table).
    """

    check: Validator
    key: str | None = None


class LinkSpec:
    """A page's share link: its fields, in one place."""

    def __init__(self, fields: dict[str, LinkField]) -> None:
        self.fields = dict(fields)

    @property
    def validators(self) -> dict[str, Validator]:
        return {name: f.check for name, f in self.fields.items()}

    @property
    def widget_keys(self) -> dict[str, str]:
        return {name: f.key for name, f in self.fields.items() if f.key is not None}

    def settings(self) -> dict[str, Any]:
        """The current value of every widget-backed field this user has set (the model box excluded:
        a link names the model in use, not what is typed in the box)."""
        values = {name: kept(key) for name, key in self.widget_keys.items() if key != MODEL_BOX}
        return {name: value for name, value in values.items() if value is not None}

    def state(self, model_id: str, **extra: Any) -> dict[str, Any]:
        """This page's view as a link state: the widget settings, the model, and page-specific fields."""
        unknown = sorted(set(extra) - set(self.fields))
        if unknown:
            raise ValueError(f"Fields not in this page's link: {unknown}. Valid fields: {list(self.fields)}")
        return {**self.settings(), "model_id": model_id, **extra}

    def receive(
        self, user_edited: Callable[[dict[str, Any]], bool], what: str = "the sentences you typed"
    ) -> dict[str, Any] | None:
        """Apply a link's view to the widgets (asking first if it replaces typing); the state applied."""
        state = incoming_view(self.validators, user_edited, what)
        if state is not None:
            state = bounded(state)
            apply_view(state, self.widget_keys)
            hold_heavy_work(state)
        return state


def sentence_fields() -> dict[str, LinkField]:
    """The fields every page built on the shared sentence box carries: the text, the set, the model."""
    return {
        "sentences": LinkField(share.is_text(MAX_LINK_TEXT_CHARS), "sentences"),
        "sentence_set": LinkField(share.is_one_of(assets.sentence_sets()), "sentence_set"),
        "model_id": LinkField(share.is_model_id, MODEL_BOX),
    }


# ---------------------------------------------------------------- receiving
def incoming_view(
    fields: dict[str, Validator],
    user_edited: Callable[[dict[str, Any]], bool],
    what: str = "the sentences you typed",
) -> dict | None:
    """A shared view from the URL, once per link and session; None if there is none or it was declined.

    A damaged or tampered link gets a notice and changes nothing. A valid link that would replace what
    this user typed asks first.
    """
    token = st.query_params.get(QUERY_KEY)
    if not token:
        return None
    seen: set[str] = st.session_state.setdefault(SEEN_LINKS, set())
    if token in seen:
        return None
    try:
        state = decode_view(token, fields)
    except ShareLinkError as exc:
        seen.add(token)
        st.warning(f"This share link could not be used: {exc} Showing your own view instead.", icon="🔗")
        return None
    if user_edited(state):
        with st.container(border=True):
            st.info(f"This link opens a shared view. Loading it replaces {what}.", icon="🔗")
            load, keep = st.columns(2)
            if load.button("Load the shared view", key="share_load", type="primary"):
                seen.add(token)
                return state
            if keep.button("Keep what I have", key="share_keep"):
                seen.add(token)
        return None
    seen.add(token)
    return state


def bounded(state: dict[str, Any]) -> dict[str, Any]:
    """A link's view cut to what a link may ask for on open: at most MAX_LINK_FOLLOW followed tokens
    (the rest are dropped, and the visitor is told)."""
    follow = state.get("follow")
    if not isinstance(follow, list) or len(follow) <= MAX_LINK_FOLLOW:
        return state
    st.info(
        f"This link follows {len(follow):,} tokens; a link opens following at most {MAX_LINK_FOLLOW}, so "
        f"the first {MAX_LINK_FOLLOW} are followed. Pick others under Follow tokens.",
        icon="🔗",
    )
    return {**state, "follow": follow[:MAX_LINK_FOLLOW]}


def _gate() -> dict[str, Any]:
    """This page's held parts in this session: part → the value the link gave it."""
    ctx = get_script_run_ctx()
    page = ctx.page_script_hash if ctx is not None else ""
    return st.session_state.setdefault(LINK_GATES, {}).setdefault(page, {})


def hold(part: str, value: Any) -> None:
    """Hold a link's heavy `part` (e.g. 'text', 'umap', a table, contexts) on this page until a click."""
    _gate()[part] = value


def holding(part: str, value: Any) -> bool:
    """Whether this page still holds `part` at `value`. Another value means the visitor changed the
    setting: that is their own act, and lifts the hold."""
    gate = _gate()
    if part not in gate:
        return False
    if gate[part] != value:
        del gate[part]
        return False
    return True


def lift(*parts: str) -> None:
    """The visitor asked: these parts no longer wait."""
    gate = _gate()
    for part in parts:
        gate.pop(part, None)


def hold_heavy_work(state: dict[str, Any]) -> None:
    """After a link's view is applied: if it asks for heavy work (a long text, UMAP), hold that work on
    this page until the visitor clicks (see `wait_for_click`); what an earlier link held here is dropped."""
    _gate().clear()
    text = link_sentences(state) if {"sentences", "sentence_set"} & set(state) else ""
    if len(text) > LIGHT_LINK_CHARS:
        hold("text", text)
    if state.get("projection") == "umap" or state.get("umap") is True:  # Token journey, Geometry lab
        hold("umap", True)


def ask_to_run(what: str, reasons: list[str], key: str = "link_run") -> Any | None:
    """Say what a held shared view would run, with one button. On its click, the notice's placeholder
    (to empty once the work has run: refused for lack of room, the notice stays to click again); else None."""
    slot = st.empty()
    with slot.container(border=True):
        st.info(
            f"This shared view {' and '.join(reasons)}. Nothing heavy starts until you ask: press the button "
            f"to {what}, or change the settings first.",
            icon="🔗",
        )
        clicked = st.button(f"▶ Run the shared view: {what}", type="primary", key=key)
    return slot if clicked else None


def wait_for_click(what: str, umap: bool = False, text: str | None = None) -> None:
    """Stop the page here while a link's heavy work waits for the visitor's click: say what it would run,
    with one button. `text`: what the page runs (default: the sentence box). Editing the text (or
    turning UMAP off) lifts the hold too: that is the visitor's act.

    On the click the model reads the sentence box's sentences under a claim on the server's memory
    ledger (see `claimed_states`); with no room, the page says so and still waits."""
    text = str(kept("sentences", "")) if text is None else text
    reasons = []
    long = holding("text", text)
    if long:
        reasons.append(f"runs the model over {len(text):,} characters of text")
    if holding("umap", bool(umap)):
        reasons.append("fits UMAP (tens of seconds)")
    if not reasons:
        return
    if ask_to_run(what, reasons) is None:
        st.stop()
    if long:
        sentences = parse_sentences(text, with_groups=True).sentences  # as the sentence box reads it
        model_id = str(kept("model_id", DEFAULT_MODEL_ID))
        if sentences and not states_or_warning(model_id, sentences, "running the model over the shared text"):
            st.stop()
    lift("text", "umap")
    st.rerun()


def apply_view(state: dict[str, Any], keys: dict[str, str]) -> None:
    """Put a decoded view into the persisted widget values (field name → widget key)."""
    for field, key in keys.items():
        if field in state:
            set_value(key, state[field])


def link_sentences(state: dict[str, Any]) -> str:
    """The sentences a link stands for: its own text, or else the text of the sentence set it names."""
    if "sentences" in state:
        return state["sentences"]
    return assets.sentence_set(state.get("sentence_set", assets.DEFAULT_SET)).text


def typed_other_sentences(state: dict[str, Any]) -> bool:
    """Whether this user typed sentences that a link's view would replace (neither its nor the default)."""
    typed = kept("sentences")
    default = assets.sentence_set(assets.DEFAULT_SET).text
    return typed is not None and typed not in {link_sentences(state), default}


def receive_sentences_link(spec: LinkSpec) -> dict[str, Any] | None:
    """For pages built on the shared sentence box: apply a link's view, asking first if it would
    replace sentences this user typed. Returns the applied state (None if nothing was applied)."""
    state = incoming_view(spec.validators, typed_other_sentences)
    if state is None:
        return None
    state = bounded({**state, "sentences": link_sentences(state)})
    apply_view(state, spec.widget_keys)
    hold_heavy_work(state)
    return state


# ---------------------------------------------------------------- the work after the click, claimed
STATES_CLAIM = caches.STATES_CLAIM  # the ledger name of a forward pass in progress (nothing is kept under it)
_MB = 2**20
# After a pass larger than this, freed memory is handed back to the system (0.25 s, small next to such
# a pass). Four visitors reading 80 long contexts one after another: RSS rose 1,208 MB without it, 641 with.
TRIM_AFTER_BYTES = 128 * _MB


def _states_ready(model_id: str, texts: tuple[str, ...]) -> bool:
    """Whether these states need no forward pass: shipped with the app, or in the shared states cache."""
    stored = caches._stored()
    if stored is not None and stored.info.model_id == model_id and texts in stored.states:
        return True
    return (model_id, texts) in caches._STATES


def _peak_for(model_id: str, texts: tuple[str, ...]) -> int:
    """The peak memory of a forward pass over these sentences (`caches.states_peak`)."""
    return caches.states_peak(model_id, texts)


def claimed_states(model_id: str, texts: tuple[str, ...], what: str) -> LayerStates:
    """Every layer of these sentences (see `caches.cached_states`). A forward pass first claims its peak
    on the server's memory ledger (waiting for room; `memory.BudgetFull` if there is none); states
    already shipped or cached are returned at once."""
    texts = tuple(texts)
    if _states_ready(model_id, texts):
        return caches.cached_states(model_id, texts)
    need = _peak_for(model_id, texts)
    with memory.room(STATES_CLAIM, need, what):
        try:
            return caches.load_states(model_id, texts)
        finally:
            if need > TRIM_AFTER_BYTES:  # else each session's thread keeps what its pass freed (glibc arenas)
                return_freed_memory()


def states_or_warning(model_id: str, texts: tuple[str, ...], what: str) -> LayerStates | None:
    """`claimed_states`, or None with a warning that says why the server cannot run it now."""
    try:
        return claimed_states(model_id, texts, what)
    except memory.BudgetFull as exc:
        st.warning(f"{exc} Fewer or shorter sentences need less.", icon="⏳")
        return None


# ---------------------------------------------------------------- sending
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
    bundle: Callable[[], bytes],
    file_name: str,
    note: str | None = None,
    label: str | None = None,
) -> None:
    """One popover: a link that reproduces this view, and a ZIP with data, chart and manifest; `note`
    says what the link leaves out; `label` a shorter name for a crowded row of controls."""
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
        st.download_button(
            "📦 Download export bundle (ZIP)",
            data=bundle,
            file_name=file_name,
            mime="application/zip",
            key="export_bundle",
            on_click="ignore",
            help="Coordinates (CSV), vectors with the token table (NPZ), the chart as HTML, PNG and SVG, "
            "and a manifest (model, weight fingerprint, versions, settings).",
        )


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
        key=PUBLIC_ADDRESS,
        on_change=remember,
        args=(PUBLIC_ADDRESS,),
        placeholder=share.PUBLIC_ADDRESS_EXAMPLE,
        help="http:// or https://, this computer's address on the room's network, and the port: the "
        "'Network URL' that `streamlit run` prints. To set it for everyone, start the app with "
        f"{share.PUBLIC_URL_ENV}=http://… in the environment.",
    )
    if problem is not None:
        example = share.PUBLIC_ADDRESS_EXAMPLE  # as code, so that Markdown does not make it a link
        st.error(escape_markdown(problem).replace(escape_markdown(example), f"`{example}`"), icon="✍️")
    return link if base is None else share.rebase_link(link, base)
