"""E2B code interpreter (port 49999): /execute NDJSON and /contexts.

The same contexts and runs as the native API (``SandboxManager.prepare_run`` / ``run``), written
in the lines E2B's code-interpreter server writes. Errors leave through this surface's table
(``e2b.errors``): plain text, as there; the proxy's 502 JSON for an unknown or killed sandbox.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict
from starlette.types import Send

from interpreter.api.deps import manager
from interpreter.api.e2b import routing, tokens
from interpreter.api.e2b.errors import code_interpreter_response, execution_error_line
from interpreter.api.e2b.schemas import env_names
from interpreter.api.ndjson import NDJSONResponse
from interpreter.core import events
from interpreter.core.errors import (
    AuthenticationError,
    ContextNotFoundError,
    InterpreterError,
    InvalidRequestError,
)
from interpreter.core.models import ContextRecord
from interpreter.service.manager import SandboxManager

Manager = Annotated[SandboxManager, Depends(manager)]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    context_id: str | None = None
    language: str | None = None
    env_vars: Annotated[dict[str, str] | None, AfterValidator(env_names)] = None


class ContextRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    language: str | None = None
    cwd: str | None = None


def sandbox_id(request: Request) -> str:
    """The target sandbox, once it is known to exist and the request carries its token.

    E2B's SDKs send the create response's ``trafficAccessToken`` on every code-interpreter call
    (and the envd token on /execute); either proves the caller got this sandbox from the API.
    """
    target = routing.target(request).sandbox_id or ""
    sandboxes: SandboxManager = request.app.state.manager
    sandboxes.reachable(target)  # SandboxNotFoundError -> 502
    key = sandboxes.signer.key
    given = [
        (request.headers.get("e2b-traffic-access-token"), tokens.traffic_access_token),
        (request.headers.get("x-access-token"), tokens.envd_access_token),
    ]
    for token, derive in given:
        if token and hmac.compare_digest(token.encode(), derive(key, target).encode()):
            return target
    raise AuthenticationError("missing or invalid E2B-Traffic-Access-Token for this sandbox")


SandboxId = Annotated[str, Depends(sandbox_id)]


def context_json(record: ContextRecord) -> dict[str, str]:
    return {"id": record.id, "language": record.language, "cwd": record.cwd}


def line(event: events.Event) -> dict[str, Any] | None:
    """The E2B line for one of our events (None: not part of E2B's stream)."""
    if isinstance(event, events.Stdout | events.Stderr):
        return {"type": event.type, "text": event.text, "timestamp": event.timestamp.isoformat()}
    if isinstance(event, events.Result):
        return event.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(event, events.CellError):
        return {
            "type": "error",
            "name": event.name,
            "value": event.value,
            "traceback": event.traceback,
        }
    if isinstance(event, events.ExecutionCount):
        return {"type": "number_of_executions", "execution_count": event.execution_count}
    if isinstance(event, events.Keepalive):
        return {"type": "keepalive"}
    return None


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


class ExecutionResponse(NDJSONResponse):
    """NDJSON lines until ``end_of_execution``. A client that goes away cancels the stream at
    once (the run's clean-up interrupts the kernel); a sandbox killed under the run ends the
    response without completing it, a reset connection to the SDK, like E2B's proxy does."""

    async def _stream(self, send: Send) -> None:
        try:
            await super()._stream(send)
        except InterpreterError:
            if not self.started:
                await self.start(send)
            return  # the sandbox is gone: not completing the response, uvicorn drops it
        except OSError:
            return  # the client went away
        finally:
            # Ours is always execution_lines(), a generator.
            await self.lines.aclose()  # type: ignore[attr-defined]


async def execution_lines(run: AsyncIterator[events.Event]) -> AsyncIterator[bytes]:
    try:
        async for event in run:
            obj = line(event)
            if obj is not None:
                yield encode(obj)
    except InterpreterError as exc:
        # A sandbox killed under the run (SandboxGoneError, raised once the kill is over: the
        # SDK then asks envd's /health, which must say it is gone) drops the connection.
        if (obj := execution_error_line(exc)) is None:
            raise
        yield encode(obj)
    finally:
        await run.aclose()  # type: ignore[attr-defined]  # typed AsyncIterator, is a generator
    yield encode({"type": "end_of_execution"})


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(InterpreterError)
    @app.exception_handler(RequestValidationError)
    async def error(request: Request, exc: Exception) -> Response:
        return code_interpreter_response(exc, routing.target(request).sandbox_id)

    @app.get("/health")
    async def health(sandbox: SandboxId) -> str:
        return "OK"

    @app.post("/execute")
    async def execute(
        body: ExecuteRequest, sandbox: SandboxId, sandboxes: Manager
    ) -> ExecutionResponse:
        if body.context_id and body.language:
            raise InvalidRequestError("Only one of context_id or language can be provided")
        try:
            context = await sandboxes.prepare_run(
                sandbox, body.language or None, body.context_id or None
            )
        except ContextNotFoundError:
            raise ContextNotFoundError(f"Context {body.context_id} not found") from None
        # Started here: what the run refuses (code that is not valid Unicode) is a 400, not a
        # dropped stream. E2B's client decides how long a run may take (its read timeout).
        run = sandboxes.run(context, body.code, envs=body.env_vars or None, timeout=None)
        return ExecutionResponse(execution_lines(run))

    @app.post("/contexts")
    async def create_context(
        sandbox: SandboxId, sandboxes: Manager, body: ContextRequest | None = None
    ) -> dict[str, str]:
        body = body or ContextRequest()
        return context_json(await sandboxes.create_context(sandbox, body.language, body.cwd))

    @app.get("/contexts")
    async def list_contexts(sandbox: SandboxId, sandboxes: Manager) -> list[dict[str, str]]:
        return [context_json(c) for c in sandboxes.list_contexts(sandbox)]

    @app.delete("/contexts/{context_id}")
    async def delete_context(context_id: str, sandbox: SandboxId, sandboxes: Manager) -> None:
        with _context_named(context_id):
            await sandboxes.delete_context(sandbox, context_id)

    @app.post("/contexts/{context_id}/restart")
    async def restart_context(context_id: str, sandbox: SandboxId, sandboxes: Manager) -> None:
        with _context_named(context_id):
            await sandboxes.restart_context(sandbox, context_id)

    return app


@contextlib.contextmanager
def _context_named(context_id: str) -> Any:
    try:
        yield
    except ContextNotFoundError:
        raise ContextNotFoundError(f"Context {context_id} not found") from None
