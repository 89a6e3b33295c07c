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

    spec = json.dumps(chart_spec(chart))
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
        bundle.writestr("coordinates.csv", coordinates.to_csv(index=False))
        bundle.writestr("vectors.npz", npz.getvalue())
        bundle.writestr("chart.html", vlc.vegalite_to_html(spec, bundle=True))
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
