"""The SDK's public surface and the parity of its sync/async twins."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

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
)

TWINS = [
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
