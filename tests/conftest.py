"""Shared fixtures: a real front end (uvicorn subprocess) and sandboxes that clean up after."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_ID = secrets.token_hex(4)


@dataclass
class Server:
    url: str
    api_key: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.api_key}, timeout=120)


# Test servers for egress, in a network namespace (test_hosts): never a public address.
PUBLIC = ("198.51.100.2", "198.51.100.3")  # TEST-NET-2: neither private nor the host's
PRIVATE = "10.99.0.2"
PORT = 8000


@dataclass
class Hosts:
    namespace: str
    server: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def test_hosts(server: Server) -> Iterator[Hosts]:
    """A namespace holding the test servers' addresses, routed from the host by a veth (made
    after the front end started: its own networks are read at start and blocked)."""
    name = "itest" + secrets.token_hex(3)
    host_end, far_end = "itv" + name[-6:], "itp" + name[-6:]

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", far_end, "netns", name)
        ip("addr", "add", "198.51.100.1/24", "dev", host_end)
        ip("addr", "add", "10.99.0.1/24", "dev", host_end)
        ip("link", "set", host_end, "up")
        inside = ["netns", "exec", name, "ip"]
        for address in (*PUBLIC, PRIVATE):
            prefix = "24"
            ip(*inside, "addr", "add", f"{address}/{prefix}", "dev", far_end)
        ip(*inside, "link", "set", far_end, "up")
        ip(*inside, "link", "set", "lo", "up")
        web = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-m", "http.server", str(PORT),
             "--bind", "0.0.0.0", "--directory", "/var/empty"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://{PUBLIC[0]}:{PORT}/", timeout=0.2)
                    break
                except httpx.HTTPError:
                    pass
            yield Hosts(name, web)
        finally:
            web.kill()
            web.wait()
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def traversable(path: Path) -> Path:
    """Let the sandbox's unprivileged ids traverse pytest's private (0700) temp folders."""
    for folder in [path, *path.parents]:
        if folder == Path("/tmp"):
            break
        folder.chmod(folder.stat().st_mode | 0o001)
    return path


def start_server(home: Path, api_key: str, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
    traversable(home)
    log = home / f"server-{port}.log"
    environ = {
        **os.environ,
        "INTERPRETER_HOME": str(home),
        "INTERPRETER_IMAGES_DIR": os.environ.get(
            "INTERPRETER_IMAGES_DIR", "/var/lib/interpreter/images"
        ),
        "INTERPRETER_API_KEY": api_key,
        # One warm sandbox: sandboxes come from the pool as in production, and its refills
        # (a core for seconds each) stay affordable on a 2-core CI box.
        "INTERPRETER_POOL_SIZE": os.environ.get("INTERPRETER_POOL_SIZE", "1"),
        # Pauses written to disk before they return, as most pause tests check; pauses kept in
        # memory (the default) have tests/e2e/test_resident_pause.py.
        "INTERPRETER_PAUSE_RESIDENT_SECONDS": "0",
        **env,
    }
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "interpreter.cli", "serve", "--port", str(port)],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return Server(url, api_key, home, process, log)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start:\n" + log.read_text()[-3000:])


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("interpreter-home")
    # The E2B SDKs' key format (some of their versions check it client-side); any key works here.
    api_key = "e2b_" + secrets.token_hex(20)
    srv = start_server(
        home, api_key=api_key, INTERPRETER_REAPER_INTERVAL="0.5", INTERPRETER_METRICS_INTERVAL="0.5"
    )
    os.environ["INTERPRETER_API_URL"] = srv.url
    os.environ["INTERPRETER_API_KEY"] = srv.api_key
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session", autouse=True)
def no_sandbox_outlives_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the run, kill any sandbox still running from this run's folders (a test
    that killed its front end mid-start can leave one) and say so on stderr."""
    yield
    from interpreter.runtime import linux

    base = str(tmp_path_factory.getbasetemp())
    parent = linux.CGROUP_ROOT / linux.CGROUP_CONTROLLERS[0] / linux.NSJAIL_CGROUP_PARENT
    left = []
    for folder in parent.iterdir() if parent.is_dir() else ():
        pids = (folder / "cgroup.procs").read_text().split() if folder.is_dir() else []
        try:
            ours = bool(pids) and base in Path(f"/proc/{pids[0]}/mountinfo").read_text()
        except OSError:
            continue
        if ours:
            left.append(folder.name)
            for controller in linux.CGROUP_CONTROLLERS:
                linux.kill_cgroup(linux.CGROUP_ROOT / controller / folder.parent.name / folder.name)
    for line in Path("/proc/mounts").read_text().splitlines():
        if f" {base}/" in line:
            linux.unmount(Path(line.split()[1]))
            left.append(line.split()[1])
    if left:
        print(f"\nleft running by the tests, now removed: {left}", file=sys.__stderr__)


@pytest.fixture
def sandbox_factory(
    server: Server, request: pytest.FixtureRequest
) -> Iterator[Callable[..., object]]:
    from interpreter_sdk import NotFoundError, Sandbox

    made: list[Sandbox] = []

    def make(**kwargs: object) -> Sandbox:
        metadata = {"test_run": RUN_ID, **dict(kwargs.pop("metadata", None) or {})}  # type: ignore[call-overload]
        sbx = Sandbox.create(metadata=metadata, **kwargs)  # type: ignore[arg-type]
        made.append(sbx)
        return sbx

    yield make
    for sbx in made:
        try:
            sbx.kill()
        except NotFoundError:
            pass  # the test killed it, or the reaper did
        finally:
            sbx.close()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print("sandboxes of this test:", [s.sandbox_id for s in made])


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., object]) -> object:
    return sandbox_factory()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
