"""Issue #4 figures: 1 GiB upload and download through the API vs `cp` on the same disk, and
command start latency (`true`), with the raw process start on the host beside it.

    .venv/bin/python benchmarks/bench_files_commands.py [--size-mib 1024] [--rounds 50]
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import start_server, stop_server, traversable  # noqa: E402

BLOCK = os.urandom(1 << 20)


class Blocks(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self.left, len(BLOCK))
        self.left -= n
        return BLOCK[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    size = args.size_mib << 20
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-")))
    key = secrets.token_hex(8)
    server = start_server(home, key)
    try:
        with Sandbox.create(api_url=server.url, api_key=key, memory_mb=2048) as sbx:
            t = time.perf_counter()
            sbx.files.write("big.bin", Blocks(size))
            upload = time.perf_counter() - t
            t = time.perf_counter()
            received = sum(len(c) for c in sbx.files.read_stream("big.bin"))
            download = time.perf_counter() - t
            assert received == size
            sbx.files.remove("big.bin")
            starts = []
            for _ in range(args.rounds + 5):
                t = time.perf_counter()
                sbx.commands.run("true")
                starts.append(time.perf_counter() - t)
            starts = starts[5:]
        source = home / "source.bin"
        with open(source, "wb") as out:
            for _ in range(args.size_mib):
                out.write(BLOCK)
        subprocess.run(["sync"], check=True)
        t = time.perf_counter()
        subprocess.run(["cp", str(source), str(home / "copy.bin")], check=True)
        copy = time.perf_counter() - t
        host = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            subprocess.run(["/bin/bash", "-c", "true"], check=True)
            host.append(time.perf_counter() - t)
    finally:
        stop_server(server)
    mib = args.size_mib
    print("| measure | figure |")
    print("|---|---|")
    print(f"| upload {mib} MiB (SDK -> agent -> disk) | {mib / upload:.0f} MiB/s |")
    print(
        f"| download {mib} MiB (disk -> agent -> front end -> SDK) | {mib / download:.0f} MiB/s |"
    )
    print(f"| `cp` of {mib} MiB on the same disk | {mib / copy:.0f} MiB/s |")
    p50 = statistics.median(starts) * 1000
    print(f"| commands.run('true') p50 ({args.rounds} runs) | {p50:.1f} ms |")
    print(f"| bash -c true on the host, p50 | {statistics.median(host) * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
