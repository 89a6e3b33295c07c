"""Every session-state key has one owner (issue 26): a key that more than one module reads is named in
`explorer/ui/keys.py` (or the Fine-tune page's `ui/finetune/keys.py`) and never spelled out elsewhere,
so renaming a key cannot leave a reader behind on another page."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from explorer.ui import keys
from explorer.ui.finetune import keys as finetune_keys

ROOT = Path(__file__).resolve().parent.parent
KEY_MODULES = {ROOT / "explorer/ui/keys.py", ROOT / "explorer/ui/finetune/keys.py"}
# Calls whose first argument is a session key (ui/state.py and st.session_state's own methods).
FIRST_ARG = {"kept", "persisted", "set_value", "set_value_silently", "remember", "remembered_tabs", "get", "pop",
             "setdefault", "current_layer"}  # fmt: skip
# Calls whose second argument is one (a widget helper's key after its label; a link field after its check).
SECOND_ARG = {
    "toggle",
    "choice",
    "number",
    "lazy_expander",
    "LinkField",
    "current_layer",
    "projection_picker",
}


def _literal(node: ast.AST | None) -> str | None:
    """A string constant, or an f-string's fixed start written as 'start{}' (a family of keys)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return f"{node.values[0].value}{{}}"
    return None


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_session_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def key_literals(source: str) -> set[str]:
    """The string literals `source` uses as session-state or widget keys."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _is_session_state(node.value):
            found.add(_literal(node.slice))
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        on_state = isinstance(node.func, ast.Attribute) and _is_session_state(node.func.value)
        if node.args and (name in FIRST_ARG - {"get", "pop", "setdefault"} or on_state):
            found.add(_literal(node.args[0]))
        if len(node.args) > 1 and name in SECOND_ARG:
            found.add(_literal(node.args[1]))
        for keyword in node.keywords:
            if keyword.arg == "key":
                found.add(_literal(keyword.value))
            callback = {k.arg for k in node.keywords} & {"on_change", "on_click"}
            if (
                keyword.arg == "args"
                and callback
                and isinstance(keyword.value, ast.Tuple)
                and keyword.value.elts
            ):
                found.add(_literal(keyword.value.elts[0]))
    return found - {None}


def _app_modules() -> list[Path]:
    return [
        ROOT / "app.py",
        *sorted((ROOT / "pages").glob("*.py")),
        *sorted((ROOT / "explorer").rglob("*.py")),
    ]


def test_the_scan_finds_keys_in_every_position_it_knows() -> None:
    source = """
st.session_state["a"]; st.session_state.get("b"); kept("c", 1); widgets.toggle("Label", "d", True)
st.text_input("x", key="e", on_change=remember, args=("e",)); LinkField(share.is_bool, "f"); kept(f"g_{x}")
st.session_state.pop("h"); {"not_a_key": 1}.get("i")
"""
    assert key_literals(source) == {"a", "b", "c", "d", "e", "f", "g_{}", "h"}


def test_a_key_literal_belongs_to_one_module() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for path in _app_modules():
        if path not in KEY_MODULES:
            for key in key_literals(path.read_text(encoding="utf-8")):
                owners[key].add(str(path.relative_to(ROOT)))
    shared = {key: sorted(modules) for key, modules in owners.items() if len(modules) > 1}
    assert not shared, f"name these keys in explorer/ui/keys.py: {shared}"


def test_named_keys_are_never_spelled_out_elsewhere() -> None:
    named = {
        value
        for module in (keys, finetune_keys)
        for value in vars(module).values()
        if isinstance(value, str) and not value.startswith("_") and value.islower()
    }
    named |= {keys.sense_text("") + "{}"}
    assert {"sentences", "follow", "ft_rows", "sense_text_{}"} <= named  # the scan below reads real names
    spelled = {
        str(path.relative_to(ROOT)): sorted(key_literals(path.read_text(encoding="utf-8")) & named)
        for path in _app_modules()
        if path not in KEY_MODULES
    }
    assert not {path: found for path, found in spelled.items() if found}
