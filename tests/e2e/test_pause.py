"""Pause and resume with CRIU checkpoints (issue #6): real server, real CRIU, real kernels."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from interpreter_sdk import NotFoundError, Sandbox, SandboxError

from ..conftest import RUN_ID, Server, start_server, stop_server
from .host import alive, cgroups_of, folder_of, mounted_under

CRIU = Path(os.environ.get("INTERPRETER_CRIU", "/usr/local/sbin/criu"))


def _criu_works() -> bool:
    try:
        return subprocess.run([str(CRIU), "check"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = pytest.mark.skipif(
    not _criu_works(),
    reason=f"CRIU >= 4.2.1 is not usable at {CRIU}: scripts/setup.sh builds it",
)


def _paused(sbx: Sandbox) -> None:
    sbx.pause()
    assert sbx.info.state == "paused"
    assert Sandbox.connect(sbx.sandbox_id).info.state == "paused"


def test_variables_dataframe_cwd_and_open_files_survive(server: Server, sandbox: Sandbox) -> None:
    sandbox.files.write("/home/user/data.csv", "a,b\n1,2\n3,4\n")
    first = sandbox.run_code(
        "import os, pandas as pd\n"
        "df = pd.read_csv('/home/user/data.csv'); secret = 'kept-' + str(df.a.sum())\n"
        "os.makedirs('/tmp/work', exist_ok=True); os.chdir('/tmp/work')\n"
        "log = open('/home/user/open.txt', 'w'); log.write('before,'); log.flush()\n"
        "print(secret)"
    )
    assert first.error is None and first.logs.stdout == ["kept-4\n"]
    _paused(sandbox)
    folder = folder_of(server, sandbox.sandbox_id)
    assert (folder / "checkpoint" / "inventory.img").is_file()
    assert not [p for p in Path("/proc").glob("[0-9]*") if _in_folder(p, folder)]  # memory freed

    sandbox.resume()
    assert sandbox.info.state == "running"
    after = sandbox.run_code(
        "log.write('after'); log.close()\n"
        "print(secret, int(df.b.sum()), os.getcwd(), open('/home/user/open.txt').read())"
    )
    assert after.error is None, after.error
    assert after.logs.stdout == ["kept-4 6 /tmp/work before,after\n"]
    assert sandbox.files.read("/home/user/data.csv") == "a,b\n1,2\n3,4\n"
    assert not (folder / "checkpoint").exists()  # used up: a later pause writes a new one


def test_background_command_continues_after_resume(sandbox: Sandbox) -> None:
    handle = sandbox.commands.start(
        # Written aside and renamed, so a read never sees the file half-written.
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/counter;"
        " sleep 0.05; done"
    )
    time.sleep(1.0)
    before = int(sandbox.files.read("/tmp/counter"))
    assert before > 0
    sandbox.pause()
    time.sleep(1.5)  # a paused counter does not count
    sandbox.resume()
    resumed = int(sandbox.files.read("/tmp/counter"))
    time.sleep(1.0)
    later = int(sandbox.files.read("/tmp/counter"))
    assert before <= resumed < before + 15, (before, resumed)
    assert later > resumed  # the same process goes on counting
    assert handle.info().status == "running"
    handle.kill("KILL")


def test_pause_with_a_watch_a_pty_and_a_running_cell(sandbox: Sandbox) -> None:
    sandbox.files.watch_dir("/home/user")  # the agent's inotify watch ends with its stream
    sandbox.pty.create(cols=80, rows=24)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["run"] = sandbox.run_code("import time\nfor i in range(6): time.sleep(0.5)")
        except SandboxError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)
    sandbox.pause()  # the cell's stream breaks; the cell itself is checkpointed mid-way
    thread.join(30)
    assert "error" in outcome or "run" in outcome
    assert sandbox.run_code("print('next')").logs.stdout == ["next\n"]


def test_ten_cycles_on_a_kernel_that_ran_pandas_and_matplotlib(sandbox: Sandbox) -> None:
    setup = sandbox.run_code(
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.DataFrame({'x': np.arange(200_000), 'y': np.random.rand(200_000)})\n"
        "n = 0\n"
        "plt.plot(df.x[:100], df.y[:100]); plt.show()"
    )
    assert setup.error is None and any(r.png for r in setup.results)
    for cycle in range(1, 11):
        sandbox.pause()
        sandbox.resume()
        run = sandbox.run_code(
            "n += 1\nplt.figure(); plt.plot(df.y[:50]); plt.show()\nprint(n, len(df))"
        )
        assert run.error is None, (cycle, run.error)
        assert run.logs.stdout == [f"{cycle} 200000\n"], (cycle, run.logs)
        assert any(r.png for r in run.results), cycle


def test_run_code_resumes_a_paused_sandbox(sandbox: Sandbox) -> None:
    sandbox.run_code("value = 41")
    sandbox.pause()
    assert sandbox.run_code("value + 1").text == "42"
    assert sandbox.get_info().state == "running"
    sandbox.pause()
    assert sandbox.files.read("/home/user/.bashrc") is not None  # files resume it too
    assert sandbox.get_info().state == "running"


ADD_ADDRESS = """python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ifreq = struct.pack("16sH2s4s8s", b"lo:1", socket.AF_INET, bytes(2),
                    socket.inet_aton("10.9.8.7"), bytes(8))
fcntl.ioctl(s, 0x8916, ifreq)  # SIOCSIFADDR: root inside owns its network namespace
'"""
BIND = "import socket; socket.socket().bind(('10.9.8.7', 0)); print('bound')"


def test_network_made_inside_survives_and_an_untouched_one_restores_fresh(
    server: Server, sandbox_factory
) -> None:  # type: ignore[no-untyped-def]
    with server.client() as http:  # the template snapshot is what "fresh" is compared with
        deadline = time.monotonic() + 180
        while any(p["snapshot"] != "ready" for p in http.get("/v1/pool").json()):
            assert time.monotonic() < deadline, "no template snapshot"
            time.sleep(0.2)
    changed, untouched = sandbox_factory(), sandbox_factory()
    assert changed.commands.run(ADD_ADDRESS, user="root").exit_code == 0
    assert changed.run_code(BIND).logs.stdout == ["bound\n"]
    changed.pause()
    untouched.pause()
    marker = Path("checkpoint") / "fresh-network"  # checkpoint.FRESH_NETWORK
    assert not (folder_of(server, changed.sandbox_id) / marker).exists()
    assert (folder_of(server, untouched.sandbox_id) / marker).exists()
    # Restored with its own namespace (the address too), or with a new one: both work.
    assert changed.run_code(BIND).logs.stdout == ["bound\n"]
    assert untouched.run_code("1 + 1").text == "2"  # the kernel's loopback connections
    assert untouched.commands.run("echo ok").stdout == "ok\n"


def test_on_timeout_pause_pauses_instead_of_killing(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory(timeout=3, on_timeout="pause")
    sbx.run_code("kept = 'across the timeout'")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sbx.get_info().state != "paused":
        time.sleep(0.3)
    assert sbx.get_info().state == "paused"
    assert sbx.run_code("print(kept)").logs.stdout == ["across the timeout\n"]
    assert sbx.get_info().state == "running"


def test_filesystem_only_pause_boots_fresh_on_the_kept_files(
    server: Server, sandbox: Sandbox
) -> None:
    sandbox.run_code("gone = 1\nopen('/home/user/kept.txt', 'w').write('still here')")
    sandbox.pause(memory=False)
    folder = folder_of(server, sandbox.sandbox_id)
    assert not (folder / "checkpoint").exists()
    assert not mounted_under(folder)  # no processes, no mount: only the upper layer is kept
    sandbox.resume()
    run = sandbox.run_code("print('gone' in globals(), open('/home/user/kept.txt').read())")
    assert run.logs.stdout == ["False still here\n"]


def test_pause_twice_is_409_and_resume_of_a_killed_one_is_404(
    server: Server, sandbox: Sandbox
) -> None:
    sandbox.pause()
    with server.client() as http:
        again = http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/pause", json={"memory": True})
        assert again.status_code == 409, again.text
        assert "already paused" in again.json()["error"]["message"]
        # Resuming a running sandbox just returns it.
        assert http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/resume").json()["state"] == "running"
        assert http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/resume").status_code == 200
        bad = http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/pause", json={"memory": "maybe"})
        assert bad.status_code == 422
        sandbox.pause()
        sandbox.kill()
        gone = http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/resume")
        assert gone.status_code == 404, gone.text
        assert http.post("/v1/sandboxes/nope/pause").status_code == 404
    assert not folder_of(server, sandbox.sandbox_id).exists()  # checkpoint and folder gone


def test_a_corrupt_checkpoint_fails_clearly_and_the_files_are_recoverable(
    server: Server, sandbox: Sandbox
) -> None:
    sandbox.run_code("open('/home/user/precious.txt', 'w').write('recover me')")
    sandbox.pause()
    folder = folder_of(server, sandbox.sandbox_id)
    for image in (folder / "checkpoint").glob("core-*.img"):
        image.write_bytes(b"\xff" * 64)
    with pytest.raises(SandboxError) as failure:
        sandbox.resume()
    message = str(failure.value)
    assert failure.value.status_code == 500
    assert "could not be restored" in message and "CRIU restore failed" in message
    assert "memory=false" in message
    assert sandbox.get_info().state == "paused"  # nothing deleted
    sandbox.resume(memory=False)
    assert sandbox.files.read("/home/user/precious.txt") == "recover me"
    assert sandbox.run_code("1 + 1").text == "2"


def test_a_failing_checkpoint_leaves_the_sandbox_running(sandbox: Sandbox) -> None:
    # CRIU cannot checkpoint an AF_VSOCK socket (nor io_uring, which the seccomp policy
    # denies): the pause fails and changes nothing.
    made = sandbox.run_code("import socket\nvsock = socket.socket(socket.AF_VSOCK)")
    assert made.error is None, made.error
    sandbox.run_code("kept = 'yes'")
    with pytest.raises(SandboxError) as failure:
        sandbox.pause()
    assert "CRIU checkpoint failed" in str(failure.value)
    assert sandbox.get_info().state == "running"
    assert sandbox.run_code("print(kept)").logs.stdout == ["yes\n"]
    assert sandbox.run_code("vsock.fileno() > 0").text == "True"


def test_a_paused_sandbox_survives_a_killed_front_end(tmp_path: Path) -> None:
    srv = start_server(tmp_path, api_key="pause-key")
    options = {"api_url": srv.url, "api_key": "pause-key"}
    sbx = None
    try:
        sbx = Sandbox.create(metadata={"test_run": RUN_ID}, **options)  # type: ignore[arg-type]
        sbx.run_code("import pandas as pd\nsurvivor = pd.Series([1, 2, 3])")
        sbx.pause()
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait()
        srv = start_server(tmp_path, api_key="pause-key")
        options["api_url"] = srv.url
        listed = {s.id: s.state for s in Sandbox.list(**options)}  # type: ignore[arg-type]
        assert listed.get(sbx.sandbox_id) == "paused"
        again = Sandbox.connect(sbx.sandbox_id, **options)  # type: ignore[arg-type]
        again.resume()
        assert again.run_code("int(survivor.sum()) * 7").text == "42"
        # A restored (nsjail-less) sandbox is re-attached by a restarted front end too.
        stop_server(srv)
        srv = start_server(tmp_path, api_key="pause-key")
        options["api_url"] = srv.url
        again = Sandbox.connect(sbx.sandbox_id, **options)  # type: ignore[arg-type]
        assert again.info.state == "running"
        assert again.run_code("int(survivor.sum()) * 7").text == "42"
        # The restored tree has no nsjail above it: the new front end still kills it wholly.
        folder = folder_of(srv, sbx.sandbox_id)
        jail_pid = _jail_pid(srv, sbx.sandbox_id)
        assert alive(jail_pid) and all(c.exists() for c in cgroups_of(jail_pid))
        again.kill()
        assert not alive(jail_pid)
        assert not any(c.exists() for c in cgroups_of(jail_pid))
        assert not folder.exists() and not mounted_under(folder)
        with pytest.raises(NotFoundError):
            again.resume()
        sbx = None
    finally:
        if sbx is not None:
            with contextlib.suppress(Exception):  # best effort
                Sandbox.connect(sbx.sandbox_id, **options).kill()  # type: ignore[arg-type]
        stop_server(srv)
        shutil.rmtree(tmp_path / "sandboxes", ignore_errors=True)


def _in_folder(proc: Path, folder: Path) -> bool:
    try:
        return os.readlink(proc / "root").startswith(str(folder))
    except OSError:
        return False


def _jail_pid(server: Server, sandbox_id: str) -> int:
    # Host-side look into the front end's store: the restored tree's PID 1 on the host.
    with sqlite3.connect(server.home / "interpreter.db") as db:
        query = "SELECT record FROM sandboxes WHERE id = ?"
        (record,) = db.execute(query, (sandbox_id,)).fetchone()
    return int(json.loads(record)["jail_pid"])
