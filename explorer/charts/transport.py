"""A built chart in the form Streamlit sends it: the Vega-Lite spec, with each table as Arrow bytes.

Streamlit passes Arrow bytes found in a spec's `datasets` to the browser as they are. Altair's own
`to_dict` first turns every DataFrame into a list of row dicts (then Streamlit turns those back into a
table, then into Arrow), which for the journey's few thousand rows cost more than building the chart.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import pyarrow as pa

_PARTS = ("layer", "hconcat", "vconcat", "concat")


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    """The table as an Arrow IPC stream (the index kept as pandas metadata, as Streamlit writes it)."""
    table = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _name_tables(chart: alt.TopLevelMixin | alt.SchemaBase, datasets: dict[str, bytes], seen: dict) -> None:
    data = getattr(chart, "data", alt.Undefined)
    if isinstance(data, pd.DataFrame):
        name = seen.setdefault(id(data), f"table_{len(seen)}")
        if name not in datasets:  # a table several layers draw from is sent once
            datasets[name] = arrow_bytes(data)
        chart.data = alt.NamedData(name=name)
    for part in _PARTS:
        subs = getattr(chart, part, alt.Undefined)
        for sub in () if subs is alt.Undefined else subs:
            _name_tables(sub, datasets, seen)


def spec_and_tables(
    chart: alt.TopLevelMixin, names: dict[str, pd.DataFrame] | None = None
) -> tuple[dict, dict[str, bytes]]:
    """(the spec without data, {dataset name: Arrow bytes}); the spec names the datasets it draws.

    `names` names the tables (name → the DataFrame the chart was built with); others are named by where
    they first appear (table_0, table_1, …). A table several layers draw from (the journey's points feed
    three) is converted and sent once.

    The chart must be one this call may change (freshly built): its DataFrames are swapped for names.
    The spec is not checked against the Vega-Lite schema (the tests check every builder's output)."""
    datasets: dict[str, bytes] = {}
    seen = {id(frame): name for name, frame in (names or {}).items()}
    _name_tables(chart, datasets, seen)
    return chart.to_dict(validate=False), datasets


def as_sent(chart: alt.TopLevelMixin) -> dict:
    """The spec with its tables in `datasets`, for `st.vega_lite_chart` (which, unlike `st.altair_chart`,
    does not check the spec against the Vega-Lite schema on every run)."""
    spec, tables = spec_and_tables(chart)
    return {**spec, "datasets": tables}
