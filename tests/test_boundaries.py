"""The layered design holds: the core never imports Streamlit; pages never reach for torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "models", "states", "projection", "geometry", "geometry_charts", "charts", "presets", "inputs", "share",
    "export", "index", "sentence", "sentence_charts", "finetune_charts",
]  # fmt: skip


def test_core_modules_do_not_import_streamlit() -> None:
    code = (
        "import sys\n"
        + "".join(f"import explorer.{name}\n" for name in CORE)
        + "bad = sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.'))\n"
        + "print(len(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_only_ui_imports_streamlit() -> None:
    pattern = re.compile(r"^\s*(import streamlit|from streamlit)", re.M)
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "explorer").rglob("*.py")
        if "ui" not in p.relative_to(ROOT / "explorer").parts[:1]
        and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_pages_stay_thin() -> None:
    heavy = re.compile(r"^\s*(import|from) (torch|sklearn|umap|transformers|sentence_transformers)\b", re.M)
    for page in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        text = page.read_text(encoding="utf-8")
        assert not heavy.search(text), f"{page.name} computes: move it into explorer/"
        assert len(text.splitlines()) <= 150, (
            f"{page.name} is long: is there logic that belongs in explorer/?"
        )


def test_no_unsafe_html_anywhere() -> None:
    hits = [
        str(p.relative_to(ROOT))
        for p in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "explorer").rglob("*.py")]
        if re.search(r"unsafe_allow_html\s*=\s*True", p.read_text(encoding="utf-8"))
    ]
    assert hits == []
