"""envd's plain HTTP routes: ``/health``, ``/files`` (download, upload), ``/envs``, ``/metrics``.

Files stream both ways: a download goes from the sandbox's agent to the client chunk by chunk
(gzip on the fly when asked), an upload (multipart or raw octet-stream, possibly gzip) goes to
the agent as it arrives, with back-pressure, so neither side is held in memory or on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from python_multipart.multipart import MultipartParser, parse_options_header

from interpreter.api.e2b.envd import access
from interpreter.api.e2b.envd import errors as envd_errors
from interpreter.api.e2b.envd.connect import ConnectError
from interpreter.api.e2b.envd.messages import write_info
from interpreter.core import errors
from interpreter.core.protocol import EntryInfo
from interpreter.service.files import SandboxFiles

router = APIRouter()
METADATA_HEADER = "x-metadata-"
UPLOAD_QUEUE_CHUNKS = 8  # chunks in flight between the client and the sandbox per file
DRAIN_LIMIT = 64 << 20  # bytes of a refused upload still read before the connection is dropped


async def answer(handler: Callable[[], Awaitable[Response]]) -> Response:
    """Run a route; its error leaves through envd's table (``envd.errors``)."""
    try:
        return await handler()
    except (ConnectError, errors.InterpreterError) as exc:
        return envd_errors.http_response(exc)


@router.get("/health")
async def health(request: Request) -> Response:
    async def run() -> Response:
        access.live_sandbox_id(request)
        return Response(status_code=204)

    return await answer(run)


@router.get("/envs")
async def envs(request: Request) -> Response:
    """The sandbox's environment variables (the code-interpreter server asks for them)."""

    async def run() -> Response:
        sandbox_id = access.live_sandbox_id(request)
        access.check_token(request, sandbox_id)
        return JSONResponse(access.manager_of(request).get(sandbox_id).envs)

    return await answer(run)


@router.get("/metrics")
async def sandbox_metrics(request: Request) -> Response:
    """envd's own resource report (snake_case, unlike the control plane's)."""

    async def run() -> Response:
        sandbox_id = access.live_sandbox_id(request)
        access.check_token(request, sandbox_id)
        sample = await access.manager_of(request).metrics_now(sandbox_id)
        return JSONResponse(
            {
                "ts": int(sample.timestamp.timestamp()),
                "cpu_count": sample.cpu_count,
                "cpu_used_pct": round(sample.cpu_used_pct, 2),
                "mem_total": sample.mem_total,
                "mem_used": sample.mem_used,
                "mem_cache": sample.mem_cache,
                "mem_total_mib": sample.mem_total >> 20,
                "mem_used_mib": sample.mem_used >> 20,
                "disk_used": sample.disk_used,
                "disk_total": sample.disk_total,
            }
        )

    return await answer(run)


async def _files_of(request: Request, operation: access.Operation) -> SandboxFiles:
    sandbox_id = access.files_sandbox_id(request, operation)
    return await access.manager_of(request).files(sandbox_id)


@router.get("/files")
async def download(request: Request) -> Response:
    async def run() -> Response:
        sandbox_files = await _files_of(request, "read")
        user = access.user_of(request)
        path = request.query_params.get("path")
        if not path:
            raise ConnectError("invalid_argument", "the path query parameter is required")
        size, chunks = await sandbox_files.read(path, user)
        headers = {"Content-Disposition": _disposition(path)}
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            headers["Content-Encoding"] = "gzip"
            return StreamingResponse(_gzip(chunks), media_type="application/octet-stream",
                                     headers=headers)  # fmt: skip
        headers["Content-Length"] = str(size)
        return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)

    return await answer(run)


def _disposition(path: str) -> str:
    name = path.rsplit("/", 1)[-1].replace('"', "").encode("ascii", "replace").decode()
    return f'inline; filename="{name}"'


async def _gzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip container
    async for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


class RequestBody:
    """The request body as chunks, remembering how far it was read: an upload refused early
    still reads (a bounded amount of) the rest, so the client gets the answer instead of a
    connection broken under its feet."""

    def __init__(self, request: Request) -> None:
        self.request, self.started, self.finished = request, False, False

    async def chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        async for chunk in self.request.stream():
            yield chunk
        self.finished = True

    async def drain(self) -> None:
        if self.finished:
            return
        received = 0
        if not self.started:
            async for chunk in self.request.stream():
                received += len(chunk)
                if received > DRAIN_LIMIT:
                    return
            return
        while True:  # the stream was left half-read: take the rest from the channel
            message = await self.request.receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False) or received > DRAIN_LIMIT:
                return


@router.post("/files")
async def upload(request: Request) -> Response:
    body = RequestBody(request)
    response = await answer(lambda: _upload(request, body))
    if response.status_code >= 400:
        await body.drain()
    return response


async def _upload(request: Request, request_body: RequestBody) -> Response:
    sandbox_files = await _files_of(request, "write")
    user = access.user_of(request)
    metadata = {
        key[len(METADATA_HEADER) :]: value
        for key, value in request.headers.items()
        if key.startswith(METADATA_HEADER)
    }
    path = request.query_params.get("path") or None
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind == b"multipart/form-data" and options.get(b"boundary"):
        written = await _multipart(request_body, sandbox_files, options[b"boundary"], path,
                                   user, metadata)  # fmt: skip
    elif kind == b"application/octet-stream":
        if not path:
            raise ConnectError("invalid_argument", "the path query parameter is required")
        body = request_body.chunks()
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding == "gzip":
            body = _gunzip(body)
        elif encoding != "identity":
            raise ConnectError("invalid_argument", f"unsupported Content-Encoding {encoding}")
        written = [await sandbox_files.write(path, body, user, metadata)]
    else:
        raise ConnectError("invalid_argument", "send multipart/form-data or octet-stream")
    if not written:
        raise ConnectError("invalid_argument", "no file in the request (field 'file')")
    return JSONResponse([write_info(entry) for entry in written])


async def _gunzip(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    decompressor = zlib.decompressobj(31)
    try:
        async for chunk in body:
            if out := decompressor.decompress(chunk):
                yield out
        if not decompressor.eof:
            raise errors.InvalidRequestError("the gzip body is truncated")
    except zlib.error as exc:
        raise errors.InvalidRequestError(f"the body is not valid gzip: {exc}") from None


async def _multipart(
    body: RequestBody,
    sandbox_files: SandboxFiles,
    boundary: bytes,
    path: str | None,
    user: access.User,
    metadata: dict[str, str],
) -> list[EntryInfo]:
    """Each part named ``file`` is written to ``path`` or, without it, to the part's filename,
    streamed to the sandbox while the request is still arriving."""
    events: list[tuple[str, Any]] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    headers: dict[bytes, bytes] = {}

    def on_header_end() -> None:
        headers[bytes(header["field"]).lower()] = bytes(header["value"])
        header["field"], header["value"] = bytearray(), bytearray()

    def on_headers_finished() -> None:
        events.append(("part", dict(headers)))
        headers.clear()

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_header_field": lambda data, start, end: header["field"].extend(data[start:end]),
            "on_header_value": lambda data, start, end: header["value"].extend(data[start:end]),
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
            "on_part_end": lambda: events.append(("end", None)),
        },
    )
    written: list[EntryInfo] = []
    upload: _Upload | None = None
    try:
        async for chunk in body.chunks():
            try:
                parser.write(chunk)
            except Exception as exc:  # noqa: BLE001 - the parser's errors vary by version
                raise errors.InvalidRequestError(f"malformed multipart body: {exc}") from None
            for kind, value in events:
                if kind == "part":
                    upload = _start_upload(sandbox_files, value, path, user, metadata)
                elif kind == "data" and upload is not None:
                    await upload.feed(bytes(value))
                elif kind == "end" and upload is not None:
                    written.append(await upload.finish())
                    upload = None
            events.clear()
        parser.finalize()
    finally:
        if upload is not None:
            upload.cancel()
    return written


def _start_upload(
    sandbox_files: SandboxFiles,
    part_headers: dict[bytes, bytes],
    path: str | None,
    user: access.User,
    metadata: dict[str, str],
) -> _Upload | None:
    _, options = parse_options_header(part_headers.get(b"content-disposition", b""))
    if options.get(b"name") != b"file":
        return None  # not a file field: skipped
    filename = options.get(b"filename", b"").decode("utf-8", "replace")
    destination = path or filename
    if not destination:
        raise errors.InvalidRequestError("a file part needs a filename (its path) or ?path=")
    return _Upload(sandbox_files, destination, user, metadata)


class _Upload:
    """One file of a multipart upload, fed chunk by chunk to the sandbox."""

    def __init__(
        self, files: SandboxFiles, path: str, user: access.User, metadata: dict[str, str]
    ) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(UPLOAD_QUEUE_CHUNKS)
        self.task = asyncio.create_task(files.write(path, self._chunks(), user, metadata))

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.queue.get()) is not None:
            yield chunk

    async def feed(self, chunk: bytes | None) -> None:
        put = asyncio.ensure_future(self.queue.put(chunk))
        await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # the write ended early: it failed
            put.cancel()
            self.task.result()
            raise errors.GatewayError("the sandbox stopped reading the upload")

    async def finish(self) -> EntryInfo:
        await self.feed(None)
        return await self.task

    def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            self.task.exception()
