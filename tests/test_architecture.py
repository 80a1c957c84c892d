"""The import rules of docs/architecture.md hold for every module of featvslearn."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "featvslearn"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def rules(text: str) -> dict[str, set[str]]:
    """The table of docs/architecture.md: part -> the parts it may import (itself always)."""
    section = text.split("## The parts, and which may import which", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]):
            allowed = {name.strip() for name in cells[2].split(",") if name.strip() not in ("", "—")}
            table[cells[0].strip("`")] = allowed | {cells[0].strip("`")}
    return table


def part_of(module: str, parts: set[str]) -> str:
    """The part of a module named ``featvslearn.x.y``: its folder, or ``core`` for a top-level module."""
    names = module.split(".")
    if module == "featvslearn.__main__":
        return "cli"
    if len(names) == 1 or names[1] not in parts:
        return "core"
    return names[1]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every featvslearn module ``path`` imports, wherever the import stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "featvslearn"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "featvslearn":  # from featvslearn import classical
                found += [(node.lineno, f"featvslearn.{alias.name}") for alias in node.names]
            elif node.module.split(".")[0] == "featvslearn":
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "relative"))
    return found


def violations(package: Path, table: dict[str, set[str]]) -> list[str]:
    parts = set(table) - {"core"}
    broken: list[str] = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        source = part_of(module, parts)
        for line, target in imported_modules(path):
            where = f"{path.relative_to(package.parent)}:{line}"
            if target == "relative":
                broken.append(f"{where}: a relative import; write featvslearn.<part>.<module>")
                continue
            wanted = part_of(target, parts)
            if wanted not in table.get(source, set()):
                broken.append(f"{where}: {source} imports {target} ({wanted}), not allowed by docs/architecture.md")
    return broken


def test_every_folder_of_the_package_is_a_part_of_the_table() -> None:
    table = rules(ARCHITECTURE.read_text(encoding="utf-8"))
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert folders == set(table) - {"core"}


def test_the_table_has_no_cycles() -> None:
    table = rules(ARCHITECTURE.read_text(encoding="utf-8"))
    order = list(table)
    for index, part in enumerate(order):
        assert table[part] <= set(order[: index + 1]), f"{part} may import a part listed below it"


def test_every_import_follows_the_rules() -> None:
    table = rules(ARCHITECTURE.read_text(encoding="utf-8"))
    assert violations(PACKAGE, table) == []


@pytest.mark.parametrize(("module", "line", "part"), [
    ("datasets/extra.py", "from featvslearn.reports import compare", "datasets imports featvslearn.reports"),
    ("classical/extra.py", "def f():\n    from featvslearn.experiments import run", "classical imports"),
    ("measure/extra.py", "from featvslearn import pipelines", "measure imports featvslearn.pipelines"),
    ("errors_extra.py", "import featvslearn.cli", "core imports featvslearn.cli"),
    ("results/extra.py", "from . import kinds", "a relative import"),
])
def test_a_bad_import_is_found(tmp_path: Path, module: str, line: str, part: str) -> None:
    """A copy of the package with one forbidden import added (at the top or inside a function) fails."""
    import shutil

    copy = tmp_path / "featvslearn"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / module).write_text(line + "\n", encoding="utf-8")
    table = rules(ARCHITECTURE.read_text(encoding="utf-8"))
    found = violations(copy, table)
    assert len(found) == 1 and part in found[0], found


LONGEST = 500
"""No module of the package, its benchmarks or examples is longer than this many lines (docs/architecture.md)."""


def test_no_module_is_over_the_line_limit() -> None:
    too_long = [f"{path.relative_to(ROOT)}: {lines} lines"
                for folder in ("featvslearn", "benchmarks", "examples")
                for path in sorted((ROOT / folder).rglob("*.py"))
                if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST]
    assert not too_long, f"split these modules (at most {LONGEST} lines each): {too_long}"
