"""The layered design holds: the core never imports Streamlit; pages never reach for torch."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPLORER = ROOT / "explorer"
# Every module below the Streamlit adapter, found on disk (a new module is covered without editing this).
CORE = sorted(
    ".".join(p.relative_to(EXPLORER).with_suffix("").parts).removesuffix(".__init__")
    for p in EXPLORER.rglob("*.py")
    if p.relative_to(EXPLORER).parts[0] != "ui"
)


def _imported_by(modules: list[str]) -> set[str]:
    """Every module a fresh interpreter has loaded after importing these explorer modules."""
    code = (
        "import sys, json\n"
        + "".join(f"import explorer.{name}\n" for name in modules)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _top_level_imports(path: Path) -> set[str]:
    """Modules a file imports (anywhere in it), as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_core_modules_do_not_import_streamlit() -> None:
    assert len(CORE) >= 20, "the core modules were found"
    loaded = _imported_by(CORE)
    assert sorted(m for m in loaded if m == "streamlit" or m.startswith("streamlit.")) == []


def test_charts_vectors_and_finetune_keep_to_their_rooms() -> None:
    """Charts draw (no torch, no model); the vector maths needs only numpy and scipy; the Fine-tune
    domain never reaches into the pages' adapter."""
    charts = [m for m in CORE if m.startswith("charts")]
    assert "torch" not in _imported_by(charts), "a chart builder imports torch"
    assert "sentence_transformers" not in _imported_by(charts)
    assert not {"torch", "sklearn", "explorer.models"} & _imported_by(["vectors"])
    for path in (EXPLORER / "finetune").rglob("*.py"):
        assert not any(n.startswith(("streamlit", "explorer.ui")) for n in _top_level_imports(path)), (
            path.name
        )


def test_explorer_imports_sit_at_the_top_of_modules() -> None:
    """No `from explorer…` inside a function: there is no import cycle that needs one."""
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *EXPLORER.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    module = getattr(inner, "module", None) or ""
                    if isinstance(inner, ast.ImportFrom) and module.startswith("explorer"):
                        offenders.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert offenders == []


def test_every_reader_of_assets_is_in_explorer_assets() -> None:
    pattern = re.compile(r"""["']assets["']""")
    readers = [
        str(p.relative_to(ROOT))
        for p in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *EXPLORER.rglob("*.py")]
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert readers == ["explorer/assets.py"]


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
