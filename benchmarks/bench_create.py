"""Issue #6 figures: create -> first result, from the warm pool and cold, in the same run.

    .venv/bin/python benchmarks/bench_create.py [--creates 15]

Two front ends, each with its own state folder: one keeps a warm pool of one sandbox, the other
has none. Samples alternate between them; before each, the pool is full and idle (its refill
done), so neither kind of sample pays for the other's start-ups. A sample is what a user sees
through the SDK: ``Sandbox.create()`` until ``run_code("1+1")`` returned its result.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def wait_pool_full(server: Server) -> None:
    deadline = time.monotonic() + 300
    with server.client() as client:
        while time.monotonic() < deadline:
            state = client.get("/v1/pool").json()
            if all(s["ready"] == s["size"] for s in state):
                return
            time.sleep(0.1)
    raise RuntimeError(f"the pool did not refill: {state}")


def sample(server: Server) -> tuple[float, float]:
    """Seconds from create to the sandbox's answer, and of the create alone."""
    start = time.perf_counter()
    sbx = Sandbox.create(api_url=server.url, api_key=server.api_key)
    created = time.perf_counter()
    try:
        assert sbx.run_code("1+1").text == "2"
        return time.perf_counter() - start, created - start
    finally:
        sbx.kill()
        sbx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=15)
    args = parser.parse_args()

    servers: dict[str, Server] = {}
    try:
        for kind, size in (("pool", "1"), ("cold", "0")):
            home = traversable(Path(tempfile.mkdtemp(prefix=f"bench-create-{kind}-")))
            servers[kind] = start_server(home, secrets.token_hex(8), INTERPRETER_POOL_SIZE=size)
        httpx.get(servers["pool"].url + "/health")
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in servers}
        for i in range(args.creates + 1):
            for kind, server in servers.items():
                wait_pool_full(servers["pool"])
                time.sleep(0.5)  # let the refill's last work settle
                measured = sample(server)
                if i > 0:  # the first of each kind warms the front end and the SDK up
                    results[kind].append(measured)
    finally:
        for server in servers.values():
            stop_server(server)

    print("| create -> first result | p50 | p95 | create alone, p50 |")
    print("|---|---|---|---|")
    for kind, label in (("pool", "from the warm pool"), ("cold", "cold (no pool)")):
        firsts = [first for first, _ in results[kind]]
        creates = [create for _, create in results[kind]]
        print(
            f"| {label} ({len(firsts)} sandboxes) | {ms(pct(firsts, 50))} | "
            f"{ms(pct(firsts, 95))} | {ms(pct(creates, 50))} |"
        )


if __name__ == "__main__":
    main()
