"""A built chart in the form Streamlit sends it: the Vega-Lite spec, with each table as Arrow bytes.

Streamlit passes Arrow bytes found in a spec's `datasets` to the browser as they are. Altair's own
`to_dict` first turns every DataFrame into a list of row dicts (then Streamlit turns those back into a
table, then into Arrow), which for the journey's few thousand rows cost more than building the chart.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_PARTS = ("layer", "hconcat", "vconcat", "concat")


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    """The table as an Arrow IPC stream (the index kept as pandas metadata, as Streamlit writes it), each
    column in its narrowest lossless type (`compact`)."""
    table = compact(pa.Table.from_pandas(frame))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


_WHOLE = ((pa.int8(), 127), (pa.int16(), 32_767), (pa.int32(), 2_147_483_647))


def compact(table: pa.Table) -> pa.Table:
    """The same values in fewer bytes: whole numbers in the narrowest integer type that holds them,
    decimals as float32 where every value is one exactly, and text that repeats (a sentence on each of
    its tokens' rows, at every layer) as a dictionary of its distinct values. The browser reads the
    same numbers and words; the journey's points for ten short sentences shrink from 208 to about 60 KB,
    which the browser decodes into JavaScript values cell by cell."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_integer(kind) and len(column) and column.null_count == 0:
            low, high = (v.as_py() for v in pc.min_max(column).values())
            narrow = next((t for t, top in _WHOLE if -top - 1 <= low and high <= top), None)
            column = column if narrow is None else column.cast(narrow)
        elif pa.types.is_float64(kind) and column.null_count == 0:
            single = pc.cast(column, pa.float32(), safe=False)
            if pc.all(pc.equal(pc.cast(single, pa.float64()), column)).as_py():  # (NaN ≠ NaN: kept)
                column = single
        elif (  # text that repeats: each distinct value 4 times or more
            (pa.types.is_string(kind) or pa.types.is_large_string(kind))
            and len(column) >= 32
            and pc.count_distinct(column).as_py() * 4 <= len(column)
        ):
            column = column.dictionary_encode()
        columns.append(column)
    fields = [table.schema.field(i).with_type(c.type) for i, c in enumerate(columns)]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


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
