"""The official E2B Python SDK's control plane (create, connect, list, info, timeout, metrics,
kill, pause) against our server, sync and async. Two sandboxes are shared by the module."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from e2b import (
    AuthenticationException,
    SandboxException,
    SandboxNotFoundException,
    SandboxQuery,
    SandboxState,
    Template,
)
from e2b import Sandbox as BaseSandbox
from e2b_code_interpreter import AsyncSandbox, Sandbox

from interpreter.api.e2b.versions import ENVD_VERSION
from tests.conftest import Server

WEIRD = {"weird key&=": "a&b=c d%+é"}  # survives the SDKs' double encoding of the list filter


@pytest.fixture(scope="module")
def tag(e2b_metadata: dict[str, str]) -> dict[str, str]:
    return {**e2b_metadata, "module": "control-" + secrets.token_hex(3)}


@pytest.fixture(scope="module")
def sbx(tag: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata={**tag, **WEIRD})
    yield sandbox
    sandbox.kill()


@pytest.fixture(scope="module")
def other(tag: dict[str, str]) -> Iterator[BaseSandbox]:
    """The plain `e2b` SDK's sandbox (template "base"): our default template too."""
    sandbox = BaseSandbox.create(metadata=tag, timeout=120)
    yield sandbox
    sandbox.kill()


def near(moment: datetime, expected: datetime, seconds: float = 30) -> bool:
    return abs((moment - expected).total_seconds()) < seconds


def test_create_and_info(sbx: Sandbox, tag: dict[str, str]) -> None:
    info = sbx.get_info()
    assert info.sandbox_id == sbx.sandbox_id
    assert info.template_id == "code-interpreter"
    assert info.metadata == {**tag, **WEIRD}
    assert info.state == SandboxState.RUNNING
    assert info.envd_version == ENVD_VERSION
    assert info.cpu_count >= 1 and info.memory_mb >= 128
    assert near(info.end_at, info.started_at + timedelta(seconds=300))  # E2B's default timeout
    assert sbx.is_running()


def test_connect_runs_code(sbx: Sandbox) -> None:
    sbx.run_code("connected = 41")
    again = Sandbox.connect(sbx.sandbox_id)
    assert again.sandbox_id == sbx.sandbox_id
    assert again.run_code("connected + 1").text == "42"


def test_list_filters_and_pages(sbx: Sandbox, other: BaseSandbox, tag: dict[str, str]) -> None:
    ours = {sbx.sandbox_id, other.sandbox_id}
    listed = Sandbox.list(query=SandboxQuery(metadata=tag)).next_items()
    assert {s.sandbox_id for s in listed} == ours
    weird = Sandbox.list(query=SandboxQuery(metadata={**tag, **WEIRD})).next_items()
    assert [s.sandbox_id for s in weird] == [sbx.sandbox_id]
    assert weird[0].metadata == {**tag, **WEIRD}

    running = SandboxQuery(metadata=tag, state=[SandboxState.RUNNING])
    assert {s.sandbox_id for s in Sandbox.list(query=running).next_items()} == ours
    paused = SandboxQuery(metadata=tag, state=[SandboxState.PAUSED])
    assert Sandbox.list(query=paused).next_items() == []

    paginator = Sandbox.list(query=SandboxQuery(metadata=tag), limit=1)
    pages = []
    while paginator.has_next:
        pages.append([s.sandbox_id for s in paginator.next_items()])
    assert len(pages) == 2 and all(len(p) == 1 for p in pages)
    assert {p[0] for p in pages} == ours


def test_set_timeout(other: BaseSandbox) -> None:
    other.set_timeout(600)
    assert near(other.get_info().end_at, datetime.now(UTC) + timedelta(seconds=600))
    other.set_timeout(120)
    assert near(other.get_info().end_at, datetime.now(UTC) + timedelta(seconds=120))


def test_metrics(sbx: Sandbox) -> None:
    sbx.run_code("blob = bytearray(64 * 2**20)")  # 64 MiB the cgroup must see
    time.sleep(1.2)  # the session server samples every 0.5 s (conftest)
    series = sbx.get_metrics()
    assert len(series) >= 3, series  # sampled ones, then the use now
    assert [m.timestamp for m in series] == sorted(m.timestamp for m in series)
    assert sbx.get_metrics(end=datetime.now(UTC) - timedelta(hours=2)) == []
    (metric,) = sbx.get_metrics(start=datetime.now(UTC) + timedelta(seconds=5))  # now only
    assert metric.mem_total == sbx.get_info().memory_mb * 2**20
    assert 64 * 2**20 < metric.mem_used < metric.mem_total
    assert metric.cpu_count >= 1 and 0 <= metric.cpu_used_pct <= 100
    assert 0 < metric.disk_used < metric.disk_total
    assert near(metric.timestamp, datetime.now(UTC))


def test_unknown_sandboxes_and_templates(server: Server) -> None:
    with pytest.raises(SandboxNotFoundException):
        Sandbox.connect("doesnotexist0000")
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info("doesnotexist0000")
    assert Sandbox.kill("doesnotexist0000") is False
    with pytest.raises(SandboxException, match="404.*nosuchtemplate"):
        Sandbox.create(template="nosuchtemplate")


def test_unsupported_features_say_so(server: Server, sbx: Sandbox) -> None:
    assert Template.exists("code-interpreter-v1") and Template.exists("base")
    headers = {"X-API-KEY": server.api_key}
    for method, path in (
        ("GET", "/templates"),  # the listing of E2B's console
    ):  # volumes are supported now: tests/e2b/test_volumes.py
        answer = httpx.request(method, server.url + path, headers=headers)
        assert answer.status_code == 501, (path, answer.text)
        assert set(answer.json()) == {"code", "message"}
        assert answer.headers["Should-Retry"] == "false"


def test_api_key_checked(server: Server) -> None:
    with pytest.raises(AuthenticationException):
        Sandbox.list(api_key="e2b_" + "0" * 40).next_items()
    # E2B's error shape: {"code", "message"}.
    bad = httpx.post(server.url + "/v2/sandboxes", json={"templateID": "base", "timeout": -1})
    assert bad.status_code == 401 and set(bad.json()) == {"code", "message"}
    invalid = httpx.post(
        server.url + "/v2/sandboxes",
        json={"templateID": "base", "timeout": -1},
        headers={"X-API-KEY": server.api_key},
    )
    assert invalid.status_code == 400 and "timeout" in invalid.json()["message"]


def test_code_interpreter_needs_the_sandbox_token(server: Server, sbx: Sandbox) -> None:
    headers = {"E2b-Sandbox-Id": sbx.sandbox_id, "E2b-Sandbox-Port": "49999"}
    response = httpx.post(server.url + "/execute", json={"code": "1"}, headers=headers)
    assert response.status_code == 401
    gone = httpx.post(
        server.url + "/execute",
        json={"code": "1"},
        headers={**headers, "E2b-Sandbox-Id": "doesnotexist0000"},
    )
    assert gone.status_code == 502 and gone.json()["sandboxId"] == "doesnotexist0000"


def test_pause_and_connect_resumes(tag: dict[str, str]) -> None:
    sandbox = Sandbox.create(metadata=tag, timeout=120)
    try:
        sandbox.run_code("kept = 'state'")
        assert sandbox.pause() is True
        assert Sandbox.get_info(sandbox.sandbox_id).state == SandboxState.PAUSED
        paused = SandboxQuery(metadata=tag, state=[SandboxState.PAUSED])
        assert [s.sandbox_id for s in Sandbox.list(query=paused).next_items()] == [
            sandbox.sandbox_id
        ]
        assert sandbox.pause() is False  # 409: already paused
        resumed = Sandbox.connect(sandbox.sandbox_id, timeout=120)
        assert resumed.get_info().state == SandboxState.RUNNING
        assert resumed.run_code("kept").text == "state"
    finally:
        sandbox.kill()


def test_pause_file_system_only_then_reboot(tag: dict[str, str]) -> None:
    sandbox = Sandbox.create(metadata=tag, timeout=120)
    try:
        sandbox.run_code("open('/home/user/kept.txt', 'w').write('on disk')\nlost = 1")
        assert sandbox.pause(mode="filesystem") is True
        resumed = Sandbox.connect(sandbox.sandbox_id, on_resume="reboot")
        assert resumed.run_code("open('/home/user/kept.txt').read()").text == "on disk"
        error = resumed.run_code("lost").error
        assert error is not None and error.name == "NameError"
    finally:
        sandbox.kill()


def test_idempotency_key(tag: dict[str, str]) -> None:
    """The SDK's retries reuse the key: a repeated create is the same sandbox."""
    key = "retry-" + secrets.token_hex(8)
    first = Sandbox.create(metadata=tag, idempotency_key=key)
    try:
        again = Sandbox.create(metadata=tag, idempotency_key=key)
        assert again.sandbox_id == first.sandbox_id
        assert again.run_code("1 + 1").text == "2"
    finally:
        first.kill()


def test_kill(tag: dict[str, str]) -> None:
    sandbox = BaseSandbox.create(metadata=tag)
    assert sandbox.kill() is True
    assert not sandbox.is_running()
    assert sandbox.sandbox_id not in [s.sandbox_id for s in Sandbox.list().next_items()]
    assert sandbox.kill() is False


def test_async_control_plane(tag: dict[str, str]) -> None:
    async def scenario() -> None:
        sandbox = await AsyncSandbox.create(metadata=tag, envs={"FROM_CREATE": "yes"})
        try:
            info = await sandbox.get_info()
            assert info.metadata == tag and info.state == SandboxState.RUNNING
            listed = await AsyncSandbox.list(query=SandboxQuery(metadata=tag)).next_items()
            assert sandbox.sandbox_id in {s.sandbox_id for s in listed}
            await sandbox.set_timeout(200)
            end = (await sandbox.get_info()).end_at
            assert near(end, datetime.now(UTC) + timedelta(seconds=200))
            (metric,) = await sandbox.get_metrics()
            assert metric.mem_used > 0
            execution = await sandbox.run_code("import os; os.environ['FROM_CREATE']")
            assert execution.text == "yes"
            again = await AsyncSandbox.connect(sandbox.sandbox_id)
            assert (await again.run_code("kept = 2; kept")).text == "2"
            assert await sandbox.pause() is True
            assert (await sandbox.get_info()).state == SandboxState.PAUSED
            resumed = await AsyncSandbox.connect(sandbox.sandbox_id)
            assert (await resumed.run_code("kept + 1")).text == "3"
        finally:
            assert await sandbox.kill() is True
        assert not await sandbox.is_running()

    asyncio.run(scenario())


def test_legacy_paths(server: Server, sbx: Sandbox, tag: dict[str, str]) -> None:
    """What older SDKs call: POST /sandboxes, /connect and /resume without v2, refreshes,
    ids suffixed with the clientID."""
    with httpx.Client(
        base_url=server.url, headers={"X-API-KEY": server.api_key}, timeout=120
    ) as api:
        created = api.post(
            "/sandboxes", json={"templateID": "base", "metadata": tag, "secure": True}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["clientID"] == "6532622b" and body["envdVersion"] == ENVD_VERSION
        assert body["envdAccessToken"] and body["trafficAccessToken"] and body["domain"] is None
        assert api.delete(f"/sandboxes/{body['sandboxID']}").status_code == 204

        suffixed = f"{sbx.sandbox_id}-6532622b"
        assert api.get(f"/sandboxes/{suffixed}").json()["sandboxID"] == sbx.sandbox_id
        assert api.post(f"/sandboxes/{sbx.sandbox_id}/connect", json={}).status_code == 200
        resumed = api.post(f"/sandboxes/{sbx.sandbox_id}/resume", json={"timeout": 300})
        assert resumed.status_code == 409 and resumed.json()["code"] == 409
        assert api.post(f"/sandboxes/{sbx.sandbox_id}/refreshes", json={}).status_code == 204
        listed = api.get("/sandboxes", params={"metadata": f"module={tag['module']}"}).json()
        assert sbx.sandbox_id in {s["sandboxID"] for s in listed}


def await_paused(sandbox_id: str) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=90)
    while Sandbox.get_info(sandbox_id).state != SandboxState.PAUSED:
        assert datetime.now(UTC) < deadline, "the timeout did not pause the sandbox"
        time.sleep(0.5)


def test_auto_pause_at_timeout(tag: dict[str, str]) -> None:
    """lifecycle on_timeout=pause (E2B's autoPause): the timeout pauses, connect resumes."""
    sandbox = Sandbox.create(metadata=tag, timeout=2, lifecycle={"on_timeout": "pause"})
    try:
        sandbox.run_code("kept = 'across the timeout'")
        assert sandbox.get_info().lifecycle["on_timeout"] == "pause"
        await_paused(sandbox.sandbox_id)
        resumed = Sandbox.connect(sandbox.sandbox_id, timeout=120)
        assert resumed.run_code("kept").text == "across the timeout"
    finally:
        sandbox.kill()


def test_auto_pause_of_the_files_only(tag: dict[str, str]) -> None:
    """lifecycle on_timeout mode "filesystem" (E2B's autoPauseMemory=false): the timeout pauses
    keeping the files; the kernel starts fresh at resume."""
    lifecycle = {"on_timeout": {"action": "pause", "mode": "filesystem"}}
    sandbox = Sandbox.create(metadata=tag, timeout=2, lifecycle=lifecycle)  # type: ignore[arg-type]
    try:
        sandbox.run_code("lost = 1\nopen('/home/user/kept.txt', 'w').write('on disk')")
        assert sandbox.get_info().lifecycle["on_timeout"] == "pause"
        await_paused(sandbox.sandbox_id)
        resumed = Sandbox.connect(sandbox.sandbox_id, timeout=120)
        assert resumed.files.read("/home/user/kept.txt") == "on disk"
        assert resumed.run_code("'lost' in globals()").text == "False"
    finally:
        sandbox.kill()
