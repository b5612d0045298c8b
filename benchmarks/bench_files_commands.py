"""Issues #4 and 19 (item 5) figures: 1 GiB upload and download through the API vs `cp` on the
same disk, and command start latency (`true`), with the raw process start on the host beside it.

    .venv/bin/python benchmarks/bench_files_commands.py [--size-mib 1024] [--rounds 50]
        [--transfers 3] [--before <git ref>]

Each transfer is timed ``--transfers`` times (median: the machine is shared). `cp` is timed
inside the sandbox, on the sandbox's own disk (its ext4 on a loop device, where an upload
writes and a download reads), and on the host's disk. With ``--before``, that tree (a git
worktree, as bench_ab.py; its sandbox image built first) serves the same transfers with its
own SDK, each one right before this tree's, so both see the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = os.urandom(1 << 20)
STEPS = ("upload", "download", "cp")


class Blocks(io.RawIOBase):
    """``size`` bytes of a file object of unknown length: the SDK streams it in chunks."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self.left, len(BLOCK))
        self.left -= n
        return BLOCK[:n]


def helper(url: str, key: str, size: int) -> None:
    """One sandbox, through the SDK on PYTHONPATH (its tree's); each step named on stdin is
    timed and its seconds printed."""
    from interpreter_sdk import Sandbox

    with Sandbox.create(api_url=url, api_key=key, memory_mb=2048) as sbx:
        print("ready", sbx.sandbox_id, flush=True)
        for line in sys.stdin:
            step = line.strip()
            started = time.perf_counter()
            if step == "upload":
                sbx.files.write("big.bin", Blocks(size))
            elif step == "download":
                received = sum(len(c) for c in sbx.files.read_stream("big.bin"))
                assert received == size, received
            elif step == "cp":
                timed = sbx.commands.run("TIMEFORMAT=%R; time cp big.bin copy.bin; rm copy.bin")
                print(float(timed.stderr.strip().splitlines()[-1]), flush=True)
                continue
            elif step == "true":
                sbx.commands.run("true")
            print(time.perf_counter() - started, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agent_of(sandbox_id: str) -> int:
    """The host PID of a sandbox's agent (its mounts name the sandbox's folder)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and b"agent/server.py" in (entry / "cmdline").read_bytes():
                if f"/sandboxes/{sandbox_id}/" in (entry / "mountinfo").read_text():
                    return int(entry.name)
    raise RuntimeError(f"no agent found for {sandbox_id}")


class Helper:
    """A helper process and the processes a transfer goes through: the SDK (the helper), the
    front end, the agent; ``cpu`` has their CPU seconds per step."""

    def __init__(self, tree: Path, url: str, key: str, size: int, front_end: int) -> None:
        env = {**os.environ, "PYTHONPATH": f"{tree / 'sdk' / 'python'}"}
        argv = [sys.executable, __file__, "--helper", url, key, str(size)]
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready, _, sandbox_id = self._line().partition(" ")
        if ready != "ready":
            raise RuntimeError("the helper did not start")
        self.pids = (self.process.pid, front_end, agent_of(sandbox_id))
        self.cpu: dict[str, list[tuple[float, ...]]] = {step: [] for step in STEPS}

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def time(self, step: str) -> float:
        assert self.process.stdin is not None
        before = [cpu_seconds(pid) for pid in self.pids]
        self.process.stdin.write(step + "\n")
        self.process.stdin.flush()
        seconds = float(self._line())
        if step in self.cpu:
            used = tuple(cpu_seconds(pid) - b for pid, b in zip(self.pids, before, strict=True))
            self.cpu[step].append(used)
        return seconds

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def build_image(tree: Path) -> None:
    """The tree's sandbox image (its kernels layer: its own agent), serialized with other
    builds on this machine."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    build = [sys.executable, "-m", "interpreter.cli", "template", "build", "code-interpreter"]
    subprocess.run(["flock", "/tmp/me/build.lock", *build], env=env, check=True, cwd=tree)


def host_cp(home: Path, size_mib: int) -> float:
    source = home / "source.bin"
    with open(source, "wb") as out:
        for _ in range(size_mib):
            out.write(BLOCK)
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(home / "copy.bin")], check=True)
    seconds = time.perf_counter() - started
    source.unlink()
    (home / "copy.bin").unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--transfers", type=int, default=3)
    parser.add_argument("--before", help="git ref of a baseline tree, measured beside this one")
    parser.add_argument("--helper", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.helper:
        helper(args.helper[0], args.helper[1], int(args.helper[2]))
        return
    sys.path.insert(0, str(REPO))
    from benchmarks.bench_ab import server_of, worktree
    from tests.conftest import stop_server, traversable

    size = args.size_mib << 20
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-files-")))
    load = [os.getloadavg()[0]]
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, home, ignore_errors=True)  # last: servers stopped first
        trees = {"this tree": REPO}
        if args.before:
            old = stack.enter_context(worktree(args.before))
            build_image(old)
            trees = {args.before: old, **trees}
        build_image(REPO)
        helpers: dict[str, Helper] = {}
        for name, tree in trees.items():
            folder = home / name.replace("/", "-").replace(" ", "-")
            folder.mkdir()
            server = server_of(tree, traversable(folder))
            stack.callback(stop_server, server)
            helpers[name] = Helper(tree, server.url, server.api_key, size, server.process.pid)
            stack.callback(helpers[name].close)
        times = {name: {step: [] for step in (*STEPS, "true")} for name in trees}
        for _ in range(args.transfers):
            for step in STEPS:
                for name, one in helpers.items():
                    times[name][step].append(one.time(step))
            load.append(os.getloadavg()[0])
        for name, one in helpers.items():
            for _ in range(5):  # warm-up
                one.time("true")
            times[name]["true"] = [one.time("true") for _ in range(args.rounds)]
        copy = host_cp(home, args.size_mib)
        host = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            subprocess.run(["/bin/bash", "-c", "true"], check=True)
            host.append(time.perf_counter() - started)
        cpu = {name: one.cpu for name, one in helpers.items()}
    report(args, times, cpu, copy, host, load)


def report(
    args: argparse.Namespace,
    times: dict[str, dict[str, list[float]]],
    cpu: dict[str, dict[str, list[tuple[float, ...]]]],
    copy: float,
    host: list[float],
    load: list[float],
) -> None:
    mib = args.size_mib
    names = list(times)
    rate = {n: {s: mib / statistics.median(times[n][s]) for s in STEPS} for n in names}
    print(f"load average (1 min) during the transfers: {min(load):.1f}-{max(load):.1f}")
    print(f"| median of {args.transfers} | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    rows = [
        ("upload", f"upload {mib} MiB (SDK -> front end -> agent -> disk)"),
        ("download", f"download {mib} MiB (disk -> agent -> front end -> SDK)"),
        ("cp", f"`cp` of {mib} MiB inside the sandbox, on its disk"),
    ]
    for step, label in rows:
        print(f"| {label} | " + " | ".join(f"{rate[n][step]:.0f} MiB/s" for n in names) + " |")
    for step in ("upload", "download"):
        cells = [f"{rate[n][step] / rate[n]['cp']:.0%}" for n in names]
        print(f"| {step} / `cp` inside | " + " | ".join(cells) + " |")
    for step in ("upload", "download"):
        cells = [f"{rate[n][step] / (mib / copy):.0%}" for n in names]
        print(f"| {step} / `cp` on the host ({mib / copy:.0f} MiB/s) | " + " | ".join(cells) + " |")
    gib = mib / 1024
    for step in ("upload", "download"):
        cells = []
        for n in names:
            sdk, front, agent = (statistics.median(c[i] for c in cpu[n][step]) for i in range(3))
            cells.append(f"{sdk / gib:.2f} / {front / gib:.2f} / {agent / gib:.2f} s")
        print(f"| {step}: CPU per GiB, SDK / front end / agent | " + " | ".join(cells) + " |")
    p50 = [f"{statistics.median(times[n]['true']) * 1000:.1f} ms" for n in names]
    print(f"| commands.run('true') p50 ({args.rounds} runs) | " + " | ".join(p50) + " |")
    print(f"bash -c true on the host, p50: {statistics.median(host) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
