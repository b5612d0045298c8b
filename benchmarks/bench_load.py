"""Issue 19, item 6: many sandboxes running code at once, through the SDK.

    .venv/bin/python benchmarks/bench_load.py [--sandboxes 20] [--runs 100]

One front end (no warm pool: each sandbox is restored from the template snapshot). Its
sandboxes are created first (not timed), each runs one cell to warm up; then, in one run:

- the baseline: one sandbox runs ``runs`` executions one after the other, nothing else going on;
- the load: ``sandboxes`` sandboxes run ``runs`` executions each, all at once (each sandbox's one
  after the other, as a client waits for its result), from one process through ``AsyncSandbox``.

For each: errors, latency p50 / p99 (``run_code`` called until it returned), executions per
second over the phase's wall time, and the front end's own CPU per execution (its process's
user + system time from /proc/<pid>/stat, before and after: the sandboxes are not in it), beside
the whole machine's CPU and this client's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_refill import cpu_seconds  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import AsyncSandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CODE = "x = sum(range(1000))\nx"
EXPECTED = str(sum(range(1000)))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads, not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14, 15


@dataclass
class Phase:
    label: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    machine_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def executions(self) -> int:
        return len(self.latencies) + len(self.errors)


async def executions(sandbox: AsyncSandbox, runs: int, phase: Phase) -> None:
    for _ in range(runs):
        started = time.perf_counter()
        try:
            execution = await sandbox.run_code(CODE)
            if execution.error is not None or execution.text != EXPECTED:
                raise RuntimeError(f"unexpected answer: {execution.text!r} {execution.error}")
        except Exception as exc:  # counted, reported: the goal is none
            phase.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        phase.latencies.append(time.perf_counter() - started)


async def measure(server: Server, sandboxes: list[AsyncSandbox], runs: int, label: str) -> Phase:
    phase = Phase(label)
    pid = server.process.pid
    server_cpu, machine_cpu, client_cpu = process_cpu(pid), cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(executions(sandbox, runs, phase) for sandbox in sandboxes))
    phase.seconds = time.perf_counter() - started
    phase.server_cpu = process_cpu(pid) - server_cpu
    phase.machine_cpu = cpu_seconds() - machine_cpu
    phase.client_cpu = time.process_time() - client_cpu
    return phase


async def create(server: Server, count: int) -> list[AsyncSandbox]:
    gate = asyncio.Semaphore(2)  # restores at the pace of two cores

    async def one() -> AsyncSandbox:
        async with gate:
            sandbox = await AsyncSandbox.create(api_url=server.url, api_key=server.api_key)
        await sandbox.run_code("1+1")  # the first cell: not measured
        return sandbox

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def run(server: Server, count: int, runs: int) -> list[Phase]:
    sandboxes = await create(server, count)
    try:
        await asyncio.sleep(2)  # the creates' work settles
        baseline = await measure(server, sandboxes[:1], runs, "1 sandbox, one after the other")
        load = await measure(server, sandboxes, runs, f"{count} sandboxes at once")
        return [baseline, load]
    finally:
        for sandbox in sandboxes:
            await sandbox.kill()
            await sandbox.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sandboxes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()

    home = traversable(Path(tempfile.mkdtemp(prefix="bench-load-")))
    server = start_server(home, secrets.token_hex(8), INTERPRETER_POOL_SIZE="0")
    try:
        phases = asyncio.run(run(server, args.sandboxes, args.runs))
    finally:
        stop_server(server)

    print(
        "| executions of `sum(range(1000))` | executions | errors | p50 | p99 | executions/s "
        "| front end CPU / execution | machine CPU / execution | client CPU / execution |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        n = phase.executions
        print(
            f"| {phase.label} | {n} | {len(phase.errors)} | {ms(pct(phase.latencies, 50))} | "
            f"{ms(pct(phase.latencies, 99))} | {n / phase.seconds:.0f} | "
            f"{ms(phase.server_cpu / n, 2)} | {ms(phase.machine_cpu / n, 2)} | "
            f"{ms(phase.client_cpu / n, 2)} |"
        )
    for phase in phases:
        for error in sorted(set(phase.errors))[:5]:
            print(f"error ({phase.label}): {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
