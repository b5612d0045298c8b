"""The SDK's public surface and the parity of its sync/async twins."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_type_hints

import pytest

import interpreter_sdk
from interpreter_sdk import (
    AsyncCommandHandle,
    AsyncCommands,
    AsyncFiles,
    AsyncPty,
    AsyncSandbox,
    AsyncWatchHandle,
    CommandHandle,
    Commands,
    Files,
    Pty,
    Sandbox,
    WatchHandle,
    tools,
)

TWINS = [
    (interpreter_sdk.AgentRuntimeClient, interpreter_sdk.AsyncAgentRuntimeClient),
    (Sandbox, AsyncSandbox),
    (Files, AsyncFiles),
    (Commands, AsyncCommands),
    (CommandHandle, AsyncCommandHandle),
    (Pty, AsyncPty),
    (WatchHandle, AsyncWatchHandle),
]

SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"


def test_all_is_the_sorted_public_names() -> None:
    public = sorted(n for n in dir(interpreter_sdk) if not n.startswith("_"))
    assert interpreter_sdk.__all__ == public


def _methods(cls: type) -> dict[str, object]:
    return {n: m for n, m in vars(cls).items() if callable(m) or isinstance(m, classmethod)}


@pytest.mark.parametrize("sync_cls, async_cls", TWINS)
def test_every_twin_method_has_the_same_signature(sync_cls: type, async_cls: type) -> None:
    sync = _methods(sync_cls)
    asyn = _methods(async_cls)
    renamed = {"__enter__": "__aenter__", "__exit__": "__aexit__"}
    assert {renamed.get(n, n) for n in sync} == set(asyn)
    for name, method in sync.items():
        twin = asyn[renamed.get(name, name)]
        fn = method.__func__ if isinstance(method, classmethod) else method
        afn = twin.__func__ if isinstance(twin, classmethod) else twin
        sig, asig = inspect.signature(fn), inspect.signature(afn)
        assert list(sig.parameters) == list(asig.parameters), name
        if name.startswith("__") and name not in renamed:
            continue
        is_async = inspect.iscoroutinefunction(afn) or inspect.isasyncgenfunction(afn)
        assert is_async, f"{async_cls.__name__}.{name} must be async"
        assert not inspect.iscoroutinefunction(fn), f"{sync_cls.__name__}.{name} must not be async"


def test_sync_twin_is_generated_from_the_async_one() -> None:
    result = subprocess.run(
        [sys.executable, str(SDK / "unasync.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_server_error_type_has_its_sdk_class() -> None:
    """What the server sends as ``error.type`` (or a fault's type) maps to an exported class
    under ``SandboxError``; a killed sandbox is not a ``ServerError``."""
    import interpreter.api.app  # noqa: F401 - loads every module that subclasses the tree
    import interpreter.runtime.nsjail  # noqa: F401 - and the runtime (loaded by name at start)
    from interpreter.core import errors as server
    from interpreter_sdk import _errors

    def tree(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    names = {cls.__name__ for cls in tree(server.InterpreterError)} | {"ValidationError"}
    assert names == set(_errors.SERVER_TYPES)
    for cls in _errors.SERVER_TYPES.values():
        assert issubclass(cls, interpreter_sdk.SandboxError)
        assert getattr(interpreter_sdk, cls.__name__) is cls
    gone = _errors.error_from_fault({"type": "SandboxGoneError", "message": "killed"})
    assert isinstance(gone, interpreter_sdk.SandboxGoneError)
    assert isinstance(gone, interpreter_sdk.NotFoundError)
    assert not isinstance(gone, interpreter_sdk.ServerError)
    conflict = _errors.error_from_response(409, {"error": {"type": "X", "message": "m"}})
    assert isinstance(conflict, interpreter_sdk.ConflictError)


# The JS/TS SDK (sdk/js) against this one: the same operations, after the name mapping
# (snake_case → camelCase; a Python keyword argument is a property of the JS call's options
# object, `opts`). A public module of this SDK (`tools`) is a namespace export there
# (`export * as tools`), its members named `tools.X` in the JS surface. The JS surface is read
# from its type declarations and its built module by sdk/js/scripts/surface.mjs.

JS = SDK.parent / "js"
NODE = Path(sys.executable).parent / "node"

# Differences on purpose, each with its reason. Keys: (class, member) or an export's name.
RENAMED = {"__str__": "toString"}  # the text of an OutputMessage
PYTHON_ONLY_EXPORTS = {
    # The JS SDK is async only: its Sandbox, Files, ... are the twins of both of these.
    *(n for n in interpreter_sdk.__all__ if n.startswith("Async")),
    # An agent's server, run inside its sandbox by the template's Python (standard library only).
    "agent_runtime",
}
# The public modules, namespace exports in JS.
NAMESPACES = {"tools": tools}
# The JS SDK is async only: its tools.handle, tools.runCode, tools.fit are the twins of both.
PYTHON_ONLY_NAMESPACE_MEMBERS = {f"tools.{n}" for n in tools.__all__ if n.endswith("_async")}
JS_ONLY_NAMESPACE_MEMBERS = {
    "tools.AnthropicToolResult": "the type of ToolOutput.anthropic()'s block (Python: a dict)",
    "tools.OpenAIMessage": "the type of ToolOutput.openai()'s messages (Python: dicts)",
}
JS_ONLY_EXPORTS = {
    "DEFAULT_RUN_TIMEOUT": "runCode's default timeout (Python: run_code's default argument)",
    "Metrics": "what getMetrics returns (the Python SDK has no call for the metrics yet)",
    "Handler": "type of runCode's callbacks (Python: OutputHandler, ... in _base)",
    "OnData": "type of a command's output callbacks (Python: OnData in _commands_async)",
    "Upload": "what files.write takes (Python: Upload in _base)",
    "User": "'user' | 'root' (Python: the User Literal in _files_async)",
    "WriteEntry": "writeFiles takes {path, data} objects (Python: (path, data) tuples)",
    "AgentInvocation": "what invokeAgentRuntime returns (Python: a dict of AgentCore's keys)",
    # ...Opts: the types of the options objects, Python's keyword arguments.
}
PYTHON_ONLY_MEMBERS = {
    ("BuildInfo", "of"): "constructors from the wire; JS parses in private functions",
    ("TemplateInfo", "of"): "the same",
    ("AgentInfo", "of"): "the same",
}
JS_ONLY_MEMBERS = {
    ("Sandbox", "getMetrics"): "GET /v1/sandboxes/{id}/metrics: not in the Python SDK yet",
    ("Execution", "toJSON"): "JSON.stringify(execution) includes the `text` getter",
}
JS_ONLY_PARAMETERS = {
    "signal": "every call takes an AbortSignal (Python cancels with its task or thread)",
    "requestTimeout": "ConnectionOpts: seconds an ordinary call may take (Python: the config's)",
}
RENAMED_PARAMETERS = {
    ("tools.checkArguments", "arguments"): "args",  # `arguments` cannot name a JS parameter
}
# Classes whose constructor is public API (the others are made by the SDK: Sandbox.create...).
CONSTRUCTED = {"AgentRuntimeClient", "Templates", "tools.ToolOutput"}


def _camel(name: str) -> str:
    if name in RENAMED:
        return RENAMED[name]
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


@functools.cache
def _js_surface() -> dict[str, Any]:
    if not (JS / "dist" / "index.d.ts").is_file() or not (JS / "node_modules").is_dir():
        pytest.skip("run scripts/setup.sh (builds sdk/js)")
    run = subprocess.run(
        [str(NODE), "scripts/surface.mjs"], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    surface: dict[str, Any] = json.loads(run.stdout)
    return surface


def _python_attributes(cls: type) -> set[str]:
    """A class's public data: dataclass fields, TypedDict keys, properties, and what its own
    __init__ assigns to ``self.<name>``."""
    names: set[str] = set()
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    if isinstance(cls, type) and issubclass(cls, dict):
        names |= set(get_type_hints(cls))
    names |= {n for n, v in vars(cls).items() if isinstance(v, property)}
    init = vars(cls).get("__init__")
    if init is not None and not dataclasses.is_dataclass(cls):
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if (
                        isinstance(item, ast.Attribute)
                        and isinstance(item.value, ast.Name)
                        and item.value.id == "self"
                    ):
                        names.add(item.attr)
    return {n for n in names if not n.startswith("_")}


def _python_methods(cls: type) -> dict[str, list[str]]:
    """Public methods (classmethods too), each with its parameters' names."""
    methods: dict[str, list[str]] = {}
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in RENAMED:
            continue
        if isinstance(member, property) or not (
            callable(member) or isinstance(member, classmethod | staticmethod)
        ):
            continue
        fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
        params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
        methods[name] = params
    return methods


def _public_classes() -> dict[str, type]:
    """The SDK's classes by their JS name: a public module's as `module.Class` (but those that
    are the SDK's own, re-exported: `tools.ToolCallError`)."""
    classes = {
        n: getattr(interpreter_sdk, n)
        for n in interpreter_sdk.__all__
        if n not in PYTHON_ONLY_EXPORTS and isinstance(getattr(interpreter_sdk, n), type)
    }
    for prefix, module in NAMESPACES.items():
        for n in module.__all__:
            member = getattr(module, n)
            if isinstance(member, type) and member not in classes.values():
                classes[f"{prefix}.{n}"] = member
    return classes


def _namespace_members(kind: str) -> dict[str, Any]:
    """A public module's members of one kind (`function`, `value`, `reexport`: a class of the
    package's own) by their JS name, `module.camelName`."""
    members: dict[str, Any] = {}
    for prefix, module in NAMESPACES.items():
        for n in module.__all__:
            member = getattr(module, n)
            if f"{prefix}.{n}" in PYTHON_ONLY_NAMESPACE_MEMBERS:
                continue
            if isinstance(member, type):
                found = "reexport" if getattr(interpreter_sdk, n, None) is member else "class"
            else:
                found = "function" if callable(member) else "value"
            if found == kind:
                members[f"{prefix}.{_camel(n)}"] = member
    return members


def test_js_sdk_exports_the_same_names() -> None:
    js = _js_surface()["exports"]
    python = {_camel(n) for n in interpreter_sdk.__all__ if n not in PYTHON_ONLY_EXPORTS}
    js_only = {n for n in js if n not in JS_ONLY_EXPORTS and not n.endswith("Opts")}
    assert python - set(js) == set(), "in the Python SDK only"
    assert js_only - python == set(), "in the JS SDK only (add to the Python SDK or allow-list)"
    for name in JS_ONLY_EXPORTS:
        assert name in js and name not in python, f"stale allow-list entry {name}"
    for name in NAMESPACES:
        assert js[name] == "namespace", f"{name}: not a namespace export (export * as {name})"


@pytest.mark.parametrize("prefix", sorted(NAMESPACES))
def test_js_sdk_namespace_exports_the_same_names(prefix: str) -> None:
    """A public module's names, camelCased, are its namespace's in JS (`tools.openaiTool`)."""
    js = {f"{prefix}.{n}" for n in _js_surface()["namespaces"][prefix]}
    module = NAMESPACES[prefix]
    python = {
        f"{prefix}.{_camel(n)}"
        for n in module.__all__
        if f"{prefix}.{n}" not in PYTHON_ONLY_NAMESPACE_MEMBERS
    }
    js_only = {n for n in js if n not in JS_ONLY_NAMESPACE_MEMBERS and not n.endswith("Opts")}
    assert python - js == set(), "in the Python SDK only"
    assert js_only - python == set(), "in the JS SDK only (add to the Python SDK or allow-list)"
    for name in JS_ONLY_NAMESPACE_MEMBERS:
        if name.startswith(f"{prefix}."):
            assert name in js and name not in python, f"stale allow-list entry {name}"
    for name in PYTHON_ONLY_NAMESPACE_MEMBERS:
        if name.startswith(f"{prefix}."):
            assert hasattr(module, name.partition(".")[2]), f"stale allow-list entry {name}"


def test_js_sdk_functions_have_the_same_parameters() -> None:
    """A public module's functions take the same parameters (positional or in `opts`)."""
    js_functions = _js_surface()["functions"]
    python = _namespace_members("function")
    assert set(python) == set(js_functions), "functions differ"
    for name, function in python.items():
        renamed = {p: RENAMED_PARAMETERS.get((name, _camel(p)), _camel(p)) for p in
                   inspect.signature(function).parameters}  # fmt: skip
        js = js_functions[name]
        js_params = {*js["positional"], *(p for p in js["options"] if p not in JS_ONLY_PARAMETERS)}
        assert set(renamed.values()) == js_params, f"{name}: parameters differ"
    for (function_name, parameter), _renamed in RENAMED_PARAMETERS.items():
        assert parameter in {_camel(p) for p in inspect.signature(python[function_name]).parameters}


def test_js_sdk_constants_have_the_same_values() -> None:
    """A public module's constants (tools.RUN_CODE_PARAMETERS: the schema a model reads) are
    the same JSON."""
    values = _js_surface()["values"]
    python = _namespace_members("value")
    assert python, "no constants found"
    for name, value in python.items():
        assert values.get(name) == json.loads(json.dumps(value)), f"{name} differs"


def test_js_sdk_namespace_reexports_are_the_same_classes() -> None:
    """`tools.ToolCallError` is the SDK's `ToolCallError` in both."""
    runtime = _js_surface()["runtime"]
    python = _namespace_members("reexport")
    assert python, "no re-exports found"
    for name, cls in python.items():
        assert runtime[name].get("same") == cls.__name__, name


@pytest.mark.parametrize("name", sorted(_public_classes()))
def test_js_sdk_class_has_the_same_operations_and_fields(name: str) -> None:
    """Methods with the same parameters (positional or in `opts`), the same public data."""
    surface = _js_surface()
    cls = _public_classes()[name]
    js_class = surface["classes"].get(name)
    js_fields = set(surface["interfaces"].get(name, []))
    js_methods: dict[str, dict[str, list[str]]] = {}
    if js_class is not None:
        js_fields |= set(js_class["properties"])
        js_methods = {**js_class["methods"], **js_class["static"]}
        if name in CONSTRUCTED:
            js_methods["constructor"] = js_class["constructor"]
    methods = _python_methods(cls).items()
    python_methods = {_camel(n): p for n, p in methods if (name, n) not in PYTHON_ONLY_MEMBERS}
    if name in CONSTRUCTED:
        python_methods["constructor"] = list(inspect.signature(cls.__init__).parameters)[1:]
    expected_js = {m for m in js_methods if (name, m) not in JS_ONLY_MEMBERS}
    assert set(python_methods) == expected_js, "methods differ"
    for method, params in python_methods.items():
        js = js_methods[method]
        js_params = {*js["positional"], *(p for p in js["options"] if p not in JS_ONLY_PARAMETERS)}
        assert {_camel(p) for p in params} == js_params, f"{name}.{method}: parameters differ"
    if not issubclass(cls, BaseException) or cls is interpreter_sdk.SandboxError:
        assert {_camel(a) for a in _python_attributes(cls)} == js_fields, "fields differ"
    else:  # an error: its own attributes (the root's status_code is inherited on both sides)
        own = _python_attributes(cls) - _python_attributes(interpreter_sdk.SandboxError)
        assert {_camel(a) for a in own} == js_fields, "fields differ"
    for member, _reason in [*JS_ONLY_MEMBERS.items(), *PYTHON_ONLY_MEMBERS.items()]:
        if member[0] == name:
            assert member[1] in (js_methods if member in JS_ONLY_MEMBERS else vars(cls))


def test_js_sdk_classes_exist_at_run_time() -> None:
    """The built module exports every class its declarations name, with their methods."""
    surface = _js_surface()
    for name, declared in surface["classes"].items():
        runtime = surface["runtime"].get(name)
        assert runtime is not None, name
        assert set(declared["methods"]) <= set(runtime["prototype"]), name
        assert set(declared["static"]) <= set(runtime["static"]), name


def test_js_sdk_has_the_same_error_tree_and_table() -> None:
    from interpreter_sdk import _errors

    surface = _js_surface()
    python = {
        n: getattr(interpreter_sdk, n).__bases__[0].__name__
        for n in interpreter_sdk.__all__
        if isinstance(getattr(interpreter_sdk, n), type)
        and issubclass(getattr(interpreter_sdk, n), BaseException)
        and n not in PYTHON_ONLY_EXPORTS
    }
    python["SandboxError"] = "Error"  # Python's Exception
    assert surface["errors"] == python
    assert surface["serverTypes"] == {k: v.__name__ for k, v in _errors.SERVER_TYPES.items()}
