"""Issue #6 figures: create -> first result from the warm pool, from a template snapshot and
cold, in the same run.

    .venv/bin/python benchmarks/bench_create.py [--creates 15] [--before <git ref>]
        [--before-criu <binary>] [--kinds pool,snapshot,cold]

Three front ends, each with its own state folder: one keeps a warm pool of one sandbox (no
snapshot), one restores every sandbox from the template's snapshot (no pool), one has neither.
Samples rotate between them; before each, every pool is full and idle (its refill done), so no
kind of sample pays for another's start-ups. A sample is what a user sees through the SDK:
``Sandbox.create()`` until ``run_code("1+1")`` returned its result. With ``--before``, that
tree (a git worktree, as bench_ab.py) gets the same three front ends, each sample of it right
before this tree's of the same kind, and its own SDK: each tree's samples are taken by a client
process on that tree's ``sdk/python``. ``--before-criu <binary>``: the baseline's front ends run
that CRIU (e.g. one built without a patch of scripts/criu-patches), this tree's the installed one.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.stats import ms, pct  # noqa: E402

if TYPE_CHECKING:
    from tests.conftest import Server

KINDS = (("pool", "1", "0"), ("snapshot", "0", "1"), ("cold", "0", "0"))
DEFAULT = "code-interpreter"
LABELS = {
    "pool": "from the warm pool",
    "snapshot": "restored from the template snapshot",
    "cold": "cold (no pool, no snapshot)",
}


def wait_pool_full(server: Server) -> None:
    deadline = time.monotonic() + 300
    with server.client() as client:
        while time.monotonic() < deadline:
            state = client.get("/v1/pool").json()
            if all(s["ready"] == s["size"] and s["snapshot"] != "pending" for s in state):
                # Only the default template is sampled (another may not be built for a tree).
                if any(s["snapshot"] == "failed" and s["template"] == DEFAULT for s in state):
                    raise RuntimeError(f"no snapshot: {state}")
                return
            time.sleep(0.1)
    raise RuntimeError(f"the pool did not refill: {state}")


def sample(url: str, api_key: str) -> tuple[float, float, float]:
    """Seconds from create to the sandbox's answer, of the create alone, and of the next
    run_code (the machine's round trip at that moment: what the first result costs at least)."""
    from interpreter_sdk import Sandbox  # the client's tree's SDK (PYTHONPATH)

    start = time.perf_counter()
    sbx = Sandbox.create(api_url=url, api_key=api_key)
    created = time.perf_counter()
    try:
        assert sbx.run_code("1+1").text == "2"
        first = time.perf_counter()
        assert sbx.run_code("1+1").text == "2"
        return first - start, created - start, time.perf_counter() - first
    finally:
        sbx.kill()
        sbx.close()


def client_loop() -> None:
    """A client process: one sample per line read (url, key), its figures written back."""
    for line in sys.stdin:
        url, api_key = line.split()
        print(json.dumps(sample(url, api_key)), flush=True)


class Client:
    def __init__(self, tree: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree / "sdk" / "python")}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--client"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def sample(self, server: Server) -> tuple[float, float, float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{server.url} {server.api_key}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the client process ended")
        first, create, next_run = json.loads(answer)
        return first, create, next_run

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=15)
    parser.add_argument("--before", help="git ref of a baseline tree, measured beside this one")
    parser.add_argument("--before-criu", help="CRIU binary for the baseline's front ends")
    parser.add_argument(
        "--kinds", default=",".join(k for k, _, _ in KINDS), help="which of pool,snapshot,cold"
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before_criu and not args.before:
        parser.error("--before-criu needs --before")
    if args.client:
        client_loop()
        return
    kinds = [k for k in KINDS if k[0] in args.kinds.split(",")]
    if not kinds:
        parser.error(f"--kinds: none of {args.kinds!r} is pool, snapshot or cold")
    from benchmarks.bench_ab import worktree
    from tests.conftest import start_server, stop_server, traversable

    servers: dict[tuple[str, str], Server] = {}
    clients: dict[str, Client] = {}
    with contextlib.ExitStack() as stack:
        trees = {"this tree": REPO}
        if args.before:
            before = f"{args.before}, {args.before_criu}" if args.before_criu else args.before
            trees = {before: stack.enter_context(worktree(args.before)), **trees}
        criu = {tree: {} for tree in trees}
        if args.before_criu:
            criu[next(iter(trees))] = {"INTERPRETER_CRIU": args.before_criu}
        try:
            for tree, path in trees.items():
                clients[tree] = Client(path)
                for kind, size, snapshots in kinds:
                    home = traversable(Path(tempfile.mkdtemp(prefix=f"bench-create-{kind}-")))
                    servers[kind, tree] = start_server(
                        home, secrets.token_hex(8), INTERPRETER_POOL_SIZE=size,
                        INTERPRETER_SNAPSHOTS=snapshots, PYTHONPATH=str(path),
                        # `python -m` puts the working folder (this tree) first on sys.path,
                        # ahead of PYTHONPATH: without this, both trees would serve this one.
                        PYTHONSAFEPATH="1", **criu[tree],
                    )  # fmt: skip
            results: dict[tuple[str, str], list[tuple[float, float, float]]] = {
                key: [] for key in servers
            }
            for i in range(args.creates + 1):
                for (kind, _, _), tree in itertools.product(kinds, trees):
                    server = servers[kind, tree]
                    for each in servers.values():
                        wait_pool_full(each)
                    time.sleep(0.5)  # let the refill's last work settle
                    measured = clients[tree].sample(server)
                    if i > 0:  # the first of each kind warms the front end and the SDK up
                        results[kind, tree].append(measured)
        finally:
            for server in servers.values():
                stop_server(server)
                shutil.rmtree(server.home, ignore_errors=True)  # its sandboxes are killed
            for client in clients.values():
                client.close()

    print("| create -> first result | p50 | p95 | create alone, p50 | next run_code, p50 |")
    print("|---|---|---|---|---|")
    for kind, _, _ in kinds:
        label = LABELS[kind]
        for tree in trees:
            rows = results[kind, tree]
            firsts, creates, nexts = (list(column) for column in zip(*rows, strict=True))
            name = f"{tree}: {label}" if args.before else label
            print(
                f"| {name} ({len(firsts)} sandboxes) | {ms(pct(firsts, 50))} | "
                f"{ms(pct(firsts, 95))} | {ms(pct(creates, 50))} | {ms(pct(nexts, 50))} |"
            )


if __name__ == "__main__":
    main()
