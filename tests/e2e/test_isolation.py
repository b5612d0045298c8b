"""What a sandbox can and cannot see (issue #2)."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from interpreter_sdk import Sandbox

from ..conftest import Server
from .host import alive, cgroups_of, folder_of, sandbox_tree


def test_two_sandboxes_share_no_files_processes_or_variables(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = sandbox_factory(), sandbox_factory()
    a.run_code("open('/home/user/mine.txt', 'w').write('a')\nsecret = 'a-only'")
    a.run_code("import subprocess\np = subprocess.Popen(['sleep', '1234'])")
    check = b.run_code(
        "import os\n"
        "procs = [open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()]\n"
        "print(os.path.exists('/home/user/mine.txt'), 'secret' in globals(),"
        " any('1234' in p for p in procs))"
    )
    assert check.logs.stdout == ["False False False\n"]
    assert a.run_code("open('/home/user/mine.txt').read()").text == "a"


def test_sandbox_sees_no_host_processes(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import os\n"
        "cmds = [open(f'/proc/{p}/cmdline').read().replace(chr(0), ' ')"
        " for p in os.listdir('/proc') if p.isdigit()]\n"
        "print(len(cmds))\n"
        # The sandbox's own stand-in for E2B's server says `uvicorn main:app` (supervisor.py).
        "print(any(('uvicorn' in c and '/opt/interpreter/health.py' not in c)"
        " or 'interpreter.cli' in c or 'pytest' in c for c in cmds))"
    )
    count, host_seen = "".join(execution.logs.stdout).splitlines()
    assert int(count) < 20
    assert host_seen == "False"


def test_sandbox_cannot_read_host_files(server: Server, sandbox: Sandbox) -> None:
    marker = Path("/root") / f".interpreter-test-{secrets.token_hex(4)}"
    marker.write_text("host secret")
    try:
        database = server.home / "interpreter.db"
        assert database.exists()
        code = (
            "import os\n"
            f"print(os.path.exists({str(database)!r}), os.path.exists({str(marker)!r}),"
            f" os.path.exists({str(server.home)!r}))\n"
            "try:\n    print(open('/etc/shadow').read()[:20])\n"
            "except OSError as e:\n    print(type(e).__name__)\n"
        )
        execution = sandbox.run_code(code)
        out = "".join(execution.logs.stdout).splitlines()
        assert out[0] == "False False False"
        host_shadow = Path("/etc/shadow").read_text()
        assert out[1] == "PermissionError" or out[1] not in host_shadow
    finally:
        marker.unlink()


def test_sandbox_has_only_loopback(sandbox: Sandbox) -> None:
    code = (
        "import os, socket\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
        "s = socket.socket()\ns.settimeout(3)\n"
        "try:\n    s.connect(('1.1.1.1', 80))\n    print('connected')\n"
        "except OSError as e:\n    print('blocked', e.errno)\n"
        "srv = socket.create_server(('127.0.0.1', 0))\n"
        "c = socket.create_connection(srv.getsockname())\nprint('loopback ok')\n"
    )
    out = "".join(sandbox.run_code(code).logs.stdout).splitlines()
    assert out[0] == "['lo']"
    assert out[1].startswith("blocked")
    assert out[2] == "loopback ok"


def test_memory_limit_is_enforced(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory(memory_mb=512)
    execution = sbx.run_code("x = bytearray(1024 * 1024 * 1024)")
    assert execution.error is not None  # MemoryError or the kernel being killed
    assert sbx.run_code("1 + 1").text == "2"


def losetup() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


def test_kill_removes_processes_mounts_cgroups_and_folder(server: Server, sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory()
    sbx.run_code("import subprocess\nsubprocess.Popen(['sleep', '600'])")
    folder = folder_of(server, sbx.sandbox_id)
    jail_pid, tree = sandbox_tree(folder)  # started by nsjail, or restored from a snapshot
    assert len(tree) >= 5  # nsjail or the agent, supervisor, gateway, kernel, sleep
    assert all(c.exists() for c in cgroups_of(jail_pid))
    assert (folder / "disk" / "upper").is_dir()
    assert str(folder / "disk.img") in losetup()  # its disk, on a loop device
    sbx.kill()
    assert not [pid for pid in tree if alive(pid)]
    assert str(folder) not in Path("/proc/mounts").read_text()
    assert str(folder / "disk.img") not in losetup()
    assert not any(c.exists() for c in cgroups_of(jail_pid))
    assert not folder.exists()
