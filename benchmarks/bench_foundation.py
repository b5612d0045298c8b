"""Issue #2 figures, side by side with a baseline in the same run.

    .venv/bin/python benchmarks/bench_foundation.py [--rounds 300] [--creates 5]

1. run_code("1+1") round trip through the SDK (HTTP + NDJSON + gateway websocket + jail)
   vs raw jupyter_client against an ipykernel on this host: p50 / p99.
2. create -> first result, cold (no pool): p50 / max.
3. idle sandbox memory: PSS summed over all of its processes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.stats import ms as _ms  # noqa: E402
from benchmarks.stats import pct  # noqa: E402
from interpreter_sdk import Sandbox  # noqa: E402
from tests.conftest import start_server, stop_server, traversable  # noqa: E402
from tests.e2e.host import descendants, folder_of, nsjail_pids  # noqa: E402


def ms(seconds: float) -> str:
    return _ms(seconds, 2)


def raw_execute(kc: BlockingKernelClient) -> None:
    """execute_request until its reply and idle: the tight loop a service is measured against."""
    msg_id = kc.execute("1+1")
    replied = idle = False
    while not (replied and idle):
        if not replied and kc.shell_channel.msg_ready():
            replied = kc.get_shell_msg()["parent_header"].get("msg_id") == msg_id
        if kc.iopub_channel.msg_ready():
            msg = kc.get_iopub_msg()
            idle = idle or (
                msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            )


def baseline_kernel() -> tuple[KernelManager, BlockingKernelClient]:
    """An ipykernel on the host started like the image's (same flags, same start-up file)."""
    spec = json.loads((REPO / "sandbox/jupyter/kernels/python3/kernel.json").read_text())
    argv = [sys.executable, *spec["argv"][1:]]
    argv = [a.replace("/opt/interpreter/", str(REPO / "kernels") + "/") for a in argv]
    km = KernelManager(kernel_cmd=argv)
    km.start_kernel(env={**os.environ, **spec["env"]}, stderr=subprocess.DEVNULL)
    kc = km.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def interleaved(sbx: Sandbox, kc: BlockingKernelClient, rounds: int) -> tuple[list[float], ...]:
    """Alternate SDK and raw samples so both see the same machine noise."""
    sdk, raw = [], []
    for i in range(rounds + 20):
        t = time.perf_counter()
        assert sbx.run_code("1+1").text == "2"
        t1 = time.perf_counter()
        raw_execute(kc)
        t2 = time.perf_counter()
        if i >= 20:
            sdk.append(t1 - t)
            raw.append(t2 - t1)
    return sdk, raw


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--creates", type=int, default=5)
    args = parser.parse_args()

    home = traversable(Path(tempfile.mkdtemp(prefix="bench-")))
    key = secrets.token_hex(8)
    # Cold creates, as the figure says (bench_create.py measures the pool and snapshots).
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0", INTERPRETER_SNAPSHOTS="0")
    opts = {"api_url": server.url, "api_key": key}
    try:
        km, kc = baseline_kernel()
        with Sandbox.create(**opts) as sbx:
            try:
                sdk, raw = interleaved(sbx, kc, args.rounds)
            finally:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
            time.sleep(2)
            (nsjail,) = nsjail_pids(folder_of(server, sbx.sandbox_id))
            tree = descendants(nsjail)
            memory = sum(pss_kib(pid) for pid in tree)

        creates = []
        for _ in range(args.creates):
            t = time.perf_counter()
            with Sandbox.create(**opts) as sbx:
                assert sbx.run_code("1+1").text == "2"
                creates.append(time.perf_counter() - t)
    finally:
        stop_server(server)

    print("| measure | p50 | p99 / max |")
    print("|---|---|---|")
    print(
        f"| run_code('1+1'), SDK -> sandbox ({args.rounds} runs) | {ms(pct(sdk, 50))} | "
        f"{ms(pct(sdk, 99))} |"
    )
    print(
        f"| execute '1+1', raw jupyter_client -> same ipykernel on the host | "
        f"{ms(pct(raw, 50))} | {ms(pct(raw, 99))} |"
    )
    print(f"| overhead at p50 | {ms(pct(sdk, 50) - pct(raw, 50))} | |")
    print(
        f"| create -> first result, cold ({args.creates} sandboxes) | "
        f"{ms(statistics.median(creates))} | {ms(max(creates))} |"
    )
    print(f"| idle sandbox memory, PSS over {len(tree)} processes | {memory / 1024:.0f} MiB | |")


if __name__ == "__main__":
    main()
