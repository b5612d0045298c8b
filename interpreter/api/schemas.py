"""Request and response bodies of the native API (/v1)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from interpreter.core.models import ContextRecord, SandboxRecord
from interpreter.core.network import Network

EnvVars = dict[str, str]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetTimeout(Body):
    timeout: int = Field(..., ge=1, description="New lifetime in seconds, counted from now.")


class PauseSandbox(Body):
    memory: bool = Field(
        True,
        description="Checkpoint the processes and their memory (resume continues them); "
        "false: keep only the files (resume boots fresh on them).",
    )


class ResumeSandbox(Body):
    timeout: int | None = Field(
        None, ge=1, description="Lifetime in seconds from the resume (default: the server's)."
    )
    memory: bool = Field(
        True,
        description="Restore the checkpointed processes; false: discard the checkpoint and "
        "boot fresh on the kept files (e.g. when the checkpoint cannot be restored).",
    )


class Sandbox(BaseModel):
    id: str
    template: str
    state: str
    created_at: datetime
    expires_at: datetime
    cpu: float
    memory_mb: int
    disk_mb: int
    metadata: dict[str, str]
    network: Network
    volume_mounts: dict[str, str] = Field(
        default_factory=dict, description="Path inside → the id of the volume mounted there."
    )

    @classmethod
    def of(cls, record: SandboxRecord) -> Sandbox:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class CreateContext(Body):
    language: str | None = Field(None, description="python (default); aliases accepted.")
    cwd: str | None = Field(None, description="Working directory; default /home/user.")


class Context(BaseModel):
    id: str
    language: str
    cwd: str

    @classmethod
    def of(cls, record: ContextRecord) -> Context:
        return cls(id=record.id, language=record.language, cwd=record.cwd)


class Execute(Body):
    code: str = Field(..., description="The code to run.")
    language: str | None = Field(None, description="Runs in this language's default context.")
    context_id: str | None = Field(
        None, description="Runs in this context (exclusive with language)."
    )
    envs: EnvVars | None = Field(None, description="Environment variables for this run only.")
    timeout: float | None = Field(
        None, gt=0, description="Seconds before the run is interrupted; none: no limit."
    )


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Metrics(BaseModel):
    timestamp: datetime
    cpu_count: int
    cpu_used_pct: float = Field(description="Of the sandbox's CPU count, 0-100.")
    mem_used: int = Field(description="Bytes, page cache excluded.")
    mem_total: int = Field(description="The memory limit, bytes.")
    mem_cache: int
    disk_used: int = Field(description="Bytes the sandbox wrote on top of its image.")
    disk_total: int
    net_rx_bytes: int = Field(0, description="Bytes received through its egress.")
    net_tx_bytes: int = Field(0, description="Bytes sent through its egress.")
