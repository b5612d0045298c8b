"""Issue 19, items 2 and 6: the front end's own CPU per ``run_code('1+1')``, the CPU time of
its event loop's thread (``time.thread_time()`` on that thread), which the noise of a busy
machine changes far less than latencies.

    .venv/bin/python benchmarks/bench_frontend_cpu.py [--runs 200] [--blocks 3]

The front end runs in this process (``bench_run_code.FrontEnd``: uvicorn, uvloop, httptools);
the sync SDK calls it from a process of its own. First ``--runs`` runs fill the notebook (as a
sandbox in use has one), then each block of ``--runs`` is measured. For a before/after, run it
in a git worktree of the older tree too, with that tree's SDK:
``cd <worktree> && PYTHONPATH=<worktree>/sdk/python <repo>/.venv/bin/python
benchmarks/bench_frontend_cpu.py``.
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
from benchmarks.bench_run_code import FrontEnd, Helper  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import traversable  # noqa: E402


async def loop_cpu() -> float:
    return time.thread_time()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-cpu-")))
    front = FrontEnd(home, secrets.token_hex(8))
    blocks = []
    try:
        key = front.app.state.api_key
        with Sandbox.create(api_url=front.url, api_key=key) as sbx:
            client = Helper([], "sdk", {"url": front.url, "key": key, "id": sbx.sandbox_id})
            try:
                for _ in range(args.runs):
                    client.sample()
                for _ in range(args.blocks):
                    start = front.call(loop_cpu())
                    for _ in range(args.runs):
                        client.sample()
                    blocks.append((front.call(loop_cpu()) - start) / args.runs * 1e3)
            finally:
                client.close()
    finally:
        front.stop()
    figures = " / ".join(f"{ms:.2f}" for ms in blocks)
    print(f"{REPO}: front end CPU per run_code, {args.runs} runs a block: {figures} ms")


if __name__ == "__main__":
    main()
