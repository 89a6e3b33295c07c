"""The one adapter to Streamlit: session state (`state`), shared caches (`caches`), shared widgets
(`widgets`), share links (`links`), lessons (`lessons`), and one module per page.

Cached objects (`st.cache_resource`) are shared by every user of the server and are never mutated;
what belongs to one person (their sentences, settings) lives in `st.session_state`.
"""
