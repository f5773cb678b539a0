"""The tree tells the architecture, and the page that draws it stays true: every module is
named in docs/architecture.md, no module is a lettered part, and nothing private crosses a
package line (the layering itself is import-linter's contract in pyproject.toml)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"


def _modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py") if "_shipped" not in p.parts)


def _package(path: Path) -> str:
    rel = path.relative_to(HARNESS)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def test_every_module_is_named_on_the_architecture_page():
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [
        str(p.relative_to(HARNESS))
        for p in _modules()
        if p.name not in ("__init__.py", "__main__.py") and str(p.relative_to(HARNESS)) not in page
    ]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_no_module_is_a_lettered_part():
    lettered = [str(p.relative_to(ROOT)) for p in _modules() if re.search(r"_[a-z]$", p.stem)]
    assert not lettered, f"modules named as parts, not for what they hold: {lettered}"


def _imported_modules(tree: ast.Module, path: Path) -> dict[str, str]:
    """{local name: package} for every harness module a file imports by name."""
    here = path.relative_to(HARNESS).with_suffix("").parts
    pkg_parts = here[:-1] if path.name != "__init__.py" else here[:-1]
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(pkg_parts[: len(pkg_parts) - (node.level - 1)])
            mod = base + (node.module.split(".") if node.module else [])
            for a in node.names:
                target = mod + [a.name]
                if (HARNESS.joinpath(*target).with_suffix(".py")).exists() or (
                    HARNESS.joinpath(*target) / "__init__.py"
                ).exists():
                    out[a.asname or a.name] = target[0] if len(target) > 1 else ""
    return out


def test_nothing_private_crosses_a_package_line():
    crossings = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        mine = _package(path)
        here = path.relative_to(HARNESS).with_suffix("").parts
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(here[:-1][: len(here) - 1 - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                theirs = target[0] if target else ""
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") and theirs != mine:
                        crossings.append(f"{path.relative_to(ROOT)}: imports {a.name}")
        mods = _imported_modules(tree, path)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in mods
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and mods[node.value.id] != mine
            ):
                crossings.append(f"{path.relative_to(ROOT)}: uses {node.value.id}.{node.attr}")
    assert not crossings, "private names used across a package line:\n" + "\n".join(crossings)
