"""Issue #14 figures: a snapshot of a running sandbox (time, and how long the source was
frozen), forks of 1 and 10 (time until all are ready), and create -> first result from a
snapshot, for an idle sandbox and one holding 200 MiB in its kernel; same run.

    .venv/bin/python benchmarks/bench_snapshots.py [--samples 5]

One front end (no pool: creates from a snapshot never use one). A sample of "create from the
snapshot": Sandbox.create(template=<snapshot>) until run_code found the kernel's data.
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
from tests.conftest import start_server, stop_server, traversable  # noqa: E402

LOADS = {"idle": "x = 1", "200 MiB": "import numpy as np\nx = np.ones(200 * 2**20, dtype=np.uint8)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-snapshots-")))
    key = secrets.token_hex(8)
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0")
    rows: list[str] = []
    try:
        for label, code in LOADS.items():
            source = Sandbox.create(api_url=server.url, api_key=key, memory_mb=2048)
            source.run_code(code)
            takes, frozen, creates = [], [], []
            for _ in range(args.samples):
                started = time.perf_counter()
                snapshot = source.create_snapshot()
                takes.append(time.perf_counter() - started)
                frozen.append(snapshot.frozen_seconds)
                started = time.perf_counter()
                clone = Sandbox.create(template=snapshot.id, api_url=server.url, api_key=key)
                assert clone.run_code("x is not None").text == "True"
                creates.append(time.perf_counter() - started)
                clone.kill()
                Sandbox.delete_snapshot(snapshot.id, api_url=server.url, api_key=key)
            forks = {}
            for count in (1, 10):
                started = time.perf_counter()
                made = source.fork(count=count)
                forks[count] = time.perf_counter() - started
                for fork in made:
                    fork.kill()  # type: ignore[union-attr]
            source.kill()
            rows.append(
                f"| {label} | {ms(pct(takes, 50))} | {ms(pct(frozen, 50))} | "
                f"{ms(pct(creates, 50))} | {forks[1]:.2f} s | {forks[10]:.2f} s |"
            )
    finally:
        stop_server(server)
    print(
        f"| source's kernel | snapshot, p50 | source frozen, p50 | create from it -> first "
        f"result, p50 ({args.samples}) | fork of 1 | fork of 10 (all ready) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
