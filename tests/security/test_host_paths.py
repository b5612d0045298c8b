"""Issue 11 item 1: the host follows nothing sandbox code can write. Every attack is made from
inside a real sandbox (as root and as `user`) against a real front end."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interpreter.core.errors import GatewayError
from interpreter.core.sandbox_fs import SandboxSocket, UnsafePathError, remove_tree, walk_files
from interpreter.execution.gateway import kernel_id_of
from interpreter.runtime import base, boot
from interpreter.runtime.images import ID_SHIFT

from ..conftest import RUN_ID, Server, start_server, stop_server

KEY = "host-paths-key"
DEEP = 5000


class Trap:
    """Host unix sockets in a host folder: any connection to them is recorded (and closed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.connections: list[str] = []
        self._servers = []
        for name in ("gateway.sock", "agent.sock"):
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(folder / name))
            server.listen()
            server.settimeout(0.1)
            self._servers.append((name, server))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for name, server in self._servers:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                self.connections.append(name)
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for _, server in self._servers:
            server.close()


@pytest.fixture
def trap(tmp_path: Path) -> Iterator[Trap]:
    folder = tmp_path / "host"  # the sandbox need not reach it: only the host would follow
    folder.mkdir()
    trap = Trap(folder)
    yield trap
    trap.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[list[Server]]:
    """A front end of this test's own (it is restarted): the list holds the current one."""
    home = tmp_path / "home"
    home.mkdir()
    servers = [start_server(home, api_key=KEY, INTERPRETER_POOL_SIZE="0")]
    yield servers
    from interpreter_sdk import Sandbox

    if servers[0].process.poll() is not None:  # a test failed while it was down: one to clean up
        servers[0] = start_server(home, api_key=KEY, INTERPRETER_POOL_SIZE="0")
    for info in Sandbox.list(api_url=servers[0].url, api_key=KEY):
        Sandbox.connect(info.id, api_url=servers[0].url, api_key=KEY).kill()
    stop_server(servers[0])


def _restart(servers: list[Server]) -> Server:
    stop_server(servers[0])
    servers[0] = start_server(servers[0].home, api_key=KEY, INTERPRETER_POOL_SIZE="0")
    return servers[0]


def test_links_planted_in_the_run_folder_reach_no_host_socket(
    own_server: list[Server], trap: Trap
) -> None:
    from interpreter_sdk import Sandbox, SandboxError

    srv = own_server[0]
    sbx = Sandbox.create(api_url=srv.url, api_key=KEY, metadata={"test_run": RUN_ID})
    assert sbx.run_code("1 + 1").text == "2"
    # As `user` (who owns run/user): the gateway's socket becomes a link to the host's.
    sbx.commands.run(f"ln -sf {trap.folder}/gateway.sock /run/sandbox/user/gateway.sock")
    with pytest.raises(SandboxError):  # a new kernel needs a new connection: refused
        sbx.run_code("1", language="bash", timeout=30)
    # As root inside (who owns run/): run/user and the agent's socket become links.
    script = (
        "mv /run/sandbox/user /run/sandbox/user.old && "
        f"ln -s {trap.folder} /run/sandbox/user && "
        f"ln -sf {trap.folder}/agent.sock /run/sandbox/agent.sock.new && "
        "mv -fT /run/sandbox/agent.sock.new /run/sandbox/agent.sock"
    )
    sbx.commands.run(script, user="root")
    # The restarted front end re-attaches it through new connections to both sockets.
    srv = _restart(own_server)
    again = Sandbox.connect(sbx.sandbox_id, api_url=srv.url, api_key=KEY)
    started = time.monotonic()
    with pytest.raises(SandboxError):
        again.run_code("1 + 1", timeout=30)
    with pytest.raises(SandboxError):
        again.files.read("/etc/hostname")
    assert time.monotonic() - started < 30  # errors, not hangs
    assert trap.connections == []
    again.kill()
    assert not (srv.home / "sandboxes" / sbx.sandbox_id).exists()
    # The front end is fine: a new sandbox works.
    other = Sandbox.create(api_url=srv.url, api_key=KEY, metadata={"test_run": RUN_ID})
    assert other.run_code("6 * 7").text == "42"
    assert trap.connections == []


def _jail_pids(folder: Path) -> list[int]:
    """The sandbox's processes: its nsjail (a cold boot's) and every process whose root is the
    sandbox's root (a tree restored from the template snapshot has no nsjail)."""
    root = (folder / "root").stat()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if str(folder / "root").encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
                continue
            own = (entry / "root").stat()
        except OSError:
            continue
        if (own.st_dev, own.st_ino) == (root.st_dev, root.st_ino):
            pids.append(int(entry.name))
    return pids


def test_a_tree_thousands_deep_neither_fails_a_kill_nor_a_front_end_start(
    own_server: list[Server],
) -> None:
    from interpreter_sdk import Sandbox

    srv = own_server[0]
    make = f"python3 -c \"import os\nfor _ in range({DEEP}): os.mkdir('d'); os.chdir('d')\""
    killed = Sandbox.create(api_url=srv.url, api_key=KEY, metadata={"test_run": RUN_ID})
    left = Sandbox.create(api_url=srv.url, api_key=KEY, metadata={"test_run": RUN_ID})
    for sbx in (killed, left):
        sbx.commands.run(make, cwd="/home/user")  # in the upper layer
        sbx.commands.run(make, cwd="/run/sandbox/user")  # in the run folder
    folder = srv.home / "sandboxes"
    metrics = srv.client().get(f"/v1/sandboxes/{killed.sandbox_id}/metrics")
    assert metrics.status_code == 200, metrics.text  # the disk walk copes
    killed.kill()
    assert not (folder / killed.sandbox_id).exists()
    # The other one dies while the front end is down: its start cleans it up.
    stop_server(srv)
    pids = _jail_pids(folder / left.sandbox_id)
    assert pids, "the sandbox's processes were not found"
    for pid in pids:  # the first one's death (the jail's init) may already have taken the others
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    srv = own_server[0] = start_server(srv.home, api_key=KEY, INTERPRETER_POOL_SIZE="0")
    deadline = time.monotonic() + 10
    while (folder / left.sandbox_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (folder / left.sandbox_id).exists()
    sbx = Sandbox.create(api_url=srv.url, api_key=KEY, metadata={"test_run": RUN_ID})
    assert sbx.run_code("1 + 1").text == "2"


# -- the pieces, on the host alone ---------------------------------------------------------------


def test_kernel_ids_from_the_sandbox_are_uuids() -> None:
    good = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert kernel_id_of(good) == good
    for bad in ("../../api", f"{good}/../x", f"{good}\n", good.upper(), "", None, 7, {}):
        with pytest.raises(GatewayError):
            kernel_id_of(bad)


def test_a_sandbox_socket_is_reached_only_if_it_is_the_owners_socket(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "run" / "real.sock"))
    listener.listen()
    me = os.getuid()
    sock = SandboxSocket(tmp_path, ("run", "real.sock"), owner=me)
    with sock.connect_path() as path, socket.socket(socket.AF_UNIX) as client:
        client.connect(path)  # a deep folder is no problem: the path is short
    assert sock.exists()
    assert not SandboxSocket(tmp_path, ("run", "real.sock"), owner=me + 1).exists()
    (tmp_path / "run" / "link.sock").symlink_to(tmp_path / "run" / "real.sock")
    (tmp_path / "dirlink").symlink_to(tmp_path / "run")
    (tmp_path / "run" / "file").write_text("")
    for parts in (("run", "link.sock"), ("dirlink", "real.sock"), ("run", "file")):
        with pytest.raises(OSError):
            SandboxSocket(tmp_path, parts, owner=me).open()
    with pytest.raises(UnsafePathError):
        SandboxSocket(tmp_path, ("..", "x"), owner=me)
    listener.close()


def test_the_sockets_owners_are_the_jails_ids() -> None:
    assert base.ROOT_HOST_ID == ID_SHIFT
    assert base.USER_HOST_ID == ID_SHIFT + boot.USER_ID


def test_deep_trees_are_walked_and_removed(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    (top / "loop").symlink_to(top)
    fd = os.open(top, os.O_RDONLY)
    for _ in range(DEEP):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    started = time.monotonic()
    assert sum(1 for _ in walk_files(top)) > 1000  # no recursion, no loop through the link
    remove_tree(top)
    assert not top.exists()
    assert time.monotonic() - started < 10


def test_a_planted_resolv_conf_link_is_replaced_not_followed(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    # The host writes the sandbox's /etc/resolv.conf when egress is turned on: a link there
    # (absolute, so followed by the host it would point at a host file) is replaced.
    victim = tmp_path / "host-file"
    victim.write_text("the host's")
    sandbox = sandbox_factory()
    sandbox.commands.run(f"ln -sf {victim} /etc/resolv.conf", user="root")
    sandbox.update_network({"enabled": True})
    assert victim.read_text() == "the host's"
    assert sandbox.commands.run("cat /etc/resolv.conf").stdout.startswith("nameserver 10.77.")
    assert sandbox.commands.run("test -L /etc/resolv.conf || echo file").stdout == "file\n"
    # A linked /etc is refused, and the sandbox keeps running without egress.
    other = sandbox_factory()
    other.commands.run(f"mv /etc /etc.real && /etc.real/../bin/ln -s {tmp_path} /etc", user="root")
    with pytest.raises(Exception) as failure:
        other.update_network({"enabled": True})
    assert "cannot write the sandbox's /etc/resolv.conf" in str(failure.value)
    assert not (tmp_path / "resolv.conf").exists()
    assert not Path(f"/sys/class/net/sbx{other.sandbox_id[:12]}").exists()  # undone
    assert other.get_info().network["enabled"] is False
