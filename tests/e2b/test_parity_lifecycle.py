"""E2B's lifecycle, as its own SDK tests expect it: listing newest first in pages, a paused
sandbox that traffic does not wake unless it was made to (auto-resume), and ``is_running()``."""

from __future__ import annotations

import time

import pytest
from e2b import SandboxQuery, SandboxState
from e2b.exceptions import SandboxException
from e2b_code_interpreter import Sandbox

from tests.conftest import RUN_ID

pytestmark = pytest.mark.timeout(300)


def wait_for_state(sandbox: Sandbox, state: SandboxState, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sandbox.get_info().state == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"not {state} after {seconds} s")


def test_list_is_newest_first_across_running_and_paused() -> None:
    tag = {"test_run": RUN_ID, "case": "newest-first"}
    older = Sandbox.create(metadata=tag)
    newer = Sandbox.create(metadata=tag)
    try:
        paginator = Sandbox.list(query=SandboxQuery(metadata=tag), limit=1)
        first = paginator.next_items()
        assert [s.sandbox_id for s in first] == [newer.sandbox_id]
        assert paginator.has_next and paginator.next_token
        second = paginator.next_items()
        assert [s.sandbox_id for s in second] == [older.sandbox_id]
        assert not paginator.has_next
        older.pause()
        both = Sandbox.list(query=SandboxQuery(metadata=tag)).next_items()
        assert [(s.sandbox_id, s.state) for s in both] == [
            (newer.sandbox_id, SandboxState.RUNNING),
            (older.sandbox_id, SandboxState.PAUSED),
        ]
    finally:
        older.kill()
        newer.kill()


def test_a_paused_sandbox_stays_paused_until_connect() -> None:
    sandbox = Sandbox.create(metadata={"test_run": RUN_ID})
    try:
        sandbox.run_code("kept = 'state'")
        sandbox.pause()
        assert not sandbox.is_running()
        with pytest.raises(SandboxException):  # traffic does not wake it
            sandbox.commands.run("true")
        assert sandbox.get_info().state == SandboxState.PAUSED
        resumed = Sandbox.connect(sandbox.sandbox_id)
        assert resumed.is_running()
        assert resumed.run_code("kept").text == "state"
    finally:
        sandbox.kill()


def test_auto_pause_without_auto_resume_needs_connect() -> None:
    sandbox = Sandbox.create(
        metadata={"test_run": RUN_ID}, timeout=3,
        lifecycle={"on_timeout": "pause", "auto_resume": False},
    )  # fmt: skip
    try:
        assert sandbox.get_info().lifecycle["auto_resume"] is False
        wait_for_state(sandbox, SandboxState.PAUSED)
        assert not sandbox.is_running()
        Sandbox.connect(sandbox.sandbox_id, timeout=60)
        wait_for_state(sandbox, SandboxState.RUNNING)
        assert sandbox.is_running()
    finally:
        sandbox.kill()


def test_auto_resume_wakes_on_traffic() -> None:
    sandbox = Sandbox.create(
        metadata={"test_run": RUN_ID}, timeout=3,
        lifecycle={"on_timeout": "pause", "auto_resume": True},
    )  # fmt: skip
    try:
        sandbox.run_code("kept = 41")
        wait_for_state(sandbox, SandboxState.PAUSED)
        assert sandbox.run_code("kept + 1").text == "42"  # resumed by the call
        assert sandbox.get_info().state == SandboxState.RUNNING
    finally:
        sandbox.kill()


def test_the_async_sdk_alike() -> None:
    import asyncio

    from e2b_code_interpreter import AsyncSandbox

    async def scenario() -> None:
        sandbox = await AsyncSandbox.create(metadata={"test_run": RUN_ID})
        try:
            await sandbox.pause()
            assert not await sandbox.is_running()
            resumed = await AsyncSandbox.connect(sandbox.sandbox_id)
            assert await resumed.is_running()
            result = await resumed.commands.run("printf 'ab\\xe2'; sudo whoami")
            assert result.stdout == "ab\ufffdroot\n"
        finally:
            await sandbox.kill()

    asyncio.run(scenario())
