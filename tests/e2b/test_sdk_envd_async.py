"""The official E2B Python SDK (async) driving envd: the streaming paths the sync SDK does not
take (WatchDir stream, StreamInput handle, output callbacks). One sandbox for the module."""

from __future__ import annotations

import asyncio
import io

import pytest
from e2b import (
    AsyncSandbox,
    CommandExitException,
    FileNotFoundException,
    FileType,
    NotFoundException,
    SandboxNotRunningException,
    TimeoutException,
)
from e2b.sandbox.commands.command_handle import PtySize
from e2b.sandbox.filesystem.watch_handle import FilesystemEvent, FilesystemEventType

pytestmark = pytest.mark.timeout(120)


async def wait_for(events: list[FilesystemEvent], wanted: tuple[str, FilesystemEventType]) -> None:
    for _ in range(50):
        if wanted in [(e.name, e.type) for e in events]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{wanted} not in {[(e.name, e.type) for e in events]}")


def test_async_envd(e2b_metadata: dict[str, str]) -> None:
    asyncio.run(scenario(e2b_metadata))


async def scenario(metadata: dict[str, str]) -> None:
    """One sandbox, many checks: sandboxes are the slow part of a test."""
    sbx = await AsyncSandbox.create(metadata=metadata, timeout=300)
    try:
        await checks(sbx)
    finally:
        await sbx.kill()


async def checks(sbx: AsyncSandbox) -> None:
    # Files, streamed both ways.
    data = bytes(range(256)) * 4096
    await sbx.files.write("/home/user/a/data.bin", io.BytesIO(data))
    assert await sbx.files.read("/home/user/a/data.bin", format="bytes") == data
    chunks = [
        chunk async for chunk in await sbx.files.read("/home/user/a/data.bin", format="stream")
    ]
    assert b"".join(chunks) == data
    await sbx.files.write_files(
        [{"path": "a/x.txt", "data": "x"}, {"path": "a/y.txt", "data": "y"}]
    )
    names = {e.name: e.type for e in await sbx.files.list("/home/user/a")}
    assert names == {"data.bin": FileType.FILE, "x.txt": FileType.FILE, "y.txt": FileType.FILE}
    assert await sbx.files.make_dir("/home/user/a") is False
    with pytest.raises(FileNotFoundException):
        await sbx.files.read("/home/user/none")

    # WatchDir stream, recursive, with entries.
    events: list[FilesystemEvent] = []
    await sbx.files.make_dir("/home/user/w")
    watch = await sbx.files.watch_dir(
        "/home/user/w", on_event=events.append, recursive=True, include_entry=True
    )
    await sbx.files.write("/home/user/w/new.txt", "123")
    await sbx.files.make_dir("/home/user/w/sub")
    await asyncio.sleep(0.3)
    await sbx.files.write("/home/user/w/sub/deep.txt", "d")
    await sbx.files.rename("/home/user/w/new.txt", "/home/user/w/renamed.txt")
    await wait_for(events, ("sub/deep.txt", FilesystemEventType.CREATE))
    await wait_for(events, ("renamed.txt", FilesystemEventType.CREATE))
    await wait_for(events, ("new.txt", FilesystemEventType.RENAME))
    created = next(e for e in events if e.name == "renamed.txt" and e.entry is not None)
    assert created.entry is not None and created.entry.size == 3
    await watch.stop()
    with pytest.raises(NotFoundException):
        await sbx.files.watch_dir("/home/user/missing", on_event=events.append)

    # Commands: callbacks, exit codes, background, stdin through the StreamInput handle.
    out: list[str] = []
    result = await sbx.commands.run("for i in 1 2 3; do echo $i; done", on_stdout=out.append)
    assert result.stdout == "1\n2\n3\n" and "".join(out) == "1\n2\n3\n"
    with pytest.raises(CommandExitException):
        await sbx.commands.run("exit 5")
    cat = await sbx.commands.run("cat", background=True, stdin=True)
    async with sbx.commands.stream_input(cat.pid) as stdin:
        await stdin.send("streamed ")
        await stdin.send(b"input\n")
    await sbx.commands.close_stdin(cat.pid)
    assert (await cat.wait()).stdout == "streamed input\n"
    sleeper = await sbx.commands.run("sleep 30", background=True)
    assert sleeper.pid in [p.pid for p in await sbx.commands.list()]
    assert (await sbx.commands.connect(sleeper.pid)).pid == sleeper.pid
    assert await sbx.commands.kill(sleeper.pid) is True
    with pytest.raises(CommandExitException):
        await sleeper.wait()
    with pytest.raises(TimeoutException):
        await sbx.commands.run("sleep 20", timeout=1)

    # PTY.
    output: list[bytes] = []
    terminal = await sbx.pty.create(PtySize(rows=20, cols=60), on_data=output.append)
    await sbx.pty.resize(terminal.pid, PtySize(rows=33, cols=111))
    await sbx.pty.send_stdin(terminal.pid, b"stty size; exit\n")
    assert (await terminal.wait()).exit_code == 0
    assert "33 111" in b"".join(output).decode(errors="replace")

    # Killed: the SDK's not-running error.
    await sbx.kill()
    with pytest.raises(SandboxNotRunningException):
        await sbx.files.read("/home/user/a/x.txt")
    with pytest.raises(SandboxNotRunningException):
        await sbx.commands.run("true")
    assert not await sbx.is_running()
