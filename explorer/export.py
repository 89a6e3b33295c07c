"""Export bundles: one ZIP per view with the numbers, the picture and enough to reproduce both."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from explorer.provenance import app_version, model_fields

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
        **model_fields(page, info),
        "seed": seed,
        "settings": settings,
    }


EXPORT_WIDTH = 760  # px: the width of a main chart on a 1280-px screen, for charts that fill their column


def chart_spec(chart: alt.TopLevelMixin, title: str | None = None) -> dict[str, Any]:
    """The full Vega-Lite spec with data inlined (Altair's 5,000-row guard lifted for export), made to
    stand alone: a chart that fills its column on screen gets that column's width (without it, a file
    renderer draws it 300 px wide: a narrow portrait unlike the screen), and `title` goes on top."""
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    composed = any(key in spec for key in ("vconcat", "hconcat", "concat", "facet", "repeat"))
    if not composed and spec.get("width") in (None, "container"):
        spec["width"] = EXPORT_WIDTH
    if title and "title" not in spec:
        spec["title"] = {"text": title, "anchor": "start", "fontSize": 15}
    return spec


def export_title(manifest: dict[str, Any]) -> str:
    """'Page · layer · model' for the top of an exported picture (only the parts the manifest has)."""
    settings = manifest.get("settings") or {}
    parts = [str(manifest.get("page", "")).strip()]
    if manifest.get("layer_name"):
        parts.append(f"layer {manifest['layer_name']}")
    elif isinstance(settings.get("layer"), int):
        parts.append(f"layer {settings['layer']}")
    if manifest.get("model"):
        parts.append(str(manifest["model"]))
    return " · ".join(p for p in parts if p)


def build_bundle(
    coordinates: pd.DataFrame,
    vectors: dict[str, np.ndarray],
    chart: alt.TopLevelMixin,
    manifest: dict[str, Any],
    more_charts: dict[str, alt.TopLevelMixin] | None = None,
) -> bytes:
    """A ZIP holding BUNDLE_FILES, plus `<name>.html/.png/.svg` for each of `more_charts`. `vectors` go
    into the NPZ as named arrays (token tables as columns). Every picture carries the export title."""
    import vl_convert as vlc

    title = export_title(manifest)
    full_spec = chart_spec(chart, title)
    spec = json.dumps(full_spec)
    extra = {name: chart_spec(c, title) for name, c in (more_charts or {}).items()}
    full_manifest = {
        **manifest,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": package_versions(),
        "app_version": app_version(),
        "files": list(BUNDLE_FILES) + [f"{n}.{ext}" for n in extra for ext in ("html", "png", "svg")],
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
        for name, extra_spec in extra.items():
            bundle.writestr(f"{name}.html", standalone_html(extra_spec))
            bundle.writestr(f"{name}.png", vlc.vegalite_to_png(json.dumps(extra_spec), scale=2))
            bundle.writestr(f"{name}.svg", vlc.vegalite_to_svg(json.dumps(extra_spec)))
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


def with_manifest_fields(bundle: bytes, fields: dict[str, Any]) -> bytes:
    """`bundle` (a ZIP from `build_bundle`) with `fields` added to its manifest.json, every other file
    copied as it is: the share menu adds the share link, which the page's bundle builder does not know."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(bundle)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "manifest.json":
                data = json.dumps({**json.loads(data), **fields}, indent=2, ensure_ascii=False).encode(
                    "utf-8"
                )
            target.writestr(item, data)
    return out.getvalue()


@dataclass(frozen=True)
class LayerChartExport:
    """A chart that carries every layer (its Layer slider and Play input, see `charts.layer_slider`) made
    ready for the animated and the offline exports: the Vega-Lite spec with its data inlined and the
    Play input unbound, the layers' names, and the export's provenance (`explorer.provenance`)."""

    spec: dict[str, Any]
    layer_names: tuple[str, ...]
    page: str
    model: str  # the model's display name, for the title line
    provenance: dict[str, Any]
    stem: str  # file names: '<stem>_sweep.gif', '<stem>_offline.html'

    def title(self, layer_label: str) -> str:
        """The title line of a frame: 'page · model · layer …'."""
        return f"{self.page} · {self.model} · {layer_label}"
