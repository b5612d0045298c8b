"""Issue 11 item 2: everything read from a sandbox is bounded. A cell that floods the host with
one huge result, or with results past the output cap, gets a limited answer; the sandbox and
the server stay usable and the server's memory does not follow the flood."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..conftest import Server

MiB = 1 << 20


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _display(megabytes: int) -> str:
    return (
        "from IPython.display import publish_display_data\n"
        f"publish_display_data({{'text/plain': 'x' * ({megabytes} << 20)}})\n"
        "print('after')"
    )


def test_a_huge_result_is_refused_and_everything_goes_on(server: Server, sandbox: Any) -> None:
    assert sandbox.run_code("1 + 1").text == "2"
    before = _rss(server.process.pid)
    # Larger than any kernel message the host takes (gateway.MAX_MESSAGE_BYTES, 32 MiB).
    execution = sandbox.run_code(_display(50), timeout=60)
    assert execution.error is not None and execution.error.name == "OutputLimitError"
    assert all(len(result.text or "") < MiB for result in execution.results)
    grown = _rss(server.process.pid) - before
    assert grown < 64 * MiB, f"the server grew by {grown >> 20} MiB"
    # The kernel went on; the next cell works in the same context, with its state.
    sandbox.run_code("y = 5")
    assert sandbox.run_code("y * 2").text == "10"


def test_results_count_toward_the_output_cap(sandbox: Any) -> None:
    # 12 MiB, then 12 MiB more: the second passes the 16 MiB cap and is dropped, visibly.
    code = (
        "from IPython.display import publish_display_data\n"
        "for _ in range(2): publish_display_data({'text/plain': 'y' * (12 << 20)})\n"
        "print('done')"
    )
    execution = sandbox.run_code(code, timeout=60)
    assert execution.error is None
    assert len(execution.results) == 1 and len(execution.results[0].text) == 12 << 20
    stderr = "".join(execution.logs.stderr)
    assert "[output truncated" in stderr and "dropped" in stderr
    assert execution.logs.stdout == []  # nothing after the cap
    assert sandbox.run_code("3 * 3").text == "9"
