"""The tables a chart sends: the browser reads the same values from fewer bytes (`transport.compact`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from explorer.charts.transport import arrow_bytes


def _read(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def test_compact_tables_hold_the_same_values_in_narrower_types() -> None:
    rng = np.random.default_rng(0)
    n = 700
    frame = pd.DataFrame(
        {
            "layer": np.arange(n) % 7,  # int64 in pandas: int8 is enough
            "position": np.arange(n) * 100,  # up to 69,900: int32
            "x": rng.normal(size=n).astype(np.float32).astype(np.float64),  # float32 values held as float64
            "domain": rng.normal(size=n),  # real float64 values: kept
            "with_nan": np.where(np.arange(n) % 5 == 0, np.nan, 1.5),  # NaN: kept as it is
            "sentence": [f"S{i % 10 + 1} · a sentence" for i in range(n)],  # repeats: a dictionary
            "token": [f"token {i}" for i in range(n)],  # every value new: kept as text
        }
    )
    table = _read(arrow_bytes(frame))
    kinds = {field.name: field.type for field in table.schema}
    assert kinds["layer"] == pa.int8() and kinds["position"] == pa.int32()
    assert (
        kinds["x"] == pa.float32() and kinds["domain"] == pa.float64() and kinds["with_nan"] == pa.float64()
    )
    assert pa.types.is_dictionary(kinds["sentence"]) and not pa.types.is_dictionary(kinds["token"])
    back = table.to_pandas()
    for name in frame:
        assert [*map(str, back[name])] == [*map(str, frame[name])], name  # the same values, NaN included
    assert np.array_equal(back["x"].to_numpy(np.float64), frame["x"].to_numpy())
    uncompacted = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, uncompacted.schema) as writer:
        writer.write_table(uncompacted)
    assert len(arrow_bytes(frame)) < 0.6 * len(sink.getvalue().to_pybytes())


def test_whole_numbers_too_wide_for_int32_stay_int64() -> None:
    frame = pd.DataFrame({"big": [0, 2**40], "small": [-128, 127]})
    kinds = {field.name: field.type for field in _read(arrow_bytes(frame)).schema}
    assert kinds["big"] == pa.int64() and kinds["small"] == pa.int8()
