"""/v1/volumes: named persistent storage, mounted into sandboxes at create
(``volume_mounts={path: name}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.core.errors import ConflictError, InvalidRequestError, NotFoundError
from interpreter.core.models import VolumeRecord
from interpreter.service.manager import SandboxManager

router = APIRouter(
    tags=["volumes"], responses=answers(NotFoundError, InvalidRequestError, ConflictError)
)
Manager = Annotated[SandboxManager, Depends(manager)]


class CreateVolume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1-63 characters of a-z, 0-9, '-', '_', '.'; unique.")
    size_mb: int | None = Field(
        None, description="Its size in MiB (default INTERPRETER_DEFAULT_VOLUME_MB); ENOSPC past it."
    )


class Volume(BaseModel):
    id: str
    name: str
    size_mb: int
    created_at: datetime

    @classmethod
    def of(cls, record: VolumeRecord) -> Volume:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class VolumeDetail(Volume):
    used_bytes: int = Field(description="Bytes in use on it now.")


@router.post("/volumes", status_code=201)
async def create_volume(body: CreateVolume, sandboxes: Manager) -> Volume:
    """Create an empty volume (409 if the name is taken)."""
    return Volume.of(await sandboxes.volumes.create(body.name, body.size_mb))


@router.get("/volumes")
async def list_volumes(sandboxes: Manager) -> list[Volume]:
    return [Volume.of(v) for v in sandboxes.volumes.list()]


@router.get("/volumes/{volume}")
async def get_volume(volume: str, sandboxes: Manager) -> VolumeDetail:
    """A volume by name or id, with the bytes it holds."""
    record = sandboxes.volumes.get(volume)
    used, _ = await sandboxes.volumes.usage(record.id)
    return VolumeDetail(**Volume.of(record).model_dump(), used_bytes=used)


@router.delete("/volumes/{volume}", status_code=204)
async def delete_volume(volume: str, sandboxes: Manager) -> Response:
    """Destroy a volume and its content (409 while sandboxes have it mounted)."""
    await sandboxes.volumes.delete(volume)
    return Response(status_code=204)
