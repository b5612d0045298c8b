"""Pauses kept in memory (issue 19, item 3): a pause freezes the sandbox in place and returns, a
resume before the write-out thaws it; the write-out to disk happens in the background, and a
front end killed before, during or after it loses nothing. Real server, CRIU, cgroup freezer."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interpreter_sdk import Sandbox

from ..conftest import RUN_ID, Server, start_server, stop_server
from .host import alive, cgroups_of, command_lines, folder_of, mounted_under, sandbox_tree
from .test_pause import pytestmark as needs_criu

pytestmark = needs_criu
KEY = "resident-key"


def _serve(home: Path, resident: float) -> Server:
    return start_server(
        home,
        api_key=KEY,
        INTERPRETER_PAUSE_RESIDENT_SECONDS=str(resident),
        INTERPRETER_POOL_SIZE="0",
    )


def _connect(server: Server, sandbox_id: str) -> Sandbox:
    return Sandbox.connect(sandbox_id, api_url=server.url, api_key=KEY)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path / "sandboxes", ignore_errors=True)


@pytest.fixture(scope="module")
def resident(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One front end whose pauses stay in memory for the test's whole length."""
    home = tmp_path_factory.mktemp("resident")
    with _served(home, resident=600) as (srv,):
        yield srv
    shutil.rmtree(home / "sandboxes", ignore_errors=True)


@contextlib.contextmanager
def _served(home: Path, resident: float) -> Iterator[list[Server]]:
    """A front end (the list's one item: a test may replace it by a restarted one), and at the
    end every sandbox it knows killed and it stopped."""
    servers = [_serve(home, resident)]
    try:
        yield servers
    finally:
        srv = servers[0]
        with contextlib.suppress(Exception):
            for info in Sandbox.list(api_url=srv.url, api_key=KEY):
                _connect(srv, info.sandbox_id).kill()
        stop_server(srv)


def _jail_pid(server: Server, sandbox_id: str) -> int | None:
    with sqlite3.connect(server.home / "interpreter.db") as db:
        query = "SELECT record FROM sandboxes WHERE id = ?"
        (record,) = db.execute(query, (sandbox_id,)).fetchone()
    pid = json.loads(record)["jail_pid"]
    return None if pid is None else int(pid)


def _freezer(jail_pid: int) -> Path:
    return Path(f"/sys/fs/cgroup/freezer/NSJAIL/NSJAIL.{jail_pid}")


def _frozen(jail_pid: int) -> bool:
    return (_freezer(jail_pid) / "freezer.state").read_text().strip() == "FROZEN"


def _kill_front_end(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def _await_on_disk(server: Server, sandbox_id: str, timeout: float = 60) -> None:
    folder = folder_of(server, sandbox_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _jail_pid(server, sandbox_id) is None:
            break
        time.sleep(0.05)
    assert _jail_pid(server, sandbox_id) is None, "not written to disk in time"
    assert (folder / "checkpoint" / "inventory.img").is_file()


def _create(server: Server) -> Sandbox:
    return Sandbox.create(metadata={"test_run": RUN_ID}, api_url=server.url, api_key=KEY)


def test_a_pause_freezes_in_place_and_a_resume_thaws_the_same_processes(resident: Server) -> None:
    sbx = _create(resident)
    sbx.run_code("import os\nkept = [1, 2, 3]\nopen('/tmp/log', 'w').write('before')")
    jail_pid, tree = sandbox_tree(folder_of(resident, sbx.sandbox_id))
    sbx.pause()
    assert sbx.get_info().state == "paused"
    assert _jail_pid(resident, sbx.sandbox_id) == jail_pid  # its processes kept, frozen
    assert _frozen(jail_pid) and all(alive(pid) for pid in tree)
    assert not (folder_of(resident, sbx.sandbox_id) / "checkpoint").exists()
    sbx.resume()
    assert not _frozen(jail_pid)
    assert sandbox_tree(folder_of(resident, sbx.sandbox_id)) == (jail_pid, tree)
    run = sbx.run_code("print(sum(kept), open('/tmp/log').read())")
    assert run.logs.stdout == ["6 before\n"], run
    assert sbx.commands.run("echo ok").stdout == "ok\n"
    # A run on a paused sandbox resumes it (as with a checkpoint): thawed again.
    sbx.pause()
    assert sbx.run_code("len(kept)").text == "3"
    assert not _frozen(jail_pid)
    sbx.kill()


def test_a_frozen_sandbox_killed_leaves_nothing(resident: Server) -> None:
    sbx = _create(resident)
    folder = folder_of(resident, sbx.sandbox_id)
    jail_pid, tree = sandbox_tree(folder)
    sbx.pause()
    assert _frozen(jail_pid)
    sbx.kill()
    assert not any(alive(pid) for pid in tree)
    assert not any(c.exists() for c in [*cgroups_of(jail_pid), _freezer(jail_pid)])
    assert not folder.exists() and not mounted_under(folder)


def test_a_memory_false_resume_of_a_frozen_sandbox_boots_fresh(resident: Server) -> None:
    sbx = _create(resident)
    sbx.run_code("gone = 1\nopen('/home/user/kept.txt', 'w').write('kept')")
    jail_pid, tree = sandbox_tree(folder_of(resident, sbx.sandbox_id))
    sbx.pause()
    sbx.resume(memory=False)
    assert not any(alive(pid) for pid in tree) and not _freezer(jail_pid).exists()
    run = sbx.run_code("print('gone' in globals(), open('/home/user/kept.txt').read())")
    assert run.logs.stdout == ["False kept\n"]
    sbx.kill()


def test_a_frozen_sandbox_outlives_a_killed_front_end_and_is_written_out_by_the_next(
    home: Path,
) -> None:
    with _served(home, resident=600) as servers:
        sbx = _create(servers[0])
        sbx.run_code("import numpy as np\nsurvivor = np.arange(10)")
        sbx.pause()
        jail_pid = _jail_pid(servers[0], sbx.sandbox_id)
        assert jail_pid is not None and _frozen(jail_pid)
        _kill_front_end(servers[0])
        # The next front end writes it out after its own setting.
        servers[0] = srv = _serve(home, resident=0.5)
        assert _connect(srv, sbx.sandbox_id).get_info().state == "paused"
        _await_on_disk(srv, sbx.sandbox_id)
        assert not alive(jail_pid) and not _freezer(jail_pid).exists()
        again = _connect(srv, sbx.sandbox_id)
        again.resume()
        assert again.run_code("int(survivor.sum())").text == "45"


def test_a_front_end_killed_during_the_write_out_loses_nothing(home: Path) -> None:
    with _served(home, resident=0.3) as servers:
        sbx = _create(servers[0])
        sbx.run_code("import pandas as pd\nframe = pd.DataFrame({'a': range(5)})")
        jail_pid, _ = sandbox_tree(folder_of(servers[0], sbx.sandbox_id))
        sbx.pause()
        # Killed while CRIU writes it (its tree then has a tracer): CRIU finishes on its own
        # and leaves the tree frozen, not dead; the next front end takes it from there.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _traced(jail_pid):
            time.sleep(0.002)
        assert _traced(jail_pid), "the write-out was not seen"
        _kill_front_end(servers[0])
        servers[0] = srv = _serve(home, resident=0.3)
        _await_on_disk(srv, sbx.sandbox_id)
        again = _connect(srv, sbx.sandbox_id)
        assert again.run_code("int(frame.a.sum())").text == "10"


def test_a_write_out_that_fails_keeps_the_sandbox_paused_in_memory(home: Path) -> None:
    with _served(home, resident=0.2) as (srv,):
        sbx = _create(srv)
        # CRIU cannot checkpoint an AF_VSOCK socket: the write-out fails, the sandbox stays
        # frozen, and a resume thaws it.
        sbx.run_code("import socket\nvsock = socket.socket(socket.AF_VSOCK)\nkept = 'yes'")
        jail_pid, _ = sandbox_tree(folder_of(srv, sbx.sandbox_id))
        sbx.pause()
        deadline = time.monotonic() + 30
        log = srv.log
        while time.monotonic() < deadline and "stays paused in memory" not in log.read_text():
            time.sleep(0.1)
        assert "stays paused in memory" in log.read_text()
        assert _frozen(jail_pid) and _jail_pid(srv, sbx.sandbox_id) == jail_pid
        assert sbx.run_code("print(kept, vsock.fileno() > 0)").logs.stdout == ["yes True\n"]


def _traced(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return any(
        line.startswith("TracerPid:") and line.split()[1] != "0" for line in status.splitlines()
    )


def test_a_front_end_killed_while_it_snapshots_a_template_leaves_no_criu_behind(
    home: Path,
) -> None:
    """The next front end lets the template snapshot's dump that the killed one began end
    before it removes the sandbox being dumped: killed under CRIU, the tree can leave CRIU
    waiting on it for good (seen once in CI: CRIU in wait4, the tree's PID 1 exiting)."""
    with _served(home, resident=0.3) as servers:
        criu_pid, tree_pid = _stopped_template_dump(home)  # outlasting the next one's start
        kept: list[bool] = []

        def go_on() -> None:
            kept.append(_running(tree_pid))  # the next front end has had 5 s to start
            os.kill(criu_pid, signal.SIGCONT)

        timer = threading.Timer(5.0, go_on)
        try:
            _kill_front_end(servers[0])
            timer.start()
            servers[0] = srv = _serve(home, resident=0.3)  # its start waits for the dump
        finally:
            timer.join()
        assert kept == [True], "the next front end killed the tree under CRIU"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (alive(criu_pid) or alive(tree_pid)):
            time.sleep(0.05)
        assert not alive(criu_pid) and not alive(tree_pid)
        assert _create(srv).run_code("1 + 1").text == "2"


def test_a_front_end_stopped_while_it_snapshots_a_template_removes_the_sandbox_after_the_dump(
    home: Path,
) -> None:
    """A stop cancels the snapshot being taken; its dump goes on in a thread, and the sandbox
    under it is removed once the dump is over (found in CI: removed during it, the tree left
    CRIU waiting on it for good)."""
    srv = _serve(home, resident=0.3)
    kept: list[bool] = []
    try:
        criu_pid, tree_pid = _stopped_template_dump(home)

        def go_on() -> None:
            kept.append(_running(tree_pid))  # the stop has had 3 s
            os.kill(criu_pid, signal.SIGCONT)

        timer = threading.Timer(3.0, go_on)
        timer.start()
        try:
            srv.process.send_signal(signal.SIGTERM)
            srv.process.wait(60)
        finally:
            timer.join()
    finally:
        stop_server(srv)
    assert kept == [True], "the stopping front end removed the sandbox under CRIU"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (alive(criu_pid) or alive(tree_pid)):
        time.sleep(0.05)
    assert not alive(criu_pid) and not alive(tree_pid)


def _stopped_template_dump(home: Path) -> tuple[int, int]:
    """(CRIU's pid, the tree's) of the first template snapshot taken in ``home``, CRIU stopped
    (SIGSTOP) once it holds the tree: the dump then outlasts what the test does meanwhile."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (dump := _criu_dump_under(home)) is None:
        time.sleep(0.002)
    assert dump is not None, "no template snapshot was seen being taken"
    criu_pid, tree_pid = dump
    while time.monotonic() < deadline and not _traced(tree_pid):
        time.sleep(0.001)  # CRIU has the tree
    os.kill(criu_pid, signal.SIGSTOP)
    return criu_pid, tree_pid


def _running(pid: int) -> bool:
    """Alive and not exiting: a killed PID 1 of a namespace waits, its memory gone, for the
    rest of it to be reaped (and a task CRIU holds is reaped only once CRIU lets it go)."""
    try:
        return alive(pid) and Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except OSError:
        return False


def _criu_dump_under(home: Path) -> tuple[int, int] | None:
    """(CRIU's pid, the dumped tree's) of a `criu dump` writing into ``home``, if one runs."""
    for pid, argv in command_lines():
        if len(argv) > 3 and argv[1] == b"dump" and b"--tree" in argv:
            images = argv[argv.index(b"--images-dir") + 1] if b"--images-dir" in argv else b""
            if images.startswith(str(home).encode()):
                return pid, int(argv[argv.index(b"--tree") + 1])
    return None
