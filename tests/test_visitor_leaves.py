"""A visitor whose page is drawn holds nothing heavy: once the states cache lets go of their sentences'
states, those states are freed, while the visitor's tab is still open (and so once they leave too).

Two ways they stayed alive before, each holding up to 265 MB (100 long sentences) that the server's
budget then counted against every other visitor, with nobody at work:
- a page's module globals: Streamlit runs a page as a fresh `__main__` module and leaves it in
  `sys.modules` until anyone's next run, so the last run's `states` outlived it;
- the export's deferred download (`data=lambda: …`), which Streamlit keeps for as long as the tab is
  open: it held the states (Sentence embedding) or a view holding them (Geometry lab).
"""

from __future__ import annotations

import gc
import weakref

import pytest
from conftest import APPTEST_TIMEOUT, ROOT
from streamlit.testing.v1 import AppTest

from explorer.models import DEFAULT_MODEL_ID
from explorer.share import encode_view
from explorer.ui import caches

PAGES = {
    "sentence": ("pages/2_Sentence_embedding.py", {}),
    "geometry": ("pages/4_Geometry_lab.py", {"source": "yours"}),
    "journey": ("pages/1_Token_journey.py", {}),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_an_idle_visitors_states_are_freed_once_the_cache_lets_go(page):
    path, extra = PAGES[page]
    texts = tuple(f"The visitor on the {page} page wrote line {i} about a river bank." for i in range(3))
    at = AppTest.from_file(str(ROOT / path), default_timeout=APPTEST_TIMEOUT)
    at.query_params["view"] = encode_view({"sentences": "\n".join(texts), **extra})
    at.run()
    assert not at.exception, at.exception
    key = (DEFAULT_MODEL_ID, texts)
    states = caches._STATES._alive.get(key)
    assert states is not None, "the page did not compute these sentences' states"
    gone = weakref.ref(states)
    del states

    caches._STATES.shrink(2**40)  # the cache lets go (as when other work needs the room)
    gc.collect()
    # the visitor is still here, idle, their tab open (its deferred downloads kept): the states are not
    assert gone() is None, f"the {page} page's states outlived its run: {gc.get_referrers(gone())!r:.300}"
    assert key not in caches._STATES._alive
    assert at.get("download_button"), "the page offers its downloads (the deferred ones are the test)"
