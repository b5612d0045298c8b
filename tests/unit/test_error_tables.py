"""The one error tree and its tables: every error class resolves on every wire surface, the most
specific entry wins, and no adapter keeps domain errors of its own."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import interpreter.api
import interpreter.api.app  # noqa: F401 - loads every module that subclasses the tree
from interpreter.api import errors as native
from interpreter.api.e2b import errors as e2b
from interpreter.api.e2b.envd import errors as envd
from interpreter.core import errors


def tree(cls: type[errors.InterpreterError]) -> list[type[errors.InterpreterError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]


ALL = tree(errors.InterpreterError)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_resolves_on_every_surface(cls: type[errors.InterpreterError]) -> None:
    exc = cls("x")
    assert native.status_of(exc) in native.DESCRIPTIONS  # and so has an OpenAPI description
    assert native.lookup(e2b.CONTROL, cls) is not None
    assert native.lookup(e2b.CODE_INTERPRETER, cls) is not None
    answer = envd.answer_of(exc)
    assert answer.code in envd.HTTP_STATUS
    assert e2b.control_response(exc).status_code >= 400
    assert e2b.code_interpreter_response(exc, "sbx").status_code >= 400
    assert envd.http_response(exc).status_code >= 400
    assert envd.connect_response(exc).status_code >= 400
    assert envd.connect_error(exc).message == "x"


def test_tables_list_only_the_tree_and_its_root() -> None:
    for table in (native.STATUS, e2b.CONTROL, e2b.CODE_INTERPRETER, envd.ENVD):
        assert errors.InterpreterError in table
        assert set(table) <= set(ALL)


def test_the_most_specific_entry_wins() -> None:
    gone = errors.SandboxGoneError("killed", sandbox_id="abc")
    assert native.status_of(gone) == 404
    assert e2b.control_response(gone).status_code == 404
    answer = e2b.code_interpreter_response(gone, "abc")
    assert answer.status_code == 502 and b'"sandboxId":"abc"' in answer.body
    assert e2b.execution_error_line(gone) is None  # mid-run: the connection is dropped
    assert envd.http_response(gone).status_code == 502
    assert envd.connect_error(gone).code == "not_found"  # mid-stream
    assert native.status_of(errors.ContextNotFoundError("x")) == 404
    assert envd.connect_response(errors.ContextNotFoundError("x")).status_code == 404
    assert native.status_of(errors.KernelDiedError("x")) == 502
    assert native.status_of(errors.AuthenticationError("x")) == 401
    assert e2b.control_response(errors.NotSupportedError("x")).status_code == 501
    line = e2b.execution_error_line(errors.KernelError("lost"))
    assert line == {"type": "error", "name": "KernelError", "value": "lost", "traceback": ""}


def test_no_adapter_defines_its_own_errors() -> None:
    """Domain errors live in core.errors; the API only has Connect's protocol error."""
    allowed = {envd.ConnectError}
    found = []
    for info in pkgutil.walk_packages(interpreter.api.__path__, "interpreter.api."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, BaseException):
                found.append(obj)
    assert set(found) <= allowed, found
