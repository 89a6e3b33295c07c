"""The one adapter to Streamlit: session state (`state`), shared caches (`caches`), shared widgets
(`widgets`), share links (`links`), lessons (`lessons`), and one module per page.

Cached objects (`st.cache_resource`) are shared by every user of the server and are never mutated;
what belongs to one person (their sentences, settings) lives in `st.session_state`.
"""

import altair as alt

# Pages build charts without Altair's checks of every part as it is made (about a sixth of building the
# journey chart); the tests check each chart's whole spec against the Vega-Lite schema instead.
alt.utils.schemapi.disable_debug_mode()
