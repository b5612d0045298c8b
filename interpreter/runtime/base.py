"""The runtime interface: how a sandbox exists on a host. Popen-like verbs, as jupyter_client's
kernel provisioners have them; implementations are picked from ``RUNTIMES`` by name."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interpreter.core.config import Settings
from interpreter.runtime.images import Image

RuntimeName = Literal["nsjail"]
RUNTIMES: dict[str, str] = {"nsjail": "interpreter.runtime.nsjail:NsjailRuntime"}


@dataclass(frozen=True)
class SandboxSpec:
    sandbox_id: str
    image: Image
    cpu: float
    memory_mb: int
    envs: dict[str, str] = field(default_factory=dict)


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
    def gateway_socket(self) -> Path:
        return self.folder / "run" / "user" / "gateway.sock"

    @property
    def agent_socket(self) -> Path:
        return self.folder / "run" / "agent.sock"


class Runtime(ABC):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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

    def has_checkpoint(self, sandbox_id: str) -> bool:
        """Whether a paused sandbox's memory checkpoint is there (a memory=True pause)."""
        raise NotImplementedError

    def pause(self, process: SandboxProcess, memory: bool) -> None:
        """End the sandbox's processes, keeping its files (its folder, upper layer); with
        ``memory``, checkpoint them first so that ``restore`` brings them back. If the
        checkpoint fails the sandbox keeps running and the error is raised."""
        raise NotImplementedError

    def restore(self, sandbox_id: str, cpu: float, memory_mb: int) -> SandboxProcess:
        """Bring a paused sandbox's processes back from its checkpoint (then discarded)."""
        raise NotImplementedError

    def discard_checkpoint(self, sandbox_id: str) -> None:
        """Drop a paused sandbox's checkpoint, keeping its files: ``launch`` boots it fresh."""
        raise NotImplementedError

    def set_envs(self, process: SandboxProcess, envs: dict[str, str]) -> None:
        """Give a started sandbox its environment variables (one from the warm pool: a cold one
        gets them at launch); what starts inside from then on sees them."""
        raise NotImplementedError

    def set_limits(self, process: SandboxProcess, cpu: float, memory_mb: int) -> None:
        """Change a started sandbox's CPU and memory limits; raises OSError if they can't be."""
        raise NotImplementedError


def load_runtime(name: str, settings: Settings) -> Runtime:
    module, _, attr = RUNTIMES[name].partition(":")
    cls: type[Runtime] = getattr(importlib.import_module(module), attr)
    return cls(settings)
