"""What a create asks for: declared once here, translated into by every surface (the native
API takes it as its body; the E2B control plane and the CLI build it from their own shapes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interpreter.core.config import Settings
from interpreter.core.envs import checked_envs
from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import OnTimeout, SandboxRecord, now
from interpreter.core.network import Network, checked


class SandboxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(
        None, description="Template (image) name; default code-interpreter."
    )
    timeout: int | None = Field(
        None, ge=1, description="Lifetime in seconds before the sandbox is killed."
    )
    metadata: dict[str, str] | None = Field(
        None, description="Free key/value tags; list filters on them."
    )
    envs: dict[str, str] | None = Field(
        None, description="Environment variables of every process inside."
    )
    # At least 1 % of a core: the cgroup quota is whole milliseconds per second (0 = unlimited).
    cpu: float | None = Field(None, ge=0.01, le=64, description="CPU cores (cgroup quota).")
    memory_mb: int | None = Field(None, ge=128, le=262144, description="Memory limit in MiB.")
    disk_mb: int | None = Field(
        None,
        ge=64,
        le=1048576,
        description="Disk limit in MiB: the sandbox's writable file system (an inode per "
        "16 KiB); writes beyond it fail with ENOSPC inside.",
    )
    network: Network | None = Field(
        None, description="Egress and its rules; default off (loopback only)."
    )
    auto_resume: bool = Field(
        True,
        description="When paused, any call to it resumes it first (false: E2B's traffic to it "
        "gets 'not found' until it is resumed or connected to; native calls always resume).",
    )
    volume_mounts: dict[str, str] | None = Field(
        None,
        description="Volumes to mount: an absolute path inside → a volume's name or id; each "
        "is shared read-write with every sandbox that mounts it and outlives them.",
    )
    on_timeout: OnTimeout = Field(
        "kill",
        description="At its timeout the sandbox is killed, paused (resumable, memory kept) or "
        "paused keeping only its files (pause_files: it boots fresh on them at resume).",
    )


def network_for(settings: Settings, network: Network | None) -> Network:
    """The network a create or an update asks for, checked; egress refused when the host's
    operator turned it off."""
    if network is None:
        return Network()
    if network.enabled and not settings.egress:
        raise InvalidRequestError(
            "egress is turned off on this host (INTERPRETER_EGRESS=false): sandboxes have "
            "loopback only; ask without network.enabled"
        )
    return checked(network)


def lifetime(settings: Settings, timeout: int | None) -> int:
    """Seconds a sandbox lives: ``timeout``, or the default; above the maximum is refused."""
    seconds = timeout or settings.default_timeout
    if seconds > settings.max_timeout:
        raise InvalidRequestError(
            f"timeout {seconds} s is above the maximum of {settings.max_timeout} s"
        )
    return seconds


@dataclass
class CreateRequest:
    """A create's options, checked, with the service's defaults filled in."""

    template: str
    seconds: int
    cpu: float
    memory_mb: int
    disk_mb: int
    metadata: dict[str, str] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)
    on_timeout: OnTimeout = "kill"
    network: Network = field(default_factory=Network)
    workdir: str | None = None  # the template's (a built one's WORKDIR)
    auto_resume: bool = True
    # Path inside → volume name or id as asked; the service checks them and records ids.
    volume_mounts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings, options: SandboxOptions) -> CreateRequest:
        return cls(
            template=options.template or settings.default_template,
            seconds=lifetime(settings, options.timeout),
            cpu=options.cpu or settings.default_cpu,
            memory_mb=options.memory_mb or settings.default_memory_mb,
            disk_mb=options.disk_mb or settings.default_disk_mb,
            metadata=options.metadata or {},
            envs=checked_envs(options.envs),
            on_timeout=options.on_timeout,
            network=network_for(settings, options.network),
            auto_resume=options.auto_resume,
            volume_mounts=dict(options.volume_mounts or {}),
        )

    @classmethod
    def defaults(cls, settings: Settings, template: str) -> CreateRequest:
        return cls.of(settings, SandboxOptions(template=template))

    def new_record(self, state: Literal["starting", "pooled"]) -> SandboxRecord:
        created = now()
        return SandboxRecord(
            id=secrets.token_hex(10),
            template=self.template,
            state=state,
            created_at=created,
            expires_at=created + timedelta(seconds=self.seconds),
            cpu=self.cpu,
            memory_mb=self.memory_mb,
            disk_mb=self.disk_mb,
            metadata=self.metadata,
            envs=self.envs,
            on_timeout=self.on_timeout,
            network=self.network,
            workdir=self.workdir,
            auto_resume=self.auto_resume,
            volume_mounts=self.volume_mounts,
        )
