"""Issue 19, item 4: sustained creates from the template snapshot, each sandbox running a cell.

    .venv/bin/python benchmarks/bench_create_rate.py [--creates 40] [--clients 1,2,4]
        [--before <git ref>]

One front end, no warm pool: every create restores the template's snapshot. For each number of
clients (the first, one client, is the baseline: creates one after the other), that many
clients loop ``AsyncSandbox.create()`` → ``run_code("1+1")`` → ``kill()`` until ``creates``
sandboxes were made in all. Reported: creates per second over the phase's wall time, errors,
create → first result at p50 / p95, and the CPU per create of the whole machine (restore, the
cell, the kill; the other processes' share, measured for 3 s before each phase, taken out)
and of the front end's own process. With ``--before``, that tree (a git worktree, as
bench_ab.py) serves the same phases too, each right before this tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_ab import worktree  # noqa: E402
from benchmarks.bench_load import process_cpu  # noqa: E402
from benchmarks.bench_refill import cpu_seconds  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import AsyncSandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402


@dataclass
class Phase:
    tree: str
    clients: int
    firsts: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    machine_cpu: float = 0.0
    server_cpu: float = 0.0


async def one_create(server: Server, phase: Phase) -> None:
    started = time.perf_counter()
    try:
        sandbox = await AsyncSandbox.create(api_url=server.url, api_key=server.api_key)
    except Exception as exc:
        phase.errors.append(f"create: {type(exc).__name__}: {exc}")
        return
    try:
        execution = await sandbox.run_code("1+1")
        if execution.text != "2":
            raise RuntimeError(f"unexpected answer {execution.text!r} {execution.error}")
        phase.firsts.append(time.perf_counter() - started)
    except Exception as exc:
        phase.errors.append(f"run_code: {type(exc).__name__}: {exc}")
    finally:
        try:
            await sandbox.kill()
        except Exception as exc:
            phase.errors.append(f"kill: {type(exc).__name__}: {exc}")
        await sandbox.close()


async def background_cpu(seconds: float = 3.0) -> float:
    """CPU seconds per second the machine spends without this benchmark (others' work)."""
    before = cpu_seconds()
    await asyncio.sleep(seconds)
    return (cpu_seconds() - before) / seconds


async def measure(server: Server, clients: int, creates: int, tree: str = "") -> Phase:
    await asyncio.sleep(2)  # the previous phase's kills settle
    others = await background_cpu()
    phase = Phase(tree, clients)
    left = creates

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one_create(server, phase)

    machine, front = cpu_seconds(), process_cpu(server.process.pid)
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    phase.seconds = time.perf_counter() - started
    phase.machine_cpu = max(0.0, cpu_seconds() - machine - others * phase.seconds)
    phase.server_cpu = process_cpu(server.process.pid) - front
    return phase


async def run(servers: dict[str, Server], clients: list[int], creates: int) -> list[Phase]:
    for server in servers.values():  # warms the front end, the SDK, the snapshot's page cache
        await measure(server, 1, 2)
    phases = []
    for count in clients:
        for tree, server in servers.items():
            phases.append(await measure(server, count, creates, tree))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=40)
    parser.add_argument("--clients", default="1,2,4")
    parser.add_argument("--before", help="git ref of a baseline tree, measured beside this one")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    with contextlib.ExitStack() as stack:
        trees = {"this tree": REPO}
        if args.before:
            trees = {args.before: stack.enter_context(worktree(args.before)), **trees}
        servers: dict[str, Server] = {}
        try:
            for tree, path in trees.items():
                home = traversable(Path(tempfile.mkdtemp(prefix="bench-create-rate-")))
                # No warm pool. PYTHONSAFEPATH: `python -m` puts the working folder (this
                # tree) first on sys.path, ahead of PYTHONPATH: both trees would serve this one.
                servers[tree] = start_server(
                    home, "bench", INTERPRETER_POOL_SIZE="0", PYTHONSAFEPATH="1",
                    PYTHONPATH=f"{path}:{path / 'sdk' / 'python'}",
                )  # fmt: skip
            phases = asyncio.run(run(servers, clients, args.creates))
        finally:
            for server in servers.values():
                stop_server(server)
                shutil.rmtree(server.home, ignore_errors=True)  # its sandboxes are killed

    print(
        "| creates from the snapshot, each: create → run_code → kill | creates/s | errors | "
        "create → first result p50 | p95 | machine CPU / create | front end CPU / create |"
    )
    print("|---|---|---|---|---|---|---|")
    for phase in phases:
        n = len(phase.firsts) + len(phase.errors)
        print(
            f"| {phase.tree}: {phase.clients} client(s), {n} creates | {n / phase.seconds:.2f} | "
            f"{len(phase.errors)} | {ms(pct(phase.firsts, 50))} | {ms(pct(phase.firsts, 95))} | "
            f"{phase.machine_cpu / n * 1000:.0f} ms | {phase.server_cpu / n * 1000:.0f} ms |"
        )
    for phase in phases:
        for error in sorted(set(phase.errors))[:5]:
            print(f"error ({phase.tree}, {phase.clients} clients): {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
