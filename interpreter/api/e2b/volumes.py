"""E2B's volumes: the control plane's ``/volumes`` (under the API key) and the volume content API
``/volumecontent/{volumeID}/{path,dir,file}`` (under the volume's own bearer token, returned by
create and get). The SDKs send content calls to ``E2B_VOLUME_API_URL``: point it at this server.
Errors are E2B's ``{code, message}`` body."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from interpreter.api.deps import manager
from interpreter.api.e2b import tokens
from interpreter.api.e2b.control import E2BRoute, control_router
from interpreter.api.e2b.errors import control_answers
from interpreter.api.e2b.schemas import iso
from interpreter.core.errors import AuthenticationError
from interpreter.core.models import VolumeRecord
from interpreter.service.manager import SandboxManager
from interpreter.service.volume_files import MAX_DEPTH, VolumeEntry

router = control_router()
Manager = Annotated[SandboxManager, Depends(manager)]


class NewVolume(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str


def _key(request: Request) -> bytes:
    key: bytes = request.app.state.manager.signer.key  # app.state is untyped
    return key


def _with_token(volume: VolumeRecord, request: Request) -> dict[str, Any]:
    """``VolumeAndToken`` (no ``domain``: the SDK's own, or E2B_VOLUME_API_URL)."""
    token = tokens.volume_token(_key(request), volume.id)
    return {"volumeID": volume.id, "name": volume.name, "token": token}


@router.post("/volumes", status_code=201, summary="E2B: create a volume")
async def create_volume(body: NewVolume, request: Request, sandboxes: Manager) -> JSONResponse:
    volume = await sandboxes.volumes.create(body.name)
    return JSONResponse(_with_token(volume, request), status_code=201)


@router.get("/volumes", summary="E2B: list volumes")
async def list_volumes(sandboxes: Manager) -> list[dict[str, str]]:
    return [{"volumeID": v.id, "name": v.name} for v in sandboxes.volumes.list()]


@router.get("/volumes/{volume_id}", summary="E2B: a volume and its token")
async def get_volume(volume_id: str, request: Request, sandboxes: Manager) -> dict[str, Any]:
    return _with_token(sandboxes.volumes.get(volume_id), request)


@router.delete("/volumes/{volume_id}", status_code=204, summary="E2B: destroy a volume")
async def delete_volume(volume_id: str, sandboxes: Manager) -> Response:
    await sandboxes.volumes.delete(volume_id)
    return Response(status_code=204)


# -- the volume content API ----------------------------------------------------------------------
class VolumeContentRoute(E2BRoute):
    """Errors leave as the control plane's; the key check is the volume's token (``app``:
    checked before the control plane's routes, of which this is one)."""


def require_volume_token(request: Request) -> None:
    """``Authorization: Bearer <token>`` of the volume the path names."""
    volume_id = str(request.path_params.get("volume_id", ""))
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise AuthenticationError("missing volume token (Authorization: Bearer <token>)")
    expected = tokens.volume_token(_key(request), volume_id)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise AuthenticationError("invalid volume token")


content = APIRouter(
    prefix="/volumecontent/{volume_id}",
    tags=["e2b"],
    route_class=VolumeContentRoute,
    dependencies=[Depends(require_volume_token)],
    responses=control_answers(),
)
PathParam = Annotated[str, Query(min_length=1, max_length=4096)]
IdParam = Annotated[int | None, Query(ge=0)]


class MetadataUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uid: int | None = None
    gid: int | None = None
    mode: int | None = None


def entry(found: VolumeEntry) -> dict[str, Any]:
    """``VolumeEntryStat``."""
    answer: dict[str, Any] = {
        "name": found.name, "type": found.type, "path": found.path, "size": found.size,
        "mode": found.mode, "uid": found.uid, "gid": found.gid, "atime": iso(found.atime),
        "mtime": iso(found.mtime), "ctime": iso(found.ctime),
    }  # fmt: skip
    if found.target is not None:
        answer["target"] = found.target
    return answer


@content.get("/path", summary="E2B: a volume entry's information")
async def path_info(volume_id: str, path: PathParam, sandboxes: Manager) -> dict[str, Any]:
    return entry(await sandboxes.volumes.content(volume_id).info(path))


@content.patch("/path", summary="E2B: change an entry's owner or mode")
async def update_path(
    volume_id: str, path: PathParam, body: MetadataUpdate, sandboxes: Manager
) -> dict[str, Any]:
    found = await sandboxes.volumes.content(volume_id).update(path, body.uid, body.gid, body.mode)
    return entry(found)


@content.delete("/path", status_code=204, summary="E2B: remove a file or folder")
async def remove_path(volume_id: str, path: PathParam, sandboxes: Manager) -> Response:
    await sandboxes.volumes.content(volume_id).remove(path)
    return Response(status_code=204)


@content.get("/dir", summary="E2B: list a folder")
async def list_dir(
    volume_id: str,
    path: PathParam,
    sandboxes: Manager,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 1,
) -> list[dict[str, Any]]:
    return [entry(e) for e in await sandboxes.volumes.content(volume_id).list(path, depth)]


@content.post("/dir", status_code=201, summary="E2B: make a folder")
async def make_dir(
    volume_id: str,
    path: PathParam,
    sandboxes: Manager,
    uid: IdParam = None,
    gid: IdParam = None,
    mode: IdParam = None,
    force: bool = False,
) -> JSONResponse:
    found = await sandboxes.volumes.content(volume_id).make_dir(path, uid, gid, mode, force)
    return JSONResponse(entry(found), status_code=201)


@content.get("/file", summary="E2B: download a file")
async def read_file(volume_id: str, path: PathParam, sandboxes: Manager) -> StreamingResponse:
    size, chunks = await sandboxes.volumes.content(volume_id).read(path)
    return StreamingResponse(
        chunks, media_type="application/octet-stream", headers={"Content-Length": str(size)}
    )


@content.put("/file", status_code=201, summary="E2B: upload a file (streamed)")
async def write_file(
    volume_id: str,
    path: PathParam,
    request: Request,
    sandboxes: Manager,
    uid: IdParam = None,
    gid: IdParam = None,
    mode: IdParam = None,
    force: bool = False,
) -> JSONResponse:
    body: AsyncIterator[bytes] = request.stream()
    found = await sandboxes.volumes.content(volume_id).write(path, body, uid, gid, mode, force)
    return JSONResponse(entry(found), status_code=201)
