"""AsyncSandbox's runs over the run socket after a sandbox's first run
(interpreter_sdk/_run_sockets_async.py), against the real server: large results, a timeout or
a refusal, runs at once each on a socket, a run cancelled interrupted on the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from interpreter_sdk import AsyncSandbox, ExecutionTimeoutError, NotFoundError, Sandbox


def test_the_async_sdk_runs_over_a_socket_after_the_first_run(sandbox: Sandbox) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.connect(sandbox.sandbox_id) as sbx:
            sockets = sbx._runs._sockets
            assert sockets is not None
            assert (await sbx.run_code("1")).text == "1"  # httpx, on the connect's connection
            assert not sockets._idle
            assert (await sbx.run_code("2")).text == "2"
            [idle] = sockets._idle.values()
            [kept] = idle
            socket = kept.socket
            big = await sbx.run_code("'x' * (5 << 20)")  # over websockets' 1 MiB default bound
            assert big.text is not None and len(big.text) == 5 << 20
            with pytest.raises(NotFoundError, match="nope"):  # a refusal: the socket is kept
                await sbx.run_code("1", context="nope")
            assert (await sbx.run_code("3")).text == "3"
            assert [k.socket for k in idle] == [socket]
            with pytest.raises(ExecutionTimeoutError):  # its fault stops the read
                await sbx.run_code("import time; time.sleep(30)", timeout=1)
            assert (await sbx.run_code("4")).text == "4"  # on a new socket
            assert [k.socket for k in idle] != [socket]
            assert not sockets.refused
        assert not sockets._idle  # closed with the sandbox's client

    asyncio.run(scenario())


def test_async_runs_at_once_each_take_a_socket(sandbox: Sandbox) -> None:
    contexts = [sandbox.create_code_context() for _ in range(3)]

    async def scenario() -> None:
        async with await AsyncSandbox.connect(sandbox.sandbox_id) as sbx:
            await sbx.run_code("0")

            async def runs(i: int) -> list[str | None]:
                return [
                    (await sbx.run_code(f"{i} * 10 + {n}", context=contexts[i].id)).text
                    for n in range(5)
                ]

            answers = await asyncio.gather(*(runs(i) for i in range(3)))
            assert answers == [[str(i * 10 + n) for n in range(5)] for i in range(3)]
            sockets = sbx._runs._sockets
            assert sockets is not None
            [idle] = sockets._idle.values()
            assert 2 <= len(idle) <= 3  # the runs were under way at once

    asyncio.run(scenario())


def test_an_async_run_cancelled_is_interrupted(sandbox: Sandbox) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.connect(sandbox.sandbox_id) as sbx:
            await sbx.run_code("0")
            await sbx.run_code("0")  # a socket is idle: the next run takes it
            started = asyncio.Event()
            code = "import time\nprint('go', flush=True)\ntime.sleep(60)"
            run = asyncio.ensure_future(sbx.run_code(code, on_stdout=lambda _: started.set()))
            await asyncio.wait_for(started.wait(), 30)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            begun = time.monotonic()
            assert (await sbx.run_code("'next'", timeout=30)).text == "next"
            assert time.monotonic() - begun < 20, "the cancelled run must have been interrupted"

    asyncio.run(scenario())
