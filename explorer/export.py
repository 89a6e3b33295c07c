"""Export bundles: one ZIP per view with the numbers, the picture and enough to reproduce both."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

BUNDLE_FILES = ("coordinates.csv", "vectors.npz", "chart.html", "chart.png", "chart.svg", "manifest.json")
PACKAGES = ("torch", "transformers", "sentence-transformers", "streamlit", "altair", "numpy", "umap-learn")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def base_manifest(page: str, info: Any, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """What every page's manifest starts with: which model (and exactly which weights), seed, settings.

    `info` is an explorer.models.ModelInfo.
    """
    return {
        "page": page,
        "model_id": info.model_id,
        "model": info.display_name,
        "weights_fingerprint": info.fingerprint,
        "seed": seed,
        "settings": settings,
    }


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The full Vega-Lite spec with data inlined (Altair's 5,000-row guard lifted for export)."""
    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def build_bundle(
    coordinates: pd.DataFrame,
    vectors: dict[str, np.ndarray],
    chart: alt.TopLevelMixin,
    manifest: dict[str, Any],
) -> bytes:
    """A ZIP holding BUNDLE_FILES. `vectors` go into the NPZ as named arrays (token tables as columns)."""
    import vl_convert as vlc

    full_spec = chart_spec(chart)
    spec = json.dumps(full_spec)
    full_manifest = {
        **manifest,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": package_versions(),
        "files": list(BUNDLE_FILES),
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **vectors)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("coordinates.csv", csv_bytes(coordinates, float_format=None))
        bundle.writestr("vectors.npz", npz.getvalue())
        bundle.writestr("chart.html", standalone_html(full_spec))
        bundle.writestr("chart.png", vlc.vegalite_to_png(spec, scale=2))
        bundle.writestr("chart.svg", vlc.vegalite_to_svg(spec))
        bundle.writestr("manifest.json", json.dumps(full_manifest, indent=2, ensure_ascii=False))
    return buffer.getvalue()


def table_arrays(table: pd.DataFrame, prefix: str = "token_") -> dict[str, np.ndarray]:
    """A DataFrame as NPZ-friendly arrays, one per column (text as unicode arrays, no pickles)."""
    arrays = {}
    for column in table.columns:
        values = table[column]
        if values.dtype.kind in "biuf":
            arrays[prefix + column] = values.to_numpy()
        else:
            arrays[prefix + column] = values.astype("string").fillna("").to_numpy(dtype=str)
    return arrays


_LT = "\ue000"  # a private-use character standing in for "<" inside the spec's strings


def standalone_html(spec: dict[str, Any]) -> str:
    """The chart as one HTML file that no text inside the data can break out of.

    vl-convert embeds the spec as a script literal; a sentence containing "</script>" would end that
    script early. Every "<" inside a string travels as a stand-in and is written back as the JavaScript
    escape \\u003c, which the browser reads as "<" again.
    """
    import vl_convert as vlc

    html = vlc.vegalite_to_html(json.dumps(_swap_lt(spec)), bundle=True)
    return html.replace(_LT, "\\u003c")


def _swap_lt(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("<", _LT)
    if isinstance(value, list):
        return [_swap_lt(v) for v in value]
    if isinstance(value, dict):
        return {_swap_lt(k): _swap_lt(v) for k, v in value.items()}
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula


def neutralise_cell(value: Any) -> Any:
    """OWASP's rule against CSV injection: a text cell that starts like a formula gets a leading quote,
    so a spreadsheet shows it as text. Numbers (a negative cosine) are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(
    frame: pd.DataFrame,
    float_format: str | None = "%.6g",
    index: bool = False,
    index_label: str | None = None,
) -> bytes:
    """A table as UTF-8 CSV, every text cell (and header) neutralised against spreadsheet formulas.

    The only CSV writer of the app: typed sentences reach CSV files through exports and downloads.
    Exact text stays available in the NPZ files, which spreadsheets do not open.
    """
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in safe.columns]
    if index:
        safe.index = safe.index.map(neutralise_cell)
    text = safe.to_csv(index=index, index_label=index_label, float_format=float_format)
    return text.encode("utf-8")


def file_stem(text: str) -> str:
    """A safe file name part from what a person typed."""
    return "".join(ch if ch.isalnum() else "_" for ch in text)[:40] or "word"
