"""The stated dependency direction, checked in the code: service -> forecasts <- jobs, and only the
`gapcast` package (the command line, the composition root) wires them together.

Every module's imports are read from its syntax tree (top-level and function-local imports alike,
`import x` and `from x import y`), so a lazy import inside a function is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level packages its modules must never import
FORBIDDEN: dict[str, set[str]] = {
    "service": {"jobs", "gapcast", "apscheduler"},
    "jobs": {"service", "gapcast", "flask", "flask_smorest", "webargs", "werkzeug"},
    "forecasts": {"service", "jobs", "gapcast", "flask", "flask_smorest", "webargs", "werkzeug", "apscheduler"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) for every absolute import in the module at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {top}"
            for path in sorted((ROOT / package).rglob("*.py"))
            for line, top in imported_packages(path) if top in FORBIDDEN[package]]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_across_the_stated_direction(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
    assert violations(package) == []


def test_the_checker_sees_function_local_imports(tmp_path: Path) -> None:
    # The test above would pass vacuously if the walk missed imports: show it finds both kinds.
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from jobs.http import Http\n    import service.cli\n")
    assert imported_packages(module) == [(1, "os"), (4, "jobs"), (5, "service")]


def test_the_command_line_is_where_service_and_jobs_meet() -> None:
    tops = {top for path in (ROOT / "gapcast").rglob("*.py") for _, top in imported_packages(path)}
    assert {"service", "jobs", "forecasts"} <= tops
