"""Domain records: what the service knows about sandboxes and contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from interpreter.core.network import Network

SandboxState = Literal["starting", "running", "paused", "killed", "pooled"]
# At its timeout a sandbox is killed, paused (checkpointed: memory kept) or paused keeping only
# its files (its kernels and processes start fresh on resume).
OnTimeout = Literal["kill", "pause", "pause_files"]
# "pooled": ready in the warm pool, not yet handed out (invisible to clients).


def now() -> datetime:
    """The time records are stamped with (aware, UTC)."""
    return datetime.now(UTC)


class SandboxRecord(BaseModel):
    id: str
    template: str
    state: SandboxState
    created_at: datetime
    expires_at: datetime
    cpu: float
    memory_mb: int
    disk_mb: int = 10240  # what sandboxes made before disk limits were set had
    metadata: dict[str, str] = Field(default_factory=dict)
    envs: dict[str, str] = Field(default_factory=dict)
    pid: int | None = None  # nsjail on the host
    jail_pid: int | None = None  # the jail's PID 1 on the host
    folder: str | None = None
    on_timeout: OnTimeout = "kill"  # what the reaper does when it expires
    network: Network = Field(default_factory=Network)  # egress off unless asked
    workdir: str | None = None  # its template's WORKDIR: commands run there unless told
    # Whether traffic to it (E2B's data plane) resumes it when paused; a connect always does.
    auto_resume: bool = True
    # Volumes bound into it: the path inside → the volume's id (service/volumes.py).
    volume_mounts: dict[str, str] = Field(default_factory=dict)


class ContextRecord(BaseModel):
    id: str
    sandbox_id: str
    language: str
    cwd: str
    created_at: datetime
    is_default: bool = False  # the language's context for runs that name no context
    kernel_id: str | None = None  # set once its kernel started (on first use)


class SecretRecord(BaseModel):
    """A stored secret, without its value (kept apart, never read back through the API)."""

    id: str
    name: str
    version: int = 1
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)


class SnapshotRecord(BaseModel):
    """A running sandbox's snapshot, usable as a template: with ``memory`` its processes and
    kernels (restored), else its files (a layer on its image; creates boot fresh on it)."""

    id: str
    name: str | None = None
    sandbox_id: str  # the source
    template: str  # the source's
    memory: bool
    created_at: datetime = Field(default_factory=now)
    cpu: float
    memory_mb: int
    disk_mb: int
    envs: dict[str, str] = Field(default_factory=dict)
    network: Network = Field(default_factory=Network)
    workdir: str | None = None
    layers: list[str] = Field(default_factory=list)  # the image it restores or boots on
    contexts: list[ContextRecord] = Field(default_factory=list)  # memory: those restored
    frozen_seconds: float = 0.0  # how long the source was paused for it


class VolumeRecord(BaseModel):
    """Named persistent storage, mounted into sandboxes at create; its own file system of
    ``size_mb`` (runtime/volumes.py)."""

    id: str
    name: str
    size_mb: int
    created_at: datetime = Field(default_factory=now)
