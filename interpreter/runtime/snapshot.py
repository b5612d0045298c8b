"""Template snapshots: one ready sandbox checkpointed once, restored into every new sandbox.

A snapshot folder holds the CRIU images of a ready sandbox's process tree (supervisor, agent,
gateway, the Python kernel with pandas and matplotlib imported), a copy of its upper layer and
of its run folder as they were at the checkpoint, and the image layers it ran on. Restoring gives
a new sandbox its own copies of the upper layer and run folder, its own overlay, namespaces and
cgroups: two sandboxes from one snapshot share nothing writable (the images are only read).

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

from interpreter.core.config import Settings
from interpreter.core.sandbox_fs import remove_tree, walk_files
from interpreter.runtime import criu, disk, jail, linux
from interpreter.runtime.base import Limits, SandboxProcess
from interpreter.runtime.images import Image
from interpreter.runtime.restored import restore_tree

IMAGES, UPPER, RUN, INFO = "images", "upper", "run", "snapshot.json"


def folder_for(settings: Settings, image: Image) -> Path:
    """Where the snapshot of this image (template at a given build, under the jail's seccomp
    policy and capabilities) lives."""
    parts = [*map(str, image.layers), jail.fingerprint()]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return settings.home / "snapshots" / image.name / key


def network_reference(settings: Settings) -> Path | None:
    """The images of a template snapshot, if there is one: a fresh sandbox's network namespace,
    as CRIU dumps it (what a pause compares its sandbox's with, see criu.same_network)."""
    for info in sorted((settings.home / "snapshots").glob(f"*/*/{INFO}")):
        if not info.parent.name.endswith(".new"):
            return info.parent / IMAGES
    return None


def discard_others(snapshot: Path) -> None:
    """Remove the template's snapshots of older builds."""
    for other in snapshot.parent.iterdir():
        if other != snapshot:
            remove_tree(other)


def take(
    settings: Settings, process: SandboxProcess, image: Image, dest: Path, info: dict[str, str]
) -> None:
    """Checkpoint a ready sandbox into ``dest`` (its host connections must be closed first).
    The sandbox's processes are gone afterwards; its folder is left for the caller to clean."""
    new = dest.with_name(dest.name + ".new")
    remove_tree(new)
    new.mkdir(parents=True)
    try:
        # CRIU's page copying runs in the sandbox's own (frozen) tasks: lift their CPU quota.
        cgroup = linux.sandbox_cgroup(process.jail_pid, "cpu")
        (cgroup / "cpu.cfs_quota_us").write_text("-1")
        criu.dump(settings.criu, process.jail_pid, new / IMAGES, work_dir=new)
        # Copied while nothing runs: the files the restored processes find are those they left.
        _copy(
            (disk.layer_dirs(process.folder)[0], new / UPPER), (process.folder / "run", new / RUN)
        )
        for path, entry in walk_files(new / RUN):  # iterative: no link followed, any depth
            if stat.S_ISSOCK(entry.st_mode):  # each restored gateway and agent binds its own
                os.unlink(path)
        layers = [str(layer) for layer in image.layers]
        (new / INFO).write_text(json.dumps({**info, "layers": layers}))
    except BaseException:
        remove_tree(new)  # copies of what the sandbox wrote: any depth
        raise
    remove_tree(dest)
    new.rename(dest)


def take_running(
    settings: Settings, process: SandboxProcess, dest: Path, info: dict[str, Any]
) -> float:
    """Checkpoint a running sandbox into ``dest`` and let it run on (its host connections
    closed first); its files are copied while CRIU holds the tree frozen, after the dump (an
    action script at "post-dump"), so memory and files agree. Seconds the tree was frozen."""
    new = dest.with_name(dest.name + ".new")
    remove_tree(new)
    new.mkdir(parents=True)
    upper = disk.layer_dirs(process.folder)[0]
    script = new / "copy-files.sh"
    copies = " && ".join(
        f"cp -a --reflink=auto -- {shlex.quote(str(src))} {shlex.quote(str(dst))}"
        for src, dst in ((upper, new / UPPER), (process.folder / "run", new / RUN))
    )
    script.write_text(f'#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0\n{copies}\n')
    script.chmod(0o700)
    cgroup = linux.sandbox_cgroup(process.jail_pid, "cpu")
    quota = (cgroup / "cpu.cfs_quota_us").read_text().strip()
    try:
        (cgroup / "cpu.cfs_quota_us").write_text("-1")  # CRIU copies pages in its tasks
        dumped = criu.dump(
            settings.criu, process.jail_pid, new / IMAGES, work_dir=new, leave_running=True,
            action_script=script,
        )  # fmt: skip
        for path, entry in walk_files(new / RUN):
            if stat.S_ISSOCK(entry.st_mode):
                os.unlink(path)
        (new / INFO).write_text(json.dumps(info))
    except BaseException:
        remove_tree(new)
        raise
    finally:
        with contextlib.suppress(OSError):
            (cgroup / "cpu.cfs_quota_us").write_text(quota)
    script.unlink()
    remove_tree(dest)
    new.rename(dest)
    return dumped.seconds


def read_info(snapshot: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((snapshot / INFO).read_text()))
    except (OSError, ValueError):
        return None


def restore(
    settings: Settings, snapshot: Path, sandbox_id: str, folder: Path, limits: Limits
) -> SandboxProcess:
    """Make sandbox ``sandbox_id`` in ``folder`` from the snapshot; returns its process (no
    nsjail: CRIU's restored tree, found and killed by its cgroups)."""
    info = read_info(snapshot)
    if info is None:
        raise criu.CriuError(f"no snapshot in {snapshot}")
    folder.mkdir(parents=True)
    disk.create(folder, limits.disk_mb, settings.home / disk.FORMATS)
    upper, work = disk.layer_dirs(folder)
    upper.rmdir()
    _copy((snapshot / UPPER, upper), (snapshot / RUN, folder / "run"))
    (folder / "root").mkdir()
    linux.mount_overlay([Path(p) for p in info["layers"]], upper, work, folder / "root")
    pid = restore_tree(
        settings,
        sandbox_id,
        snapshot / IMAGES,
        folder,
        limits,
        # A template's was a fresh sandbox's when checkpointed; a running sandbox's, if its own
        # was as a fresh one (criu.same_network).
        fresh_network=bool(info.get("fresh_network", True)),
        work_dir=folder / "criu",
    )
    return SandboxProcess(sandbox_id, folder, pid, pid)


def _copy(*pairs: tuple[Path, Path]) -> None:
    """Copy each (source, destination) tree, all at once: each copy is mostly cp's start-up
    (~3 ms), so they overlap."""
    # cp keeps what an overlay upper layer needs: owners, modes, xattrs, whiteout devices.
    copies: list[tuple[Path, subprocess.Popen[bytes]]] = []
    try:
        for src, dst in pairs:
            copies.append((src, subprocess.Popen(
                ["cp", "-a", "--reflink=auto", "--", str(src), str(dst)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )))  # fmt: skip
    except BaseException:  # e.g. EAGAIN: the copies begun end before the caller cleans up
        for _, copy in copies:
            copy.kill()
            copy.wait()
        raise
    failed = []
    for src, copy in copies:
        _, err = copy.communicate()
        if copy.returncode != 0:
            failed.append(f"copy of {src} failed: {err.decode(errors='replace').strip()}")
    if failed:
        raise OSError("; ".join(failed))
