"""Share links for every page, through one path: what a page's link carries, and receiving it.

Each page declares its link once, as a `LinkSpec`: field → (validator, the widget key it fills). The
validators are built from the same constants the widgets use. Receiving (decode, ask before replacing
what the user typed, fill the widgets, hold heavy work until the visitor clicks) is written here once;
adding a field to a page's link is one line in its spec. Sending (read the widgets, encode, show the link
beside the export bundle) is `share_menu`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import assets, share
from explorer.inputs import estimated_pieces, parse_sentences
from explorer.models import DEFAULT_MODEL_ID
from explorer.separation import MAX_GROUPED_WORDS, MAX_OCCURRENCES
from explorer.share import QUERY_KEY, ShareLinkError, Validator, decode_view
from explorer.ui import keys
from explorer.ui.claims import states_or_warning
from explorer.ui.state import kept, set_value

MAX_LINK_TEXT_CHARS = 60_000  # the sentence box's text in a link (100 sentences of 600 characters)
SEEN_LINKS = "_share_links_seen"  # tokens already applied in this session
# Heavy work never starts from opening a link. A link's text up to this size runs at once (the largest
# preset is about 900 characters, a few hundred milliseconds); a longer one, or UMAP, waits for a click.
# Characters alone mislead: 1,999 characters of CJK are 1,999 word pieces (4.4 times English's) and ran
# at once, sending the page 3.9 MB; so the text's word pieces are bounded too (`inputs.estimated_pieces`).
LIGHT_LINK_CHARS = 2_000
LIGHT_LINK_PIECES = 600  # about what 2,000 characters of English make


def _joined(texts: str | Sequence[str]) -> str:
    return texts if isinstance(texts, str) else "\n".join(texts)


def is_light(texts: str | Sequence[str]) -> bool:
    """Whether a link's text (or a table's or contexts' texts) is light enough to run on opening."""
    text = _joined(texts)
    return len(text) <= LIGHT_LINK_CHARS and estimated_pieces(text) <= LIGHT_LINK_PIECES


def size_of(texts: str | Sequence[str]) -> str:
    """How much text a held link would run the model over, for its notice."""
    text = _joined(texts)
    return f"{len(text):,} characters (about {estimated_pieces(text):,} word pieces)"


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
        values = {name: kept(key) for name, key in self.widget_keys.items() if key != keys.MODEL_BOX}
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
        "sentences": LinkField(share.is_text(MAX_LINK_TEXT_CHARS), keys.SENTENCES),
        "sentence_set": LinkField(share.is_one_of(assets.sentence_sets()), keys.SENTENCE_SET),
        "model_id": LinkField(share.is_model_id, keys.MODEL_BOX),
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


_PARKED = "_link_parked"  # a link's values for widgets drawn later: name → value


def park(name: str, value: Any) -> None:
    """Keep a link's value for a widget that is drawn later (whose options exist only once the page has
    computed something, e.g. the tokens of the sentences); that widget takes it once (`take_parked`)."""
    st.session_state.setdefault(_PARKED, {})[name] = value


def take_parked(name: str) -> Any:
    """The value a link parked for widget `name`, once (None when there is none)."""
    return st.session_state.get(_PARKED, {}).pop(name, None)


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
    if not is_light(text):
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


def wait_for_click(
    what: str, umap: bool = False, text: str | None = None, before_stop: Callable[[], None] = lambda: None
) -> None:
    """Stop the page here while a link's heavy work waits for the visitor's click: say what it would run,
    with one button. `text`: what the page runs (default: the sentence box). Editing the text (or
    turning UMAP off) lifts the hold too: that is the visitor's act. `before_stop()` runs once the page
    is held, before it stops or reruns (a page that draws its inputs after its chart draws them then).

    On the click the model reads the sentence box's sentences under a claim on the server's memory
    ledger (see `claims.claimed_states`); with no room, the page says so and still waits."""
    text = str(kept(keys.SENTENCES, "")) if text is None else text
    reasons = []
    long = holding("text", text)
    if long:
        reasons.append(f"runs the model over {size_of(text)} of text")
    if holding("umap", bool(umap)):
        reasons.append("fits UMAP (tens of seconds)")
    if not reasons:
        return
    before_stop()
    if ask_to_run(what, reasons) is None:
        st.stop()
    if long:
        sentences = parse_sentences(text, with_groups=True).sentences  # as the sentence box reads it
        model_id = str(kept(keys.MODEL_ID, DEFAULT_MODEL_ID))
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
    typed = kept(keys.SENTENCES)
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
