"""Dependencies point one way: carriers/ and audiences/ know nothing of broadcaster or each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "carriers": {"broadcaster", "audiences", "sqlmodel", "sqlalchemy", "fastapi", "typer", "alembic"},
    "audiences": {"broadcaster", "carriers", "sqlmodel", "sqlalchemy", "fastapi", "typer", "alembic"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_import_nothing_from_above(package: str) -> None:
    """No module of carriers/ or audiences/ imports the service, the other package or the frameworks."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert offenders, f"{package}/ has modules"
