"""E2B control plane: /sandboxes and /v2/sandboxes (create, connect, list, kill, timeout, pause,
metrics), authenticated by ``X-API-KEY``.

Every route translates to a ``SandboxManager`` call; errors are the tree's and leave through the
control plane's table (``e2b.errors``) as E2B's ``{code, message}`` body.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from interpreter.api.deps import manager
from interpreter.api.e2b import schemas
from interpreter.api.e2b.errors import control_answers, control_response
from interpreter.core.errors import (
    AuthenticationError,
    ConflictError,
    InterpreterError,
    InvalidRequestError,
    NotSupportedError,
)
from interpreter.core.models import OnTimeout, SandboxRecord
from interpreter.core.network import ALL_TRAFFIC, Network
from interpreter.core.options import SandboxOptions
from interpreter.service.manager import SandboxManager

# E2B's code-interpreter template, which clients name by default, is our default template
# (E2B's other names of ours, base among them: service/templates.py ALIASES).
DEFAULT_TEMPLATE_ALIASES = {"code-interpreter-v1"}
MAX_PAGE = 100


class E2BRoute(APIRoute):
    """Errors of these routes leave through the control plane's table (``e2b.errors``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except (InterpreterError, RequestValidationError, HTTPException) as exc:
                return control_response(exc)

        return route


def require_api_key(request: Request) -> None:
    given = request.headers.get("X-API-KEY")
    expected: str = request.app.state.api_key
    if not given:
        raise AuthenticationError(
            "missing X-API-KEY header: set E2B_API_KEY to this server's API key"
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationError("invalid API key")


def control_router() -> APIRouter:
    """A router of E2B's control plane: its key, its error table (the templates, secrets and
    snapshots modules have their own, added before this one's catch-alls)."""
    return APIRouter(
        tags=["e2b"],
        route_class=E2BRoute,
        dependencies=[Depends(require_api_key)],
        responses=control_answers(),
    )


router = control_router()
Manager = Annotated[SandboxManager, Depends(manager)]


def _key(request: Request) -> bytes:
    key: bytes = request.app.state.manager.signer.key  # app.state is untyped
    return key


def _sandbox_id(raw: str) -> str:
    return raw.split("-", 1)[0]  # very old SDKs send "<sandboxID>-<clientID>"


def _template(sandboxes: SandboxManager, template_id: str) -> str:
    if template_id in DEFAULT_TEMPLATE_ALIASES:
        return sandboxes.settings.default_template
    return template_id


def _created(record: SandboxRecord, request: Request, status: int = 201) -> JSONResponse:
    domain = request.app.state.manager.settings.sandbox_domain
    return JSONResponse(schemas.sandbox(record, _key(request), domain), status_code=status)


# -- create ------------------------------------------------------------------------------------
@router.post("/sandboxes", status_code=201, include_in_schema=False)
@router.post("/v2/sandboxes", status_code=201, summary="E2B: create a sandbox")
async def create_sandbox(
    body: schemas.NewSandbox, request: Request, sandboxes: Manager
) -> JSONResponse:
    # autoPause: pause instead of kill at the timeout; secure is accepted (the data plane
    # always checks per-sandbox tokens).
    options = SandboxOptions(
        template=_template(sandboxes, body.template_id),
        timeout=body.timeout or None,  # E2B: 0 or absent = the default (300 s)
        metadata=body.metadata,
        envs=body.env_vars,
        on_timeout=_on_timeout(body),
        network=_network(sandboxes, body),
        auto_resume=_auto_resume(body),
        volume_mounts=_volume_mounts(body),
    )
    record = await sandboxes.create(options, request.headers.get("Idempotency-Key"))
    return _created(sandboxes.get(record.id), request)


def _network(sandboxes: SandboxManager, body: schemas.NewSandbox) -> Network:
    """E2B's egress: on unless asked otherwise (its SDKs send allow_internet_access=true by
    default); allow_internet_access=false is deny_out 0.0.0.0/0, which allow_out entries
    still pierce. On a host without egress the SDKs' default gets loopback only; entries in
    allow_out are a request for egress, refused there."""
    rules = body.network or schemas.SandboxNetwork()
    deny = list(rules.deny_out or [])
    if body.allow_internet_access is False and ALL_TRAFFIC not in deny:
        deny.append(ALL_TRAFFIC)
    asked = bool(rules.allow_out) or body.allow_internet_access is not False
    enabled = asked and (sandboxes.settings.egress or bool(rules.allow_out))
    public = rules.allow_public_traffic is not False
    return Network(enabled=enabled, allow_out=rules.allow_out or [], deny_out=deny, public=public)


def _volume_mounts(body: schemas.NewSandbox) -> dict[str, str] | None:
    """E2B's ``volumeMounts`` list ({name, path}) as path → volume name."""
    if not body.volume_mounts:
        return None
    mounts = {m.path: m.name for m in body.volume_mounts}
    if len(mounts) != len(body.volume_mounts):
        raise InvalidRequestError("volumeMounts names a path twice")
    return mounts


def _auto_resume(body: schemas.NewSandbox) -> bool:
    """E2B's default: a paused sandbox stays paused until connected to. Traffic may wake one
    paused with its memory only (E2B refuses auto-resume of a files-only pause)."""
    on = body.auto_resume is not None and body.auto_resume.on
    if on and not body.auto_pause:
        raise InvalidRequestError("autoResume needs autoPause")
    if on and body.auto_pause_memory is False:
        raise InvalidRequestError("autoResume cannot be combined with autoPauseMemory=false")
    return on


def _on_timeout(body: schemas.NewSandbox) -> OnTimeout:
    if not body.auto_pause:
        return "kill"
    # autoPauseMemory=false (the SDK's lifecycle mode "filesystem"): keep only the files.
    return "pause_files" if body.auto_pause_memory is False else "pause"


# -- connect / resume --------------------------------------------------------------------------
@router.post("/sandboxes/{sandbox_id}/connect", include_in_schema=False)
@router.post("/v2/sandboxes/{sandbox_id}/connect", summary="E2B: connect (resume if paused)")
async def connect_sandbox(
    sandbox_id: str,
    request: Request,
    sandboxes: Manager,
    body: schemas.ConnectSandbox | None = None,
) -> JSONResponse:
    """200 if it was running (its timeout only grows), 201 if it was paused and is resumed."""
    sandbox_id = _sandbox_id(sandbox_id)
    timeout = body.timeout if body and body.timeout else None
    record = sandboxes.get(sandbox_id)
    if record.state == "paused":
        # memory=false (the SDK's on_resume="reboot"): boot fresh on the kept files.
        memory = not (body and body.memory is False)
        return _created(await sandboxes.resume(sandbox_id, timeout, memory=memory), request)
    if timeout is not None and datetime.now(UTC) + timedelta(seconds=timeout) > record.expires_at:
        record = await sandboxes.set_timeout(sandbox_id, timeout)
    return _created(record, request, status=200)


@router.post("/sandboxes/{sandbox_id}/resume", status_code=201, include_in_schema=False)
async def resume_sandbox(
    sandbox_id: str, request: Request, sandboxes: Manager, body: schemas.ResumeSandbox | None = None
) -> JSONResponse:
    """Legacy resume: 409 if the sandbox is running."""
    sandbox_id = _sandbox_id(sandbox_id)
    if sandboxes.get(sandbox_id).state != "paused":
        raise ConflictError(f"sandbox {sandbox_id!r} is already running")
    timeout = body.timeout if body and body.timeout else None
    return _created(await sandboxes.resume(sandbox_id, timeout=timeout), request)


# -- read --------------------------------------------------------------------------------------
@router.get("/sandboxes/{sandbox_id}", summary="E2B: sandbox detail")
async def get_sandbox(sandbox_id: str, request: Request, sandboxes: Manager) -> dict[str, Any]:
    record = sandboxes.get(_sandbox_id(sandbox_id))
    detail = schemas.sandbox_detail(record, _key(request), sandboxes.settings.sandbox_domain)
    names = {v.id: v.name for v in sandboxes.volumes.list()}
    detail["volumeMounts"] = [
        {"name": names.get(volume_id, volume_id), "path": path}
        for path, volume_id in sorted(record.volume_mounts.items())
    ]
    return detail


@router.get("/sandboxes", include_in_schema=False)
@router.get("/v2/sandboxes", summary="E2B: list sandboxes")
async def list_sandboxes(
    sandboxes: Manager,
    metadata: str | None = None,
    state: str | None = None,
    template: str | None = None,
    started_after: Annotated[datetime | None, Query(alias="startedAfter")] = None,
    order: str | None = None,
    limit: Annotated[int, Query(ge=1)] = MAX_PAGE,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> JSONResponse:
    """Running and paused sandboxes, newest first (``order=asc``: oldest first; ties by id), as
    E2B's. Pages of ``limit`` (at most 100, as E2B's); the ``x-next-token`` response header
    names the next page."""
    limit = min(limit, MAX_PAGE)
    records = sandboxes.list(_metadata_filter(metadata))
    states = _states(state)
    records = [r for r in records if schemas.state(r) in states]
    if template is not None:
        wanted = _template(sandboxes, template)
        records = [r for r in records if r.template in (wanted, template)]
    if started_after is not None:
        since = started_after if started_after.tzinfo else started_after.replace(tzinfo=UTC)
        records = [r for r in records if r.created_at >= since]
    if order not in (None, "asc", "desc"):
        raise InvalidRequestError(f"order must be 'asc' or 'desc', got {order!r}")
    desc = order != "asc"
    records.sort(key=lambda r: r.id)  # ties: by id, in either order (E2B's)
    records.sort(key=lambda r: _position(r)[0], reverse=desc)
    if next_token:
        when, last = _decode_token(next_token)
        records = [
            r
            for r in records
            if (_position(r)[0] < when if desc else _position(r)[0] > when)
            or (_position(r)[0] == when and r.id > last)
        ]
    page, rest = records[:limit], records[limit:]
    headers = {"x-next-token": _encode_token(_position(page[-1]))} if rest else {}
    return JSONResponse([schemas.listed_sandbox(r) for r in page], headers=headers)


def _metadata_filter(raw: str | None) -> dict[str, str]:
    """``k=v&k2=v2``, form-encoded from keys and values the SDKs had percent-encoded already:
    the framework's decoding of the query leaves two levels for here."""
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidRequestError(f"metadata filter {raw!r} is not of the form k=v&k2=v2") from None
    return {unquote(k): unquote(v) for k, v in pairs}


def _states(raw: str | None) -> set[str]:
    if not raw:
        return {"running", "paused"}
    states = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = states - {"running", "paused"}
    if unknown:
        raise InvalidRequestError(f"unknown state(s) {sorted(unknown)}; known: running, paused")
    return states


def _position(record: SandboxRecord) -> tuple[str, str]:
    return (record.created_at.astimezone(UTC).isoformat(), record.id)


def _encode_token(position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode("|".join(position).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        started, sep, sandbox_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep = ""
    if not sep:
        raise InvalidRequestError(
            "invalid nextToken: pass the x-next-token header of the last page"
        )
    return started, sandbox_id


# -- change ------------------------------------------------------------------------------------
@router.delete("/sandboxes/{sandbox_id}", status_code=204, summary="E2B: kill a sandbox")
async def kill_sandbox(sandbox_id: str, sandboxes: Manager) -> Response:
    await sandboxes.kill(_sandbox_id(sandbox_id))
    return Response(status_code=204)


@router.put("/sandboxes/{sandbox_id}/network", status_code=204, summary="E2B: network rules")
async def update_network(
    sandbox_id: str, body: schemas.SandboxNetwork, sandboxes: Manager
) -> Response:
    """Replace the egress lists (omitted: cleared); egress itself stays as it is."""
    record = sandboxes.get(_sandbox_id(sandbox_id))
    network = Network(
        enabled=record.network.enabled or bool(body.allow_out),
        allow_out=body.allow_out or [],
        deny_out=body.deny_out or [],
        public=record.network.public,
    )
    await sandboxes.update_network(record.id, network)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/timeout", status_code=204, summary="E2B: set timeout")
async def set_timeout(
    sandbox_id: str, body: schemas.SandboxTimeout, sandboxes: Manager
) -> Response:
    """The sandbox now lives ``timeout`` more seconds."""
    if body.timeout == 0:
        raise InvalidRequestError("timeout must be at least 1 second")
    await sandboxes.set_timeout(_sandbox_id(sandbox_id), body.timeout)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/refreshes", status_code=204, include_in_schema=False)
async def refresh_sandbox(
    sandbox_id: str, sandboxes: Manager, body: schemas.RefreshSandbox | None = None
) -> Response:
    """Old SDKs' keep-alive: extends the lifetime (never shortens it)."""
    sandbox_id = _sandbox_id(sandbox_id)
    record = sandboxes.get(sandbox_id)
    seconds = (body.duration if body else None) or sandboxes.settings.default_timeout
    if datetime.now(UTC) + timedelta(seconds=seconds) > record.expires_at:
        await sandboxes.set_timeout(sandbox_id, seconds)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/pause", status_code=204, summary="E2B: pause a sandbox")
async def pause_sandbox(
    sandbox_id: str, sandboxes: Manager, body: schemas.PauseSandbox | None = None
) -> Response:
    """204 paused; 409 if it already was. Any sandbox request (or connect) resumes it."""
    await sandboxes.pause(_sandbox_id(sandbox_id), memory=body.memory if body else True)
    return Response(status_code=204)


UNIX_MAX = 253402300799  # 9999-12-31T23:59:59Z


@router.get("/sandboxes/{sandbox_id}/metrics", summary="E2B: resource use")
async def sandbox_metrics(
    sandbox_id: str,
    sandboxes: Manager,
    start: Annotated[int | None, Query(ge=0, le=UNIX_MAX)] = None,
    end: Annotated[int | None, Query(ge=0, le=UNIX_MAX)] = None,
) -> list[dict[str, Any]]:
    """Sampled use between ``start`` and ``end`` (unix seconds), and the use now."""
    moments = [datetime.fromtimestamp(t, UTC) if t is not None else None for t in (start, end)]
    series = await sandboxes.metrics_between(_sandbox_id(sandbox_id), *moments)
    return [schemas.metric(sample) for sample in series]


# -- not here ----------------------------------------------------------------------------------
UNSUPPORTED: list[tuple[str, str, str]] = []
# Whole APIs of E2B's: every method under these paths.
TEMPLATES = "this part of the templates API"
UNSUPPORTED_APIS = [
    ("/templates", TEMPLATES),
    ("/v2/templates", TEMPLATES),
    ("/v3/templates", TEMPLATES),
    ("/default-templates", TEMPLATES),
]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _unsupported(feature: str) -> Callable[[], Awaitable[Response]]:
    async def answer() -> Response:
        raise NotSupportedError(f"{feature}: not supported by this server")

    return answer


for _method, _path, _feature in UNSUPPORTED:
    router.add_api_route(_path, _unsupported(_feature), methods=[_method], include_in_schema=False)
for _prefix, _feature in UNSUPPORTED_APIS:
    for _path in (_prefix, _prefix + "/{rest:path}"):
        router.add_api_route(
            _path, _unsupported(_feature), methods=ALL_METHODS, include_in_schema=False
        )
