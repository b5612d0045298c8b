"""The host<->agent protocol (interpreter/core/protocol.py): the agent's real output fits it, the
host's parse is bounded (garbage is a GatewayError), and the SDK's models mirror it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import interpreter_sdk
from interpreter.core import protocol
from interpreter.core.errors import GatewayError, InvalidRequestError, ProcessNotFoundError
from interpreter.core.protocol import (
    CommandSpec,
    EntryInfo,
    ProcessEnd,
    ProcessInfo,
    ProcessOutput,
    ProcessStart,
    WatchEvent,
)
from interpreter.core.sandbox_fs import SandboxSocket
from interpreter.service import agent_client
from interpreter.service.agent_client import AgentClient
from interpreter.service.commands import SandboxCommands
from interpreter.service.files import SandboxFiles

# The agent runs inside the sandbox as the top-level package `agent`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sandbox"))
from agent import files as agent_files  # noqa: E402
from agent import processes as agent_processes  # noqa: E402
from agent import watch as agent_watch  # noqa: E402

# SDK dataclass -> the protocol model whose JSON the native API serves for it.
MIRRORS = [
    (interpreter_sdk.EntryInfo, EntryInfo),
    (interpreter_sdk.CommandInfo, ProcessInfo),
    (interpreter_sdk.FilesystemEvent, WatchEvent),
]


@pytest.mark.parametrize("sdk_model, core_model", MIRRORS)
def test_sdk_models_have_the_protocols_fields(
    sdk_model: type, core_model: type[protocol.Wire]
) -> None:
    sdk_fields = {f.name for f in dataclasses.fields(sdk_model)}
    assert sdk_fields == set(core_model.model_fields)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_the_agents_entries_fit(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("hello")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inner").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "folder")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    listing = agent_files.list_dir(str(tmp_path), 2)
    entries = protocol.parse_entries(_json(listing))
    assert [e.model_dump(mode="json") for e in entries] == listing  # the native JSON, unchanged
    by_name = {e.name: e for e in entries}
    assert by_name["file.txt"].type == "file" and by_name["file.txt"].size == 5
    assert by_name["link"].type == "symlink" and by_name["link"].target_type == "dir"
    assert by_name["dangling"].target_type is None and by_name["inner"].path.endswith("/inner")
    # What a link finally reaches (envd's symlinkTarget), with its mode; None when dangling.
    (tmp_path / "relative").symlink_to("link")  # a chain: relative -> link -> folder
    (tmp_path / "loop").symlink_to("loop")
    chained = protocol.parse(EntryInfo, _json(agent_files.entry(str(tmp_path / "relative"))))
    assert chained.symlink_target == "link" and chained.target_type == "dir"
    assert chained.resolved_target == os.path.realpath(tmp_path / "folder")
    assert chained.target_mode == (tmp_path / "folder").stat().st_mode
    for broken in ("dangling", "loop"):
        gone = protocol.parse(EntryInfo, _json(agent_files.entry(str(tmp_path / broken))))
        assert (gone.resolved_target, gone.target_mode, gone.target_type) == (None, None, None)
    one = protocol.parse(EntryInfo, _json(agent_files.entry(str(tmp_path / "file.txt"))))
    assert one.resolved_target is None and one.target_mode is None
    assert one.modified_time.tzinfo is not None


def test_the_agents_process_events_and_info_fit() -> None:
    async def run() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        processes = agent_processes.Processes()
        spec = CommandSpec(cmd="echo out; echo err >&2; exit 3", user="root", tag="t").wire()
        process = await processes.start(spec)
        await process.done.wait()
        timed = await processes.start(CommandSpec(cmd="sleep 5", user="root", timeout=0.2).wire())
        await timed.done.wait()
        return list(process.history), process.info(), timed.history[-1]

    history, info, timed_end = asyncio.run(run())
    events = [protocol.parse_process_event(_json(e)) for e in history]
    assert {type(e) for e in events} == {ProcessOutput, ProcessEnd}
    end = events[-1]
    assert isinstance(end, ProcessEnd) and end.exit_code == 3
    parsed = protocol.parse(ProcessInfo, _json(info))
    assert parsed.model_dump(mode="json") == info and parsed.status == "failed"
    assert parsed.tag == "t" and parsed.args is None
    timed = protocol.parse_process_event(_json(timed_end))
    assert isinstance(timed, ProcessEnd) and timed.timed_out and timed.error
    start = protocol.parse_process_event(b'{"type": "start", "pid": 7}')
    assert start == ProcessStart(type="start", pid=7)


def test_a_recursive_watch_reports_what_a_new_folder_already_holds(tmp_path: Path) -> None:
    watcher = agent_watch.Watcher(str(tmp_path), recursive=True)
    try:
        watcher.add(str(tmp_path))
        (tmp_path / "a" / "b" / "c").mkdir(parents=True)  # before the new folders' watches
        (tmp_path / "a" / "f.txt").write_text("x")
        watcher._readable()
        (tmp_path / "a" / "b" / "c" / "later.txt").write_text("y")  # watched by now
        watcher._readable()
        raw = []
        while not watcher.queue.empty():
            raw.append(watcher.queue.get_nowait())
    finally:
        os.close(watcher.fd)
    created = [os.path.relpath(e["name"], tmp_path) for e in raw if e["type"] == "create"]
    assert created == ["a", "a/b", "a/b/c", "a/f.txt", "a/b/c/later.txt"]  # a walk's order
    assert ("write", str(tmp_path / "a" / "b" / "c" / "later.txt")) in {
        (e["type"], e["name"]) for e in raw
    }


def test_the_agents_watch_events_fit(tmp_path: Path) -> None:
    watcher = agent_watch.Watcher(str(tmp_path), recursive=True, include_entry=True)
    try:
        watcher.add(str(tmp_path))
        (tmp_path / "new").write_text("x")
        (tmp_path / "sub").mkdir()
        watcher._readable()
        raw = []
        while not watcher.queue.empty():
            raw.append(watcher.queue.get_nowait())
    finally:
        os.close(watcher.fd)
    events = [protocol.parse_watch_event(_json(e)) for e in raw]
    assert all(isinstance(e, WatchEvent) for e in events)
    kinds = {(e.type, os.path.basename(e.name)) for e in events if e is not None}
    assert ("create", "new") in kinds and ("create", "sub") in kinds
    assert all(e.entry is not None for e in events if e is not None and e.type == "create")


@pytest.mark.parametrize(
    "answer",
    [
        b"not json",
        b'{"name": "a"}',  # fields missing
        _json({"type": "stdout", "data": "x" * (protocol.MAX_OUTPUT + 1)}),
        _json({"type": "end", "exit_code": "zero"}),
        _json({"type": "start", "pid": -1}),
        _json({"type": "end", "exit_code": 1 << 70}),
    ],
)
def test_garbage_from_the_agent_is_a_gateway_error(answer: bytes) -> None:
    with pytest.raises(GatewayError, match="sandbox agent sent"):
        if answer.startswith(b'{"name"'):
            protocol.parse(EntryInfo, answer)
        else:
            protocol.parse_process_event(answer)


def test_bounded_entries_and_unknown_events() -> None:
    entry = {
        "name": "a",
        "path": "/a" + "b" * protocol.MAX_PATH,
        "type": "file",
        "size": 1,
        "mode": 0o100644,
        "permissions": "-rw-r--r--",
        "owner": "user",
        "group": "user",
        "modified_time": "2026-01-01T00:00:00+00:00",
    }
    with pytest.raises(GatewayError):
        protocol.parse_entries(_json([entry]))
    with pytest.raises(GatewayError):
        protocol.parse(EntryInfo, _json({**entry, "path": "/a", "type": "socket"}))
    with pytest.raises(GatewayError):
        protocol.parse(EntryInfo, _json({**entry, "path": "/a", "size": -1}))
    assert protocol.parse_process_event(b'{"type": "closed"}') is None  # a newer agent's
    assert protocol.parse_watch_event(b'{"type": "moved", "name": "/x"}') is None
    with pytest.raises(GatewayError):
        protocol.parse_watch_event(b'{"type": "create", "name": 5}')


def test_command_specs() -> None:
    spec = CommandSpec.of({"cmd": "ls", "pty": {"cols": 100, "rows": 30}, "envs": {"A": "1"}})
    assert spec.wire() == {
        "cmd": "ls",
        "envs": {"A": "1"},
        "user": "user",
        "stdin": False,
        "pty": {"cols": 100, "rows": 30},
    }  # no args: a shell command line
    assert CommandSpec.of({"cmd": "ls", "args": []}).wire()["args"] == []
    with pytest.raises(InvalidRequestError, match="invalid command"):
        CommandSpec.of({"cmd": ""})
    with pytest.raises(InvalidRequestError):
        CommandSpec.of({"cmd": "ls", "pty": {"cols": 0}})


class _Body(httpx.AsyncByteStream):
    """A body streamed as from a socket (a plain ``content=`` would be read already)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def _client(tmp_path: Path, status: int, body: Any) -> AgentClient:
    """An AgentClient whose agent answers every request with ``status`` and ``body`` (bytes as
    they are, anything else as JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    client = AgentClient(SandboxSocket(tmp_path, ("agent.sock",), os.getuid()))
    transport = httpx.MockTransport(lambda request: httpx.Response(status, stream=_Body(data)))
    client._http = httpx.AsyncClient(transport=transport, base_url="http://agent")
    return client


def test_services_parse_once_and_turn_garbage_into_gateway_errors(tmp_path: Path) -> None:
    async def run() -> None:
        entry = agent_files.entry(str(tmp_path))
        good = _client(tmp_path, 200, entry)
        info = await SandboxFiles(good).info(str(tmp_path))
        assert isinstance(info, EntryInfo) and info.type == "dir"
        await good.close()
        answers: list[tuple[int, Any]] = [
            (200, b"<html>"),
            (200, {**entry, "mode": "rwx"}),
            (200, [1, 2]),
            (500, b"oops"),
        ]
        for status, answer in answers:
            bad = _client(tmp_path, status, answer)
            with pytest.raises(GatewayError):
                await SandboxFiles(bad).info("/x")
            with pytest.raises(GatewayError):
                await SandboxCommands(bad).list()
            await bad.close()
        missing = {"error": {"type": "ProcessNotFoundError", "message": "no"}}
        gone = _client(tmp_path, 404, missing)
        with pytest.raises(ProcessNotFoundError):
            await SandboxCommands(gone).info(1)
        await gone.close()

    asyncio.run(run())


def test_an_oversized_answer_is_a_gateway_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_client, "MAX_ANSWER", 100)

    async def run() -> None:
        client = _client(tmp_path, 200, [{"pid": 1}] * 100)
        with pytest.raises(GatewayError, match="oversized"):
            await SandboxCommands(client).list()
        await client.close()

    asyncio.run(run())
