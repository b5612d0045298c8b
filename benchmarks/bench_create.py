"""Issue #6 figures: create -> first result from the warm pool, from a template snapshot and
cold, in the same run.

    .venv/bin/python benchmarks/bench_create.py [--creates 15]

Three front ends, each with its own state folder: one keeps a warm pool of one sandbox (no
snapshot), one restores every sandbox from the template's snapshot (no pool), one has neither.
Samples rotate between them; before each, every pool is full and idle (its refill done), so no
kind of sample pays for another's start-ups. A sample is what a user sees through the SDK:
``Sandbox.create()`` until ``run_code("1+1")`` returned its result.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402


def wait_pool_full(server: Server) -> None:
    deadline = time.monotonic() + 300
    with server.client() as client:
        while time.monotonic() < deadline:
            state = client.get("/v1/pool").json()
            if all(s["ready"] == s["size"] and s["snapshot"] != "pending" for s in state):
                if any(s["snapshot"] == "failed" for s in state):
                    raise RuntimeError(f"no snapshot: {state}")
                return
            time.sleep(0.1)
    raise RuntimeError(f"the pool did not refill: {state}")


def sample(server: Server) -> tuple[float, float, float]:
    """Seconds from create to the sandbox's answer, of the create alone, and of the next
    run_code (the machine's round trip at that moment: what the first result costs at least)."""
    start = time.perf_counter()
    sbx = Sandbox.create(api_url=server.url, api_key=server.api_key)
    created = time.perf_counter()
    try:
        assert sbx.run_code("1+1").text == "2"
        first = time.perf_counter()
        assert sbx.run_code("1+1").text == "2"
        return first - start, created - start, time.perf_counter() - first
    finally:
        sbx.kill()
        sbx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=15)
    args = parser.parse_args()

    servers: dict[str, Server] = {}
    try:
        kinds = (("pool", "1", "0"), ("snapshot", "0", "1"), ("cold", "0", "0"))
        for kind, size, snapshots in kinds:
            home = traversable(Path(tempfile.mkdtemp(prefix=f"bench-create-{kind}-")))
            servers[kind] = start_server(
                home,
                secrets.token_hex(8),
                INTERPRETER_POOL_SIZE=size,
                INTERPRETER_SNAPSHOTS=snapshots,
            )
        results: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in servers}
        for i in range(args.creates + 1):
            for kind, server in servers.items():
                for each in servers.values():
                    wait_pool_full(each)
                time.sleep(0.5)  # let the refill's last work settle
                measured = sample(server)
                if i > 0:  # the first of each kind warms the front end and the SDK up
                    results[kind].append(measured)
    finally:
        for server in servers.values():
            stop_server(server)

    print("| create -> first result | p50 | p95 | create alone, p50 | next run_code, p50 |")
    print("|---|---|---|---|---|")
    labels = {
        "pool": "from the warm pool",
        "snapshot": "restored from the template snapshot",
        "cold": "cold (no pool, no snapshot)",
    }
    for kind, label in labels.items():
        firsts, creates, nexts = (list(column) for column in zip(*results[kind], strict=True))
        print(
            f"| {label} ({len(firsts)} sandboxes) | {ms(pct(firsts, 50))} | "
            f"{ms(pct(firsts, 95))} | {ms(pct(creates, 50))} | {ms(pct(nexts, 50))} |"
        )


if __name__ == "__main__":
    main()
