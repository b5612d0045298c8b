"""/v1/sandboxes/{id}/files: files inside a sandbox, streamed both ways."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from interpreter.api.deps import manager
from interpreter.api.errors import SANDBOX_FILES
from interpreter.api.ndjson import NDJSONResponse
from interpreter.core.errors import SandboxGoneError
from interpreter.core.protocol import EntryInfo
from interpreter.service.manager import SandboxManager
from interpreter.service.signing import Grant, expiry

router = APIRouter(prefix="/sandboxes/{sandbox_id}/files", tags=["files"], responses=SANDBOX_FILES)
Manager = Annotated[SandboxManager, Depends(manager)]
Path = Annotated[str, Query(description="Absolute, or relative to /home/user.")]
User = Annotated[Literal["user", "root"], Query(description="Who acts inside the sandbox.")]


@router.get("", response_class=StreamingResponse)
async def read_file(sandbox_id: str, path: Path, sandboxes: Manager, user: User = "user") -> Any:
    """Download a file's bytes (streamed)."""
    size, chunks = await (await sandboxes.files(sandbox_id)).read(path, user)
    # The sandbox's bytes, on this origin (the notebook view links them): a download, never a
    # page a browser would render here.
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": "attachment",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.put("")
async def write_file(
    sandbox_id: str, path: Path, request: Request, sandboxes: Manager, user: User = "user"
) -> EntryInfo:
    """Create or replace a file with the request body (streamed); parent folders are made."""

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    return await (await sandboxes.files(sandbox_id)).write(path, body(), user)


@router.get("/info")
async def file_info(
    sandbox_id: str, path: Path, sandboxes: Manager, user: User = "user"
) -> EntryInfo:
    """Name, type, size, mode, permissions, owner, group, modified time, symlink target."""
    return await (await sandboxes.files(sandbox_id)).info(path, user)


@router.get("/exists")
async def file_exists(
    sandbox_id: str, path: Path, sandboxes: Manager, user: User = "user"
) -> dict[str, bool]:
    """Whether a path exists."""
    return {"exists": await (await sandboxes.files(sandbox_id)).exists(path, user)}


@router.get("/list")
async def list_files(
    sandbox_id: str,
    path: Path,
    sandboxes: Manager,
    depth: Annotated[int, Query(ge=1, le=32)] = 1,
    user: User = "user",
) -> list[EntryInfo]:
    """A folder's entries, ``depth`` levels deep."""
    return await (await sandboxes.files(sandbox_id)).list(path, depth, user)


@router.post("/mkdir")
async def make_dir(
    sandbox_id: str, path: Path, sandboxes: Manager, user: User = "user"
) -> dict[str, bool]:
    """Make a folder with its parents; ``created`` is false if it existed."""
    return {"created": await (await sandboxes.files(sandbox_id)).make_dir(path, user)}


@router.delete("", status_code=204)
async def remove_file(
    sandbox_id: str, path: Path, sandboxes: Manager, user: User = "user"
) -> Response:
    """Remove a file or a whole folder."""
    await (await sandboxes.files(sandbox_id)).remove(path, user)
    return Response(status_code=204)


@router.get("/watch", response_class=NDJSONResponse)
async def watch_dir(
    sandbox_id: str,
    path: Path,
    sandboxes: Manager,
    recursive: bool = False,
    user: User = "user",
) -> NDJSONResponse:
    """NDJSON events of a folder: `start` once the watch is armed, then `create`, `write`,
    `remove`, `rename`, `chmod` with the path in `name`; it ends if the folder is removed."""
    events = await (await sandboxes.files(sandbox_id)).watch(path, recursive, user)

    async def lines() -> AsyncIterator[bytes]:
        with contextlib.suppress(SandboxGoneError):  # killed or paused: the watch just ends
            async for event in events:
                yield json.dumps(event.model_dump(mode="json", exclude_none=True)).encode() + b"\n"

    return NDJSONResponse(lines())


@router.post("/url")
async def signed_url(
    sandbox_id: str,
    path: Path,
    request: Request,
    sandboxes: Manager,
    operation: Literal["read", "write"] = "read",
    expires_in: Annotated[int, Query(description="Seconds the URL stays valid.")] = 300,
    user: User = "user",
) -> dict[str, Any]:
    """A URL that reads (GET) or writes (PUT) this one file without the API key, until it
    expires: for a browser or curl."""
    sandboxes.get(sandbox_id)
    grant = Grant(sandbox_id, path, user, operation, expiry(expires_in))
    token = sandboxes.signer.sign(grant)
    url = str(request.url_for("signed_file").include_query_params(token=token))
    return {"url": url, "expires": grant.expires, "method": "GET" if operation == "read" else "PUT"}


@router.post("/rename")
async def rename_file(
    sandbox_id: str,
    source: Path,
    destination: Path,
    sandboxes: Manager,
    user: User = "user",
) -> EntryInfo:
    """Move or rename a file or folder."""
    return await (await sandboxes.files(sandbox_id)).rename(source, destination, user)


signed = APIRouter(tags=["files"], responses=SANDBOX_FILES)


@signed.get("/signed/files", name="signed_file", response_class=StreamingResponse)
async def signed_download(token: str, sandboxes: Manager) -> Any:
    """Download through a signed URL (no API key)."""
    grant = sandboxes.signer.verify(token, "read")
    size, chunks = await (await sandboxes.files(grant.sandbox_id)).read(grant.path, grant.user)
    return StreamingResponse(
        chunks, media_type="application/octet-stream", headers={"Content-Length": str(size)}
    )


@signed.put("/signed/files")
async def signed_upload(token: str, request: Request, sandboxes: Manager) -> EntryInfo:
    """Upload through a signed URL (no API key); the body becomes the file (streamed)."""
    grant = sandboxes.signer.verify(token, "write")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    return await (await sandboxes.files(grant.sandbox_id)).write(grant.path, body(), grant.user)
