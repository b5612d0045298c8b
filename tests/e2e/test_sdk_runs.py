"""The blocking SDK's create and run_code over its own connections
(interpreter_sdk/_runs_sync.py): the first run takes the create's connection, a refused create is
the SDK's error, kept connections the server closed are not used again, runs from several
threads each get one, and a run cut short by its caller does not leave a half-read answer for
the next run."""

from __future__ import annotations

import threading
import time

import pytest

from interpreter_sdk import InvalidRequestError, NotFoundError, OutputMessage, Sandbox
from tests.conftest import RUN_ID, Server

KEEP_ALIVE = 5  # seconds uvicorn keeps an idle connection open (its default)


def test_the_first_run_takes_the_creates_connection(sandbox: Sandbox) -> None:
    connections = sandbox._runs._direct
    assert connections is not None
    assert len(connections._idle) == 1  # the create's, kept open
    created = connections._idle[0]
    assert sandbox.run_code("1 + 1").text == "2"
    assert connections._idle == [created]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"template": "no-such-template"}, NotFoundError, "no-such-template"),
        ({"cpu": -1}, InvalidRequestError, "cpu"),
    ],
)
def test_a_refused_create_is_the_sdks_error(
    server: Server, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Sandbox.create(metadata={"test_run": RUN_ID}, **options)  # type: ignore[arg-type]


def test_a_connection_the_server_closed_is_not_used_again(sandbox: Sandbox) -> None:
    assert sandbox.run_code("1 + 1").text == "2"
    time.sleep(KEEP_ALIVE + 1.5)  # the server closes the idle connection
    assert sandbox.run_code("2 + 2").text == "4"


def test_runs_from_several_threads(sandbox: Sandbox) -> None:
    contexts = [sandbox.create_code_context() for _ in range(3)]
    answers: dict[int, list[str | None]] = {i: [] for i in range(len(contexts))}

    def runs(i: int) -> None:
        for n in range(5):
            answers[i].append(sandbox.run_code(f"{i} * 100 + {n}", context=contexts[i]).text)

    threads = [threading.Thread(target=runs, args=(i,)) for i in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == {i: [str(i * 100 + n) for n in range(5)] for i in range(len(contexts))}


def test_a_run_its_caller_stops_leaves_the_next_run_whole(sandbox: Sandbox) -> None:
    class Stop(Exception):
        pass

    def stop(message: OutputMessage) -> None:
        raise Stop(message.text)

    code = "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')\n'done'"
    with pytest.raises(Stop, match="first"):
        sandbox.run_code(code, on_stdout=stop)
    execution = sandbox.run_code("'next'")  # not the rest of the run above
    assert execution.text == "next" and execution.logs.stdout == []
