"""Import direction between layers (STYLE.md): core <- runtime <- execution <- service <- api."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "interpreter"
# What each layer may import from the project.
ALLOWED = {
    "core": {"core"},
    "runtime": {"core", "runtime"},
    "execution": {"core", "execution"},
    "agent": {"agent"},
    "service": {"core", "runtime", "execution", "service"},
    "api": {"core", "service", "api", "__init__"},
    "cli": {"core", "runtime", "service", "api"},  # an adapter, like api
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "interpreter":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def test_layers_import_only_downwards() -> None:
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        layer = rel.parts[0].removesuffix(".py")
        if layer not in ALLOWED:
            continue
        bad = project_imports(path) - ALLOWED[layer]
        assert not bad, f"{rel} imports {bad}"
        checked += 1
    assert checked > 10


def test_only_api_imports_fastapi() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ("api",):
            continue
        text = path.read_text()
        assert "import fastapi" not in text and "from fastapi" not in text, path
