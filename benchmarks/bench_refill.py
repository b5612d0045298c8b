"""Issue #6: how fast the warm pool refills, booting cold or restoring the template snapshot.

    .venv/bin/python benchmarks/bench_refill.py [--refills 8]

Two front ends, each with a warm pool of one sandbox: one refills by booting cold (snapshots
off), one by restoring its template snapshot (the default). A sample claims the pooled sandbox
and times until the pool is full again, and the CPU the front end's process tree spent
meanwhile (sandboxes included: they are its descendants until claimed). Samples alternate
between the two front ends; each starts with both pools full and idle.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_create import wait_pool_full  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time of every process on the machine (user + system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / TICK


def sample(server: Server) -> tuple[float, float]:
    """Seconds until the pool is full again after a claim, and CPU seconds spent meanwhile."""
    sbx = Sandbox.create(api_url=server.url, api_key=server.api_key)
    try:
        cpu, start = cpu_seconds(), time.perf_counter()
        wait_pool_full(server)
        return time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        sbx.kill()
        sbx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refills", type=int, default=8)
    args = parser.parse_args()

    servers: dict[str, Server] = {}
    try:
        for kind, snapshots in (("cold", "0"), ("snapshot", "1")):
            home = traversable(Path(tempfile.mkdtemp(prefix=f"bench-refill-{kind}-")))
            servers[kind] = start_server(
                home,
                secrets.token_hex(8),
                INTERPRETER_POOL_SIZE="1",
                INTERPRETER_SNAPSHOTS=snapshots,
                INTERPRETER_POOL_REFILL_DELAY="0",
            )
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in servers}
        for _ in range(args.refills):
            for kind, server in servers.items():
                for each in servers.values():
                    wait_pool_full(each)
                time.sleep(0.5)
                results[kind].append(sample(server))
    finally:
        for server in servers.values():
            stop_server(server)

    print("| pool refill after a claim | p50 | p95 | CPU, p50 |")
    print("|---|---|---|---|")
    labels = {"cold": "booting cold", "snapshot": "restoring the template snapshot"}
    for kind, label in labels.items():
        seconds, cpu = (list(column) for column in zip(*results[kind], strict=True))
        print(
            f"| {label} ({len(seconds)} refills) | {ms(pct(seconds, 50))} | "
            f"{ms(pct(seconds, 95))} | {pct(cpu, 50):.2f} s |"
        )


if __name__ == "__main__":
    main()
