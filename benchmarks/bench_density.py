"""Issue #19, item 1: host memory per idle sandbox, without and with KSM, same run.

    .venv/bin/python benchmarks/bench_density.py [--counts 1,10,20] [--settle 60]

For each mode (KSM off: the default; on: INTERPRETER_KSM=true), one front end (no pool: every
sandbox is restored from the template's snapshot, the normal create) and sandboxes created up to
each count, each with its default Python context used once (pandas and matplotlib are loaded by
its start-up). After ``--settle`` seconds: the drop of MemAvailable since before the first
create, divided by the count, beside the sum of the sandboxes' PSS (every process in their
cgroups, /proc/PID/smaps_rollup) divided by the count. With KSM, ksmd's CPU over the settle time
and the pages it shares; for this run ksmd scans 5,000 pages per 20 ms (the kernel's default,
100, would take minutes to reach 20 sandboxes), its settings put back after.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from interpreter.runtime import linux  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import start_server, stop_server, traversable  # noqa: E402

KSM = Path("/sys/kernel/mm/ksm")
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 2**20


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable")


def sandbox_pss(home: Path) -> int:
    """PSS of every process of this run's sandboxes (their jails mount from ``home``)."""
    total = 0
    parent = linux.CGROUP_ROOT / "memory" / linux.NSJAIL_CGROUP_PARENT
    for folder in parent.iterdir() if parent.is_dir() else ():
        procs = folder / "cgroup.procs"
        pids = procs.read_text().split() if procs.is_file() else []
        try:
            if not pids or str(home) not in Path(f"/proc/{pids[0]}/mountinfo").read_text():
                continue
        except OSError:
            continue
        for pid in pids:
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            for line in rollup.splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


def ksmd_ticks() -> int:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.split(" (", 1)[1].startswith("ksmd)"):
                fields = stat.rsplit(")", 1)[1].split()
                return int(fields[11]) + int(fields[12])  # utime + stime
    return 0


def measure(ksm: bool, counts: list[int], settle: float) -> list[str]:
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-density-")))
    key = secrets.token_hex(8)
    env = {"INTERPRETER_POOL_SIZE": "0", "INTERPRETER_KSM": "true" if ksm else "false"}
    server = start_server(home, key, **env)
    made: list[Sandbox] = []
    rows = []
    try:
        Sandbox.create(api_url=server.url, api_key=key).kill()  # the template's snapshot made
        time.sleep(2)
        before = mem_available()
        for count in counts:
            while len(made) < count:
                sandbox = Sandbox.create(api_url=server.url, api_key=key, timeout=3600)
                made.append(sandbox)
                assert sandbox.run_code("1 + 1").text == "2"
            ticks = ksmd_ticks()
            time.sleep(settle)
            cpu = (ksmd_ticks() - ticks) / os.sysconf("SC_CLK_TCK") / settle * 100
            drop = (before - mem_available()) / count / MiB
            pss = sandbox_pss(home) / count / MiB
            shared = int((KSM / "pages_sharing").read_text()) * PAGE / MiB
            extra = f" | {shared:.0f} MiB | {cpu:.1f} %" if ksm else " | - | -"
            rows.append(f"| {'on' if ksm else 'off'} | {count} | {drop:.1f} | {pss:.1f}{extra} |")
            print(rows[-1], flush=True)
    finally:
        for sandbox in made:
            sandbox.kill()
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1,10,20")
    parser.add_argument("--settle", type=float, default=60.0)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    saved = {name: (KSM / name).read_text() for name in ("run", "pages_to_scan", "sleep_millisecs")}
    rows = ["| KSM | sandboxes | MemAvailable drop / sandbox (MiB) | PSS / sandbox (MiB) "
            "| KSM shares | ksmd CPU |", "|---|---|---|---|---|---|"]  # fmt: skip
    try:
        rows += measure(False, counts, args.settle)
        (KSM / "pages_to_scan").write_text("5000")
        (KSM / "sleep_millisecs").write_text("20")
        rows += measure(True, counts, args.settle)
    finally:
        (KSM / "run").write_text("2")  # unmerge what this run merged
        time.sleep(5)
        for name, value in saved.items():
            (KSM / name).write_text(value)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
