"""Errors reach the SDK as their own classes: a sandbox killed under a running call is a
SandboxGoneError (a NotFoundError), not a ServerError or a broken connection."""

from __future__ import annotations

import threading
import time

import pytest

from interpreter_sdk import NotFoundError, Sandbox, SandboxGoneError, ServerError


def test_a_sandbox_killed_during_run_code_is_gone(sandbox: Sandbox) -> None:
    sandbox.run_code("1")  # the kernel is up: the kill lands in the middle of the run
    killer = threading.Timer(1.5, sandbox.kill)
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(SandboxGoneError, match="killed") as gone:
            sandbox.run_code("import time\ntime.sleep(60)")
    finally:
        killer.join()
    assert isinstance(gone.value, NotFoundError) and not isinstance(gone.value, ServerError)
    assert time.monotonic() - started < 30
    with pytest.raises(NotFoundError):
        sandbox.get_info()
