"""A/B of two trees of this repo in one run: the cost of a change on create, run_code, pause and
resume, measured side by side on the same (noisy) machine.

    .venv/bin/python benchmarks/bench_ab.py --before <git ref> [--sandboxes 8] [--runs 30]

The ``--before`` tree is checked out in a temporary git worktree; both front ends start at once
(each with its own home, no warm pool: every create restores the template snapshot, the path a
create takes when the pool is empty), and every sample alternates between them: create → first
result, ``runs`` × ``run_code('1+1')``, a pause and a resume, a kill.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.stats import pct  # noqa: E402
from tests.conftest import Server, start_server, stop_server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(folder), ref])
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)])


def server_of(tree: Path, home: Path) -> Server:
    # The tree's own code, this venv's packages.
    return start_server(
        home, "bench", INTERPRETER_POOL_SIZE="0", PYTHONPATH=f"{tree}:{tree / 'sdk' / 'python'}"
    )


def sample(server: Server, runs: int, into: dict[str, list[float]]) -> None:
    with server.client() as http:
        started = time.perf_counter()
        sandbox = http.post("/v1/sandboxes", json={}).raise_for_status().json()["id"]
        execute = f"/v1/sandboxes/{sandbox}/execute"
        http.post(execute, json={"code": "1+1"}).raise_for_status()
        into["create"].append(time.perf_counter() - started)
        for _ in range(runs):
            started = time.perf_counter()
            http.post(execute, json={"code": "1+1"}).raise_for_status()
            into["run_code"].append(time.perf_counter() - started)
        started = time.perf_counter()
        http.post(f"/v1/sandboxes/{sandbox}/pause").raise_for_status()
        into["pause"].append(time.perf_counter() - started)
        started = time.perf_counter()
        http.post(f"/v1/sandboxes/{sandbox}/resume", json={}).raise_for_status()
        http.post(execute, json={"code": "1+1"}).raise_for_status()
        into["resume"].append(time.perf_counter() - started)
        http.delete(f"/v1/sandboxes/{sandbox}").raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="git ref of the baseline tree")
    parser.add_argument("--sandboxes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    names = ("create", "run_code", "pause", "resume")
    results = {tree: {n: [] for n in names} for tree in ("before", "after")}
    with worktree(args.before) as old, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        homes = Path(tmp) / "before", Path(tmp) / "after"
        for home in homes:
            home.mkdir()
        servers = {"before": server_of(old, homes[0]), "after": server_of(REPO, homes[1])}
        try:
            for server in servers.values():  # the template snapshot, taken once, first
                sample(server, 1, {n: [] for n in names})
            for _ in range(args.sandboxes):
                for tree, server in servers.items():
                    sample(server, args.runs, results[tree])
        except httpx.HTTPError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            raise
        finally:
            for server in servers.values():
                stop_server(server)
    print(f"| {args.sandboxes} sandboxes each, alternating | before ({args.before}) | after |")
    print("|---|---|---|")
    for name in names:
        cells = [
            f"{pct(results[t][name], 50) * 1000:.1f} / {pct(results[t][name], 95) * 1000:.1f} ms"
            for t in ("before", "after")
        ]
        print(f"| {name} p50 / p95 ({len(results['after'][name])}) | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
