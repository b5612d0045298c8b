"""/v1/templates: build templates from a Dockerfile (or steps), follow their builds, list, get,
tag and delete them. A build's files (its context, a tar) are uploaded first by their hash."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.ndjson import NDJSONResponse
from interpreter.core import dockerfile
from interpreter.core.errors import ConflictError, InvalidRequestError, NotFoundError
from interpreter.core.templates import (
    BuildReason,
    BuildRecord,
    BuildStatus,
    TemplateRecord,
    TemplateSpec,
)
from interpreter.service.manager import SandboxManager

router = APIRouter(
    prefix="/templates",
    tags=["templates"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError),
)
Manager = Annotated[SandboxManager, Depends(manager)]
FilesHash = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


class BuildTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="The template's name ([a-z0-9._-], 1-63 characters).")
    dockerfile: str | None = Field(
        None, description="A Dockerfile (FROM one of this service's templates)."
    )
    spec: TemplateSpec | None = Field(None, description="Or the base and steps themselves.")
    files_hash: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The uploaded build context (PUT /v1/templates/files/{hash}) the "
        "Dockerfile's COPY and ADD read.",
    )
    build_args: dict[str, str] | None = Field(None, description="Values of the ARGs.")
    start_cmd: str | None = Field(
        None, description="Run in the background when the template starts (default: CMD)."
    )
    ready_cmd: str | None = Field(
        None, description="The template is ready when this exits 0 (default: sleep 20)."
    )
    ready_timeout: int | None = Field(
        None, ge=1, le=3600, description="Seconds the ready command may take (default 600)."
    )
    cpu: float | None = Field(None, ge=0.01, le=64, description="CPU cores of build steps.")
    memory_mb: int | None = Field(None, ge=128, le=262144, description="Memory of build steps.")


class Build(BaseModel):
    id: str
    template: str
    status: BuildStatus
    created_at: datetime
    finished_at: datetime | None
    reason: BuildReason | None
    built_steps: int
    cached_steps: int
    layers: list[str] = Field(description="Its file-system layers' keys, bottom first.")

    @classmethod
    def of(cls, record: BuildRecord) -> Build:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class Template(BaseModel):
    name: str
    builtin: bool
    build_id: str | None = None
    status: BuildStatus | None = Field(None, description="Of its newest build.")
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, name: str, record: TemplateRecord | None, build: BuildRecord | None) -> Template:
        if record is None:
            return cls(name=name, builtin=True, status="ready")
        return cls(
            name=name,
            builtin=False,
            build_id=record.build_id,
            status=build.status if build else None,
            tags=record.tags,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class Tags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(..., min_length=1, max_length=100)
    build_id: str | None = Field(None, description="Default: the template's ready build.")


@router.put("/files/{files_hash}", status_code=201)
async def upload_files(
    files_hash: FilesHash, request: Request, sandboxes: Manager
) -> dict[str, int]:
    """Upload a build's files: a tar (gzip or not) of paths relative to its context, streamed."""

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    return {"size": await sandboxes.templates.files.put(files_hash, body())}


@router.get("/files/{files_hash}")
async def files_present(files_hash: FilesHash, sandboxes: Manager) -> dict[str, bool]:
    """Whether a build's files were uploaded already (an unchanged context is not sent again)."""
    return {"present": sandboxes.templates.files.has(files_hash)}


@router.post("", status_code=202)
async def build_template(body: BuildTemplate, sandboxes: Manager) -> Build:
    """Start a build (its steps, then the template's start and ready commands and snapshot);
    follow it at .../builds/{id}/logs?follow=true. 409 while another build of it runs."""
    if (body.dockerfile is None) == (body.spec is None):
        raise InvalidRequestError("give either dockerfile or spec")
    if body.spec is not None:
        spec = body.spec
    else:
        assert body.dockerfile is not None
        spec = dockerfile.parse(body.dockerfile, body.files_hash, body.build_args).spec
    if body.start_cmd is not None:
        spec.start_cmd = body.start_cmd
    if body.ready_cmd is not None:
        spec.ready_cmd = body.ready_cmd
    templates = sandboxes.templates
    build = templates.submit(body.name, spec, body.cpu, body.memory_mb, body.ready_timeout)
    return Build.of(build)


@router.get("")
async def list_templates(sandboxes: Manager) -> list[Template]:
    """The built-in templates and those built here."""
    return [Template.of(*row) for row in sandboxes.templates.catalog()]


@router.get("/{name}")
async def get_template(name: str, sandboxes: Manager) -> Template:
    for row in sandboxes.templates.catalog():
        if row[0] == name:
            return Template.of(*row)
    sandboxes.templates.get(name)  # raises: not found
    raise AssertionError


@router.delete("/{name}", status_code=204)
async def delete_template(name: str, sandboxes: Manager) -> Response:
    """Delete a template built here (409 while it has sandboxes or a build runs)."""
    await sandboxes.delete_template(name)
    return Response(status_code=204)


@router.get("/{name}/builds")
async def list_builds(name: str, sandboxes: Manager) -> list[Build]:
    sandboxes.templates.get(name)
    return [Build.of(b) for b in sandboxes.store.list_builds(name)]


@router.get("/{name}/builds/{build_id}")
async def get_build(name: str, build_id: str, sandboxes: Manager) -> Build:
    return Build.of(sandboxes.templates.build(build_id, name))


@router.get(
    "/{name}/builds/{build_id}/logs",
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON."}},
)
async def build_logs(
    name: str,
    build_id: str,
    sandboxes: Manager,
    offset: Annotated[int, Query(ge=0)] = 0,
    follow: Annotated[bool, Query(description="Stream until the build ends.")] = False,
) -> NDJSONResponse:
    """The build's log entries from ``offset`` as NDJSON (``{"type": "log", ...}``); with
    ``follow``, as they are written, then a last ``{"type": "build", ...}`` line."""
    templates = sandboxes.templates
    templates.build(build_id, name)

    async def lines() -> AsyncIterator[bytes]:
        if follow:
            entries: AsyncIterator[object] = templates.follow(build_id, offset)
            async for entry in entries:
                yield _line("log", entry)
            yield _line("build", Build.of(templates.build(build_id)))
        else:
            for entry in templates.logs(build_id, offset):
                yield _line("log", entry)

    return NDJSONResponse(lines())


def _line(kind: str, item: object) -> bytes:
    assert isinstance(item, BaseModel)
    return json.dumps({"type": kind, **item.model_dump(mode="json")}).encode() + b"\n"


@router.post("/{name}/tags")
async def tag_template(name: str, body: Tags, sandboxes: Manager) -> Template:
    """Name a build of the template (``name:tag`` in a create)."""
    templates = sandboxes.templates
    record = templates.get(name)
    build_id = body.build_id or record.build_id
    if build_id is None or templates.build(build_id, name).status != "ready":
        raise ConflictError(f"template {name!r} has no ready build to tag")
    templates.assign_tags(name, build_id, body.tags)
    return await get_template(name, sandboxes)


@router.delete("/{name}/tags/{tag}", status_code=204)
async def untag_template(name: str, tag: str, sandboxes: Manager) -> Response:
    sandboxes.templates.remove_tags(name, [tag])
    return Response(status_code=204)
