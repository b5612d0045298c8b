"""The async twin against the real server (issue #2)."""

from __future__ import annotations

import asyncio

import pytest

from interpreter_sdk import AsyncSandbox, ExecutionTimeoutError, NotFoundError, OutputMessage

from ..conftest import RUN_ID, Server


def test_async_sandbox_round_trip(server: Server) -> None:
    async def scenario() -> None:
        seen: list[str] = []

        async def on_stdout(msg: OutputMessage) -> None:
            seen.append(msg.text)

        async with await AsyncSandbox.create(metadata={"test_run": RUN_ID}) as sbx:
            await sbx.run_code("y = 2")
            execution = await sbx.run_code("print('hi')\ny * 21", on_stdout=on_stdout)
            assert execution.text == "42" and seen == ["hi\n"]
            listed = await AsyncSandbox.list(metadata={"test_run": RUN_ID})
            assert sbx.sandbox_id in [s.id for s in listed]
            again = await AsyncSandbox.connect(sbx.sandbox_id)
            assert (await again.run_code("y")).text == "2"
            await again.close()
            with pytest.raises(ExecutionTimeoutError):
                await sbx.run_code("import time\ntime.sleep(30)", timeout=1)
            assert (await sbx.run_code("y + 1")).text == "3"
            sandbox_id = sbx.sandbox_id
        with pytest.raises(NotFoundError):
            await AsyncSandbox.connect(sandbox_id)

    asyncio.run(scenario())


def test_contexts_of_one_sandbox_run_in_parallel(server: Server) -> None:
    async def scenario() -> float:
        async with await AsyncSandbox.create(metadata={"test_run": RUN_ID}) as sbx:
            other = await sbx.create_code_context()
            nap = "import time\ntime.sleep(2)\n'done'"
            started = asyncio.get_running_loop().time()
            a, b = await asyncio.gather(sbx.run_code(nap), sbx.run_code(nap, context=other))
            assert a.text == b.text == "done"
            return asyncio.get_running_loop().time() - started

    assert asyncio.run(scenario()) < 3.5


def test_executions_in_one_context_never_overlap(server: Server) -> None:
    async def scenario() -> list[list[float]]:
        async with await AsyncSandbox.create(metadata={"test_run": RUN_ID}) as sbx:
            await sbx.run_code("spans = []")
            cell = (
                "import time\nt = time.monotonic()\ntime.sleep(0.3)\n"
                "spans.append([t, time.monotonic()])"
            )
            await asyncio.gather(*(sbx.run_code(cell) for _ in range(3)))
            return (await sbx.run_code("spans")).results[0].json  # type: ignore[no-any-return]

    spans = sorted(asyncio.run(scenario()))
    assert len(spans) == 3
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_async_files_and_commands(server: Server) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.create(metadata={"test_run": RUN_ID}) as sbx:
            await sbx.files.write("x/y.txt", "async")
            assert await sbx.files.read("x/y.txt") == "async"
            assert [e.name for e in await sbx.files.list("x")] == ["y.txt"]
            chunks = [c async for c in sbx.files.read_stream("x/y.txt")]
            assert b"".join(chunks) == b"async"
            result = await sbx.commands.run("cat x/y.txt; echo; id -un")
            assert result.stdout == "async\nuser\n"
            handle = await sbx.commands.start("read line; echo got $line", stdin=True)
            await handle.send_stdin("it\n")
            assert (await handle.wait()).stdout == "got it\n"

    asyncio.run(scenario())
