"""Issue #12 figures: what egress costs a create, and the throughput of a sandbox's network.

    .venv/bin/python benchmarks/bench_network.py [--creates 8]

One front end (pool of one, snapshots on). Creates alternate egress off / on, three ways each:
from the warm pool (the claim attaches the network), with the pool empty (restored from the
template snapshot), and cold (INTERPRETER_SNAPSHOTS off: a second front end). Then a 200 MiB
download from a server in a network namespace made here, by the host itself and from inside a
sandbox with egress (through its veth, the host's forwarding, nftables and NAT), same run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.stats import pct  # noqa: E402
from tests.conftest import Server, start_server, stop_server  # noqa: E402

SIZE = 200 << 20
SERVER_IP = "198.51.100.2"


def create(server: Server, egress: bool) -> float:
    body = {"network": {"enabled": True}} if egress else {}
    with server.client() as http:
        started = time.perf_counter()
        sandbox = http.post("/v1/sandboxes", json=body).raise_for_status().json()["id"]
        took = time.perf_counter() - started
        http.delete(f"/v1/sandboxes/{sandbox}").raise_for_status()
    return took


def creates(server: Server, rounds: int, wait_pool: bool) -> dict[bool, list[float]]:
    out: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for egress in (False, True):
            if wait_pool:
                time.sleep(4)  # the pool refills (a snapshot restore) after a quiet second
            out[egress].append(create(server, egress))
    return out


def namespace_server() -> tuple[str, subprocess.Popen[bytes]]:
    name = "benchnet"
    run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True)  # noqa: E731
    run("netns", "add", name)
    run("link", "add", "bnh", "type", "veth", "peer", "name", "bnp", "netns", name)
    run("addr", "add", "198.51.100.1/24", "dev", "bnh")
    run("link", "set", "bnh", "up")
    run("netns", "exec", name, "ip", "addr", "add", f"{SERVER_IP}/24", "dev", "bnp")
    run("netns", "exec", name, "ip", "link", "set", "bnp", "up")
    folder = Path(tempfile.mkdtemp())
    (folder / "blob").write_bytes(b"\0" * SIZE)
    web = subprocess.Popen(
        ["ip", "netns", "exec", name, sys.executable, "-m", "http.server", "8000",
         "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            httpx.head(f"http://{SERVER_IP}:8000/blob", timeout=0.2)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return name, web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        homes = [Path(tmp) / n for n in ("fast", "cold")]
        for home in homes:
            home.mkdir()
        fast = start_server(homes[0], "bench", INTERPRETER_POOL_SIZE="1")
        cold = start_server(
            homes[1], "bench", INTERPRETER_POOL_SIZE="0", INTERPRETER_SNAPSHOTS="false"
        )
        name, web = namespace_server()  # after the front ends: its network is not the host's
        try:
            create(fast, False)  # the template snapshot, taken once
            time.sleep(5)
            rows = {
                "warm pool": creates(fast, args.creates, wait_pool=True),
                "template snapshot (pool empty)": creates(fast, args.creates, wait_pool=False),
                "cold": creates(cold, max(2, args.creates // 4), wait_pool=False),
            }
            host, inside = [], []
            with fast.client() as http:
                sandbox = http.post("/v1/sandboxes", json={"network": {"enabled": True}}).json()[
                    "id"
                ]
                code = (
                    "import time, urllib.request\nt = time.perf_counter()\n"
                    f"n = len(urllib.request.urlopen('http://{SERVER_IP}:8000/blob').read())\n"
                    "print(n, time.perf_counter() - t)"
                )
                for _ in range(3):
                    started = time.perf_counter()
                    assert (
                        len(httpx.get(f"http://{SERVER_IP}:8000/blob", timeout=60).content) == SIZE
                    )
                    host.append(time.perf_counter() - started)
                    answer = http.post(f"/v1/sandboxes/{sandbox}/execute", json={"code": code})
                    line = next(x for x in answer.text.splitlines() if '"stdout"' in x)
                    got, seconds = httpx.Response(200, content=line).json()["text"].split()
                    assert int(got) == SIZE
                    inside.append(float(seconds))
                http.delete(f"/v1/sandboxes/{sandbox}")
        finally:
            web.kill()
            subprocess.run(["ip", "link", "del", "bnh"], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            stop_server(fast)
            stop_server(cold)
    print("| create → running, p50 / p95 | egress off | egress on |")
    print("|---|---|---|")
    for label, samples in rows.items():
        cells = [
            f"{pct(samples[e], 50) * 1000:.0f} / {pct(samples[e], 95) * 1000:.0f} ms"
            for e in (False, True)
        ]
        print(f"| {label} ({len(samples[False])} each) | {cells[0]} | {cells[1]} |")
    mib = SIZE >> 20
    print("\n| 200 MiB over HTTP from a local namespace, best of 3 | seconds | MiB/s |")
    print("|---|---|---|")
    for label, samples in (
        ("the host itself (httpx)", host),
        ("inside a sandbox (urllib), through its veth + NAT", inside),
    ):
        print(f"| {label} | {min(samples):.2f} | {mib / min(samples):.0f} |")


if __name__ == "__main__":
    main()
