"""A paused sandbox's checkpoint, in its folder: the CRIU images a pause with memory writes, and
the tree a resume restores from them. The runtime freezes, detaches and ends the tree around
these (nsjail.py). Blocking: call from a thread."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.runtime import criu, disk, linux, snapshot, volumes
from interpreter.runtime.base import Limits, SandboxProcess, VolumeMount
from interpreter.runtime.restored import restore_tree

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"  # CRIU images of a paused sandbox, in its folder
LAYERS = "layers.json"  # with them: the lower layers its overlay had
# With them when its network namespace was a fresh sandbox's: restored as a new one (faster).
FRESH_NETWORK = "fresh-network"
# In its folder (the host's, not the sandbox's): the volumes bound into it, for pause and resume.
VOLUMES = "volumes.json"


def exists(folder: Path) -> bool:
    return (folder / CHECKPOINT / "inventory.img").is_file()


def write(settings: Settings, process: SandboxProcess, frozen: bool) -> None:
    """Dump the sandbox's tree into its folder's checkpoint. ``frozen``: the tree is frozen in
    its freezer cgroup and stays so (the caller ends it once this returned); else CRIU ends it.
    A failed dump leaves no images and the tree as it was (CriuError)."""
    images, new = process.folder / CHECKPOINT, process.folder / (CHECKPOINT + ".new")
    shutil.rmtree(new, ignore_errors=True)
    layers = linux.overlay_lower_layers(process.folder / "root")
    # CRIU's page copying runs in the sandbox's own (frozen) tasks: lift their CPU quota
    # for the dump, or a 1-core sandbox is throttled for most of a second per GB.
    quota = linux.sandbox_cgroup(process.jail_pid, "cpu") / "cpu.cfs_quota_us"
    limit = quota.read_text().strip()
    quota.write_text("-1")
    try:
        dumped = criu.dump(
            settings.criu, process.jail_pid, new,
            external_mounts=[(m.path, key) for key, m in volume_keys(process.folder)],
            freeze_cgroup=linux.sandbox_cgroup(process.jail_pid, "freezer") if frozen else None,
            leave_running=frozen,
        )  # fmt: skip
    except criu.CriuError:
        shutil.rmtree(new, ignore_errors=True)  # CRIU resumed the tree: it runs on
        quota.write_text(limit)
        raise
    if frozen:  # the tree waits, frozen, until the images are in place
        quota.write_text(limit)
    # To mount the same layers again if the overlay is gone (e.g. after a reboot).
    (new / LAYERS).write_text(json.dumps([str(layer) for layer in layers]))
    reference = snapshot.network_reference(settings)
    if reference is not None and criu.same_network(new, reference):
        (new / FRESH_NETWORK).touch()
    shutil.rmtree(images, ignore_errors=True)
    new.rename(images)
    log.info(
        "sandbox %s checkpointed in %.0f ms (%d MB of images)",
        process.sandbox_id, dumped.seconds * 1000, dumped.image_bytes >> 20,
    )  # fmt: skip


def restore(settings: Settings, folder: Path, sandbox_id: str, limits: Limits) -> SandboxProcess:
    """The sandbox's tree restored from its checkpoint (its overlay mounted again first if it is
    not); the images are removed once it runs."""
    images, root = folder / CHECKPOINT, folder / "root"
    if not linux.is_mounted(root):
        layers = [Path(p) for p in json.loads((images / LAYERS).read_text())]
        missing = [str(layer) for layer in layers if not layer.is_dir()]
        if missing:
            raise criu.CriuError(f"image layers of the checkpoint are gone: {missing}")
        disk.mount(folder)
        linux.mount_overlay(layers, *disk.layer_dirs(folder), root)
    pid = restore_tree(
        settings,
        sandbox_id,
        images,
        folder,
        limits,
        fresh_network=(images / FRESH_NETWORK).exists(),
        external_mounts=[
            (key, volumes.data(settings, m.volume_id)) for key, m in volume_keys(folder)
        ],
    )
    # The processes moved on from these images; a later pause writes new ones.
    shutil.rmtree(images, ignore_errors=True)
    return SandboxProcess(sandbox_id, folder, pid, pid)


def discard(folder: Path) -> None:
    """Remove the checkpoint, and unmount what a restore would have run on."""
    shutil.rmtree(folder / CHECKPOINT, ignore_errors=True)
    linux.unmount(folder / "root")
    disk.unmount(folder)


def write_volumes(folder: Path, mounts: tuple[VolumeMount, ...]) -> None:
    (folder / VOLUMES).write_text(json.dumps({m.path: m.volume_id for m in mounts}))


def volume_keys(folder: Path) -> list[tuple[str, VolumeMount]]:
    """The sandbox's volume mounts, each with the key CRIU knows its mount by (the same at
    dump and restore: their order is the file's, written by the host at launch)."""
    try:
        mounts = json.loads((folder / VOLUMES).read_text())
    except FileNotFoundError:  # launched before volumes existed
        return []
    return [(f"volume{i}", VolumeMount(p, v)) for i, (p, v) in enumerate(sorted(mounts.items()))]
