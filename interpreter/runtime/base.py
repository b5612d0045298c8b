"""The runtime interface: how a sandbox exists on a host. Popen-like verbs, as jupyter_client's
kernel provisioners have them, plus the capabilities the service builds on: checkpoints (pause
with memory), template snapshots and resource usage. Every verb is abstract: a runtime is
complete or it is not one. Implementations are picked from ``RUNTIMES`` by name; service/
imports this module only."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interpreter.core.config import Settings
from interpreter.core.pressure import Pressure
from interpreter.core.sandbox_fs import SandboxSocket
from interpreter.runtime.images import ID_SHIFT, Image
from interpreter.runtime.network import Egress

__all__ = [
    "Egress",
    "Image",
    "Limits",
    "ResourceUsage",
    "Runtime",
    "SandboxProcess",
    "SandboxSpec",
    "VolumeMount",
    "load_runtime",
]

# The host ids of the sandbox's root and `user` (uid 1000 inside): what its sockets belong to.
ROOT_HOST_ID = ID_SHIFT
USER_HOST_ID = ID_SHIFT + 1000

RuntimeName = Literal["nsjail"]
RUNTIMES: dict[str, str] = {"nsjail": "interpreter.runtime.nsjail:NsjailRuntime"}


@dataclass(frozen=True)
class Limits:
    cpu: float  # cores (a cgroup quota)
    memory_mb: int  # memory and swap together, TCP buffers apart (linux.memory_limits)
    disk_mb: int  # the writable layer's file system: bytes and, one per 16 KiB, inodes


@dataclass(frozen=True)
class VolumeMount:
    path: str  # absolute, inside the sandbox (checked by the service: service/volumes.py)
    volume_id: str


@dataclass(frozen=True)
class SandboxSpec:
    sandbox_id: str
    image: Image
    limits: Limits
    envs: dict[str, str] = field(default_factory=dict)
    # A template build's step: the agent only (files, commands), no gateway and no kernels.
    agent_only: bool = False
    # Bound read-write at their paths; a pause and resume keeps them (the runtime records them).
    volumes: tuple[VolumeMount, ...] = ()


@dataclass
class SandboxProcess:
    """A launched sandbox: what is needed to find, signal and clean it up, even after a restart."""

    sandbox_id: str
    folder: Path
    pid: int  # the supervising process on the host (nsjail); jail_pid once CRIU restored it
    jail_pid: int  # the jail's PID 1 (our supervisor), as the host sees it

    @property
    def recorded(self) -> bool:
        """False for a sandbox known only by its folder (its PIDs were never recorded)."""
        return self.pid > 0

    @property
    def restored(self) -> bool:
        """Restored from a checkpoint: no nsjail supervises it any more (kill it by cgroup)."""
        return self.pid == self.jail_pid

    @property
    def gateway_socket(self) -> SandboxSocket:
        """Bound by the gateway, running as `user`, in the run folder's user/ (which it owns)."""
        return SandboxSocket(self.folder, ("run", "user", "gateway.sock"), owner=USER_HOST_ID)

    @property
    def agent_socket(self) -> SandboxSocket:
        """Bound by the agent, running as root inside, in the run folder."""
        return SandboxSocket(self.folder, ("run", "agent.sock"), owner=ROOT_HOST_ID)


@dataclass(frozen=True)
class ResourceUsage:
    """What a running sandbox uses now, as its cgroups and processes tell."""

    mem_used: int  # bytes, reclaimable page cache excluded
    mem_cache: int  # bytes of page cache
    cpu_seconds: float  # user + system time of its processes so far


class Runtime(ABC):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def folder(self, sandbox_id: str) -> Path:
        """The sandbox's folder on the host (its layer, run folder, checkpoint)."""
        return self.settings.sandboxes_path / sandbox_id

    def unrecorded(self, sandbox_id: str) -> SandboxProcess:
        """A sandbox known only by its folder: its start was cut short before its PIDs were
        recorded. ``cleanup`` finds what it left."""
        return SandboxProcess(sandbox_id, self.folder(sandbox_id), pid=-1, jail_pid=-1)

    # -- images -----------------------------------------------------------------------------
    @abstractmethod
    def image(self, template: str) -> Image:
        """The built image of a template (TemplateNotFoundError if there is none)."""

    @abstractmethod
    def builtin_templates(self) -> list[str]:
        """The templates this runtime defines itself (their images built by ``image``)."""

    @abstractmethod
    def base_envs(self) -> dict[str, str]:
        """The variables every process of a sandbox starts with (PATH, HOME...)."""

    @abstractmethod
    def built_image(self, base: Image, name: str, layers: list[str]) -> Image:
        """The image of template ``name`` built on ``base`` with these step layers (bottom
        first; each one ``has_layer``)."""

    @abstractmethod
    def has_layer(self, key: str) -> bool:
        """Whether the step layer ``key`` was kept (a build step's result, cached)."""

    @abstractmethod
    def capture_layer(self, process: SandboxProcess, key: str) -> None:
        """Keep what a killed build sandbox wrote on its image as the step layer ``key``."""

    @abstractmethod
    def remove_layers(self, keep: set[str]) -> list[str]:
        """Remove every step layer not in ``keep`` that no sandbox has mounted; their keys."""

    # -- process tree -----------------------------------------------------------------------
    @abstractmethod
    def launch(self, spec: SandboxSpec) -> SandboxProcess:
        """Start the sandbox's process tree; returns once it is started (not yet ready)."""

    @abstractmethod
    def poll(self, process: SandboxProcess) -> bool:
        """Whether the sandbox's process tree is still alive."""

    @abstractmethod
    def kill(self, process: SandboxProcess) -> None:
        """Stop every process of the sandbox and wait until they are gone."""

    @abstractmethod
    def cleanup(self, process: SandboxProcess) -> None:
        """Remove what the sandbox left on the host: mounts, cgroups, its folder."""

    @abstractmethod
    def diagnostics(self, process: SandboxProcess) -> str:
        """A bounded excerpt of the sandbox's logs, for error messages."""

    @abstractmethod
    def set_envs(self, process: SandboxProcess, envs: dict[str, str]) -> None:
        """Give a started sandbox its environment variables (one from the warm pool: a cold one
        gets them at launch); what starts inside from then on sees them."""

    @abstractmethod
    def set_limits(self, process: SandboxProcess, cpu: float, memory_mb: int) -> None:
        """Change a started sandbox's CPU and memory limits; raises OSError if they can't be."""

    # -- network ----------------------------------------------------------------------------
    @abstractmethod
    def set_network(self, process: SandboxProcess, egress: Egress | None) -> None:
        """Give a started sandbox egress with these rules (None: loopback only), or change
        them; raises OSError (NetworkError) if the host cannot."""

    @abstractmethod
    def network_bytes(self, process: SandboxProcess) -> tuple[int, int] | None:
        """Bytes received and sent by the sandbox through its egress (None: it has none)."""

    # -- resource usage ---------------------------------------------------------------------
    @abstractmethod
    def usage(self, process: SandboxProcess) -> ResourceUsage | None:
        """Memory and CPU time in use now; None if the sandbox is not running."""

    @abstractmethod
    def disk_used(self, process: SandboxProcess) -> int:
        """Bytes the sandbox wrote on top of its image (on its disk)."""

    @abstractmethod
    def disk_total(self, process: SandboxProcess) -> int:
        """Size of the sandbox's disk (its limit)."""

    # -- bombs ------------------------------------------------------------------------------
    @abstractmethod
    def pressure(self, process: SandboxProcess) -> Pressure | None:
        """Its OOM kills and forks refused at the process limit so far (cheap: read per run)."""

    @abstractmethod
    def reap_strays(self, process: SandboxProcess) -> int | None:
        """Kill every process of the sandbox that belongs to none of its services (the agent
        and its commands, the gateway and its kernels); how many (None: no answer)."""

    @abstractmethod
    def kill_tree(self, process: SandboxProcess, pid: int, at_least: int = 0) -> int:
        """Kill the sandbox's process ``pid`` (as the sandbox numbers it) and all it started,
        from outside the sandbox, if they are at least ``at_least`` tasks; how many were."""

    # -- checkpoints (pause with memory) ----------------------------------------------------
    @abstractmethod
    def checkpoint_support(self) -> str | None:
        """None when checkpoints and snapshots work on this host, else why they do not."""

    @abstractmethod
    def has_checkpoint(self, sandbox_id: str) -> bool:
        """Whether a paused sandbox's memory checkpoint is there (a memory=True pause)."""

    @abstractmethod
    def pause(self, process: SandboxProcess, memory: bool) -> None:
        """End the sandbox's processes, keeping its files (its folder, upper layer); with
        ``memory``, checkpoint them first so that ``restore`` brings them back. If the
        checkpoint fails the sandbox keeps running (or frozen, if it was) and the error is
        raised."""

    @abstractmethod
    def freeze(self, process: SandboxProcess) -> bool:
        """Stop the sandbox's processes where they are, in memory (a pause without a
        checkpoint: ``thaw`` continues them at once, ``pause`` checkpoints them as they are).
        The host's connections to it must be closed first. False if it could not be frozen
        (it runs on)."""

    @abstractmethod
    def thaw(self, process: SandboxProcess) -> None:
        """Let a frozen sandbox's processes run on."""

    @abstractmethod
    def frozen(self, process: SandboxProcess) -> bool:
        """Whether the sandbox's processes are frozen (cheap: a file read)."""

    @abstractmethod
    def restore(self, sandbox_id: str, limits: Limits) -> SandboxProcess:
        """Bring a paused sandbox's processes back from its checkpoint (then discarded)."""

    @abstractmethod
    def discard_checkpoint(self, sandbox_id: str) -> None:
        """Drop a paused sandbox's checkpoint, keeping its files: ``launch`` boots it fresh."""

    # -- template snapshots -----------------------------------------------------------------
    @abstractmethod
    def snapshot_info(self, image: Image) -> dict[str, str] | None:
        """What ``take_snapshot`` was told about the snapshot of this build of a template, or
        None when there is none (never taken, or the template was rebuilt since)."""

    @abstractmethod
    def take_snapshot(self, process: SandboxProcess, image: Image, info: dict[str, str]) -> None:
        """Checkpoint a ready sandbox (its host connections closed) as the snapshot of its
        image, replacing the template's older ones. Its processes are gone afterwards; its
        folder is left for ``cleanup``."""

    @abstractmethod
    def restore_snapshot(self, image: Image, sandbox_id: str, limits: Limits) -> SandboxProcess:
        """A new sandbox restored from the image's snapshot, sharing nothing writable with it."""

    @abstractmethod
    def discard_snapshot(self, image: Image) -> None:
        """Remove the image's snapshot (a restore from it failed)."""

    # -- snapshots of running sandboxes -----------------------------------------------------
    @abstractmethod
    def snapshot_sandbox(
        self, process: SandboxProcess, snapshot_id: str, info: dict[str, object]
    ) -> float:
        """Checkpoint a running sandbox (its host connections closed) as ``snapshot_id``, its
        files copied while it is frozen; it runs on. Seconds it was frozen."""

    @abstractmethod
    def restore_sandbox_snapshot(
        self, snapshot_id: str, sandbox_id: str, limits: Limits
    ) -> SandboxProcess:
        """A new sandbox restored from a running sandbox's snapshot, sharing nothing
        writable with it or with other sandboxes of the snapshot."""

    @abstractmethod
    def sandbox_snapshot_info(self, snapshot_id: str) -> dict[str, object] | None:
        """What ``snapshot_sandbox`` was told (and the layers), None if there is none."""

    @abstractmethod
    def delete_sandbox_snapshot(self, snapshot_id: str) -> None:
        """Remove a running sandbox's snapshot."""

    # -- volumes --------------------------------------------------------------------------------
    @abstractmethod
    def create_volume(self, volume_id: str, size_mb: int) -> None:
        """Make a volume: storage of its own, bounded at ``size_mb``, empty, its root `user`'s."""

    @abstractmethod
    def delete_volume(self, volume_id: str) -> None:
        """Remove a volume and all it holds (no sandbox may have it mounted)."""

    @abstractmethod
    def volume_root(self, volume_id: str) -> Path:
        """The host folder of the volume's content (sandboxes write it: open nothing under it
        by path; ``service/volume_files.py`` walks it with no-follow descriptors)."""

    @abstractmethod
    def volume_usage(self, volume_id: str) -> tuple[int, int]:
        """Bytes in use on the volume and its size."""


def load_runtime(name: str, settings: Settings) -> Runtime:
    module, _, attr = RUNTIMES[name].partition(":")
    cls: type[Runtime] = getattr(importlib.import_module(module), attr)
    return cls(settings)
