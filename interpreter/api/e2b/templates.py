"""E2B's templates API, as its Template SDK (Python and JS) calls it: request a build, upload
each COPY's files, start the build with its steps, poll its status and logs; aliases and tags.

Every route translates to ``Templates`` (``service/templates.py``); a template's E2B id is its
name (``[a-z0-9._-]``). Uploads go to an absolute URL carrying a signed token (the SDK sends
them without its key), valid 30 minutes. Statuses and bodies are E2B's, exactly: the SDK reads
only the status it expects (202, 201, 200) and every required field.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.e2b.control import control_router
from interpreter.core.errors import InvalidRequestError
from interpreter.core.templates import BuildRecord, LogEntry, Step, TemplateSpec
from interpreter.service.manager import SandboxManager
from interpreter.service.signing import Grant

router = control_router()
uploads = APIRouter(tags=["e2b"])  # authenticated by the URL's token, not the key
Manager = Annotated[SandboxManager, Depends(manager)]
UPLOAD_SECONDS = 1800
PAGE = 100  # log entries per status call, as E2B's


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class BuildRequest(Loose):
    name: str | None = None
    alias: str | None = None  # older SDKs
    tags: list[str] | None = None
    cpu_count: int | None = Field(None, alias="cpuCount", ge=1, le=64)
    memory_mb: int | None = Field(None, alias="memoryMB", ge=128, le=262144)


class StepIn(Loose):
    type: str
    args: list[str] = Field(default_factory=list)
    files_hash: str | None = Field(None, alias="filesHash")
    force: bool = False


class BuildStart(Loose):
    from_image: str | None = Field(None, alias="fromImage")
    from_template: str | None = Field(None, alias="fromTemplate")
    from_image_registry: dict[str, Any] | None = Field(None, alias="fromImageRegistry")
    steps: list[StepIn] = Field(default_factory=list)
    start_cmd: str | None = Field(None, alias="startCmd")
    ready_cmd: str | None = Field(None, alias="readyCmd")
    force: bool = False


class AssignTags(Loose):
    target: str
    tags: list[str]


class DeleteTags(Loose):
    name: str
    tags: list[str]


def split_name(raw: str) -> tuple[str, str | None]:
    """E2B's ``[namespace/]alias[:tag]`` → our template name and the tag (None: default)."""
    name = raw.strip().lower().rsplit("/", 1)[-1]
    alias, _, tag = name.partition(":")
    return alias, (tag if tag and tag != "default" else None)


@router.post("/v3/templates", status_code=202, summary="E2B: request a template build")
async def request_build(body: BuildRequest, sandboxes: Manager) -> dict[str, Any]:
    if not (body.name or body.alias):
        raise InvalidRequestError("name is required")
    alias, tag = split_name(body.name or body.alias or "")
    tags = [t for t in [tag, *(body.tags or [])] if t]
    build = sandboxes.templates.request_build(alias, body.cpu_count, body.memory_mb, tags)
    return {
        "templateID": alias,
        "buildID": build.id,
        "public": False,
        "names": [alias],
        "aliases": [alias],
        "tags": tags or ["default"],
    }


@router.get("/templates/{template_id}/files/{files_hash}", status_code=201)
async def upload_link(
    template_id: str, files_hash: str, request: Request, sandboxes: Manager
) -> dict[str, Any]:
    """Where the SDK uploads a COPY's files (always given: its force_upload uses it)."""
    sandboxes.templates.get(template_id)
    present = sandboxes.templates.files.has(files_hash)  # checks the hash's form
    grant = Grant("template-files", files_hash, "root", "write", int(time.time()) + UPLOAD_SECONDS)
    url = request.url_for("e2b_template_files", files_hash=files_hash)
    return {
        "present": present,
        "url": str(url.include_query_params(token=sandboxes.signer.sign(grant))),
    }


@uploads.put("/e2b/template-files/{files_hash}", name="e2b_template_files", include_in_schema=False)
async def upload_files(
    files_hash: str, token: str, request: Request, sandboxes: Manager
) -> Response:
    grant = sandboxes.signer.verify(token, "write")
    if grant.sandbox_id != "template-files" or grant.path != files_hash:
        raise InvalidRequestError("this upload URL is for other files")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    await sandboxes.templates.files.put(files_hash, body())
    return Response(status_code=200)


@router.post("/v2/templates/{template_id}/builds/{build_id}", status_code=202)
async def start_build(
    template_id: str, build_id: str, body: BuildStart, sandboxes: Manager
) -> Response:
    templates = sandboxes.templates
    templates.build(build_id, template_id)
    if body.from_image_registry:
        raise InvalidRequestError("image registries are not reached by this server")
    base = body.from_template or body.from_image
    if base is None:
        raise InvalidRequestError("fromTemplate or fromImage is required")
    steps = [
        Step.model_validate(
            {"type": s.type.upper(), "args": s.args, "files_hash": s.files_hash,
             "force": s.force or body.force}
        )
        for s in body.steps
    ]  # fmt: skip
    spec = TemplateSpec(base=base, steps=steps, start_cmd=body.start_cmd, ready_cmd=body.ready_cmd)
    templates.start_build(build_id, spec)
    return Response(status_code=202)


@router.get("/templates/{template_id}/builds/{build_id}/status")
async def build_status(
    template_id: str,
    build_id: str,
    sandboxes: Manager,
    logs_offset: Annotated[int, Query(alias="logsOffset", ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE)] = PAGE,
) -> dict[str, Any]:
    build = sandboxes.templates.build(build_id, template_id)
    entries = sandboxes.templates.logs(build_id, logs_offset, limit)
    answer: dict[str, Any] = {
        "templateID": build.template,
        "buildID": build.id,
        "status": build.status,
        "logs": [],
        "logEntries": [_entry(e) for e in entries],
    }
    if build.reason is not None:
        answer["reason"] = {
            "message": build.reason.message,
            **({"step": build.reason.step} if build.reason.step else {}),
            "logEntries": [
                _entry(e) for e in build.reason.log_tail if e.level in ("warn", "error")
            ],
        }
    return answer


def _entry(entry: LogEntry) -> dict[str, Any]:
    line = {
        "timestamp": entry.timestamp.isoformat(),
        "level": entry.level,
        "message": entry.message,
    }
    if entry.step:
        line["step"] = entry.step
    return line


@router.get("/templates/aliases/{alias:path}")
async def alias_exists(alias: str, sandboxes: Manager) -> dict[str, Any]:
    name, tag = split_name(alias)
    resolved = await sandboxes.templates.resolve(f"{name}:{tag}" if tag else name)
    return {"templateID": resolved.name, "public": sandboxes.templates.builtin(name) is not None}


@router.post("/templates/tags", status_code=201)
async def assign_tags(body: AssignTags, sandboxes: Manager) -> dict[str, Any]:
    name, tag = split_name(body.target)
    templates = sandboxes.templates
    record = templates.get(name)
    build_id = record.tags.get(tag) if tag else record.build_id
    if not build_id:
        raise InvalidRequestError(f"{body.target!r} has no ready build")
    if not body.tags:
        raise InvalidRequestError("tags is empty")
    templates.assign_tags(name, build_id, body.tags)
    return {"buildID": build_id, "tags": body.tags}


@router.delete("/templates/tags", status_code=204)
async def delete_tags(body: DeleteTags, sandboxes: Manager) -> Response:
    name, tag = split_name(body.name)
    if tag or "default" in body.tags:
        raise InvalidRequestError("give the template's name without a tag, and not 'default'")
    sandboxes.templates.remove_tags(name, body.tags)
    return Response(status_code=204)


@router.get("/templates/{template_id:path}/tags")
async def list_tags(template_id: str, sandboxes: Manager) -> list[dict[str, Any]]:
    name, _ = split_name(template_id)
    templates = sandboxes.templates
    record = templates.get(name)
    tags = []
    for tag, build_id in sorted(record.tags.items()):
        build: BuildRecord = templates.build(build_id)
        tags.append({"tag": tag, "buildID": build_id, "createdAt": build.created_at.isoformat()})
    return tags


@router.delete("/templates/{template_id}", status_code=204)
async def delete_template(template_id: str, sandboxes: Manager) -> Response:
    await sandboxes.delete_template(split_name(template_id)[0])
    return Response(status_code=204)
