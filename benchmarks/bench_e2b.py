"""Issue #5 figures: the official E2B SDK against this service, beside our own SDK, same run.

    .venv/bin/python benchmarks/bench_e2b.py [--rounds 300] [--creates 10]

1. create -> first result: ``Sandbox.create()`` until ``run_code("1+1")`` returned, p50 / p95,
   from the warm pool (default set-up), from the template snapshot (a front end without a pool)
   and cold (neither pool nor snapshot). Samples alternate between the SDKs and the front ends;
   before each, the pool is full and idle.
2. ``run_code("1+1")`` round trip on a running sandbox, p50 / p99: E2B's code-interpreter SDK
   (HTTP/1.1 + NDJSON through the E2B adapter) interleaved with the native SDK.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from e2b_code_interpreter import Sandbox as E2BSandbox  # noqa: E402

from benchmarks.bench_create import wait_pool_full  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402


def use_e2b(server: Server) -> None:
    """What a user of the E2B SDKs sets: three variables, nothing else."""
    os.environ.update(
        E2B_API_URL=server.url, E2B_SANDBOX_URL=server.url, E2B_API_KEY=server.api_key
    )


def first_result_native(server: Server) -> float:
    start = time.perf_counter()
    with Sandbox.create(api_url=server.url, api_key=server.api_key) as sbx:
        assert sbx.run_code("1+1").text == "2"
        return time.perf_counter() - start


def first_result_e2b(server: Server) -> float:
    use_e2b(server)
    start = time.perf_counter()
    sbx = E2BSandbox.create()
    try:
        assert sbx.run_code("1+1").text == "2"
        return time.perf_counter() - start
    finally:
        sbx.kill()


def round_trips(server: Server, rounds: int) -> tuple[list[float], list[float]]:
    use_e2b(server)
    native: list[float] = []
    e2b: list[float] = []
    with Sandbox.create(api_url=server.url, api_key=server.api_key) as ours:
        theirs = E2BSandbox.create()
        try:
            for i in range(rounds + 20):
                t = time.perf_counter()
                assert theirs.run_code("1+1").text == "2"
                t1 = time.perf_counter()
                assert ours.run_code("1+1").text == "2"
                t2 = time.perf_counter()
                if i >= 20:
                    e2b.append(t1 - t)
                    native.append(t2 - t1)
        finally:
            theirs.kill()
    return native, e2b


MODES: dict[str, dict[str, str]] = {
    "pool": {"INTERPRETER_POOL_SIZE": "1"},
    "snapshot": {"INTERPRETER_POOL_SIZE": "0"},
    "cold": {"INTERPRETER_POOL_SIZE": "0", "INTERPRETER_SNAPSHOTS": "0"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--creates", type=int, default=10)
    args = parser.parse_args()

    servers: dict[str, Server] = {}
    kinds: dict[str, Callable[[Server], float]] = {
        "native": first_result_native,
        "e2b": first_result_e2b,
    }
    creates: dict[tuple[str, str], list[float]] = {}
    try:
        for pool, env in MODES.items():
            home = traversable(Path(tempfile.mkdtemp(prefix=f"bench-e2b-{pool}-")))
            key = "e2b_" + secrets.token_hex(20)
            servers[pool] = start_server(home, key, **env)
            if pool == "snapshot":
                wait_pool_full(servers[pool])  # its snapshot is taken
        for i in range(args.creates + 1):
            for pool, server in servers.items():
                for sdk, measure in kinds.items():
                    wait_pool_full(servers["pool"])
                    time.sleep(0.5)  # let the refill's last work settle
                    seconds = measure(server)
                    if i > 0:  # the first of each warms the front end and the SDK up
                        creates.setdefault((sdk, pool), []).append(seconds)
        wait_pool_full(servers["pool"])
        native, e2b = round_trips(servers["pool"], args.rounds)
    finally:
        for server in servers.values():
            stop_server(server)
            shutil.rmtree(server.home, ignore_errors=True)  # its sandboxes are killed

    print("| measure | native SDK p50 | p95 / p99 | E2B SDK p50 | p95 / p99 |")
    print("|---|---|---|---|---|")
    labels = {"pool": "from the warm pool", "snapshot": "from the snapshot", "cold": "cold"}
    for pool, label in labels.items():
        a, b = creates[("native", pool)], creates[("e2b", pool)]
        print(
            f"| create -> first result, {label} ({len(a)} each), p50 / p95 | "
            f"{ms(pct(a, 50))} | {ms(pct(a, 95))} | {ms(pct(b, 50))} | {ms(pct(b, 95))} |"
        )
    print(
        f"| run_code('1+1') round trip ({args.rounds} each, interleaved), p50 / p99 | "
        f"{ms(pct(native, 50))} | {ms(pct(native, 99))} | {ms(pct(e2b, 50))} | "
        f"{ms(pct(e2b, 99))} |"
    )


if __name__ == "__main__":
    main()
