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
    "service": {"core", "runtime", "execution", "service"},
    "api": {"core", "service", "api", "mcp", "__init__"},  # api serves mcp at /mcp
    "cli": {"core", "runtime", "service", "api", "mcp", "cli"},  # an adapter, like api
    # The MCP server is a client of the service: it reaches sandboxes through the SDK only.
    "mcp": {"mcp"},
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


def test_service_reaches_the_runtime_only_through_its_interface() -> None:
    for path in (PACKAGE / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module == "interpreter.runtime":  # from interpreter.runtime import x
                    module += "." + node.names[0].name
                if module.startswith("interpreter.runtime"):
                    assert module == "interpreter.runtime.base", f"{path.name} imports {module}"


def module_graph() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports (at any depth of code)."""
    modules = {
        ".".join(("interpreter", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path
        for path in PACKAGE.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                submodules = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= submodules
                if len(submodules) < len(node.names):  # names defined in the module itself
                    found.add(node.module)
        # A package's __init__ runs before its modules: importing it from them is no cycle.
        graph[name] = {m for m in found if not name.startswith(m + ".")} - {name}
    return graph


def test_no_import_cycles() -> None:
    graph = module_graph()
    assert len(graph) > 30
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
