"""/v1/agents: register agent versions (templates serving AgentCore's HTTP contract), invoke
them in sessions (``X-Interpreter-Session-Id`` or AgentCore's session header), end sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from interpreter.api.errors import answers
from interpreter.core.agent_store import AgentRecord, SessionRecord
from interpreter.core.errors import (
    AgentEntrypointError,
    AgentTimeoutError,
    ConflictError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    SandboxStartError,
)
from interpreter.service.agents import (
    AGENTCORE_SESSION_HEADER,
    MAX_PAYLOAD,
    SESSION_HEADER,
    AgentRuntime,
)

router = APIRouter(
    prefix="/agents",
    tags=["agents"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError),
)


def agent_runtime(request: Request) -> AgentRuntime:
    state = request.app.state
    if getattr(state, "agents", None) is None:  # made on first use, over the manager
        state.agents = AgentRuntime(state.manager)
    runtime: AgentRuntime = state.agents
    return runtime


Runtime = Annotated[AgentRuntime, Depends(agent_runtime)]


class RegisterAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="The agent's name ([a-z0-9-], 1-40 characters).")
    template: str = Field(..., description="A ready template whose start command serves it.")
    version: int | None = Field(None, ge=1, le=999999, description="Default: the next one.")


class Agent(BaseModel):
    id: str = Field(description="agent_<name>_v<version>")
    name: str
    version: int
    template: str
    created_at: datetime

    @classmethod
    def of(cls, record: AgentRecord) -> Agent:
        return cls.model_validate(record.model_dump())


class Session(BaseModel):
    id: str
    agent_id: str
    sandbox_id: str
    created_at: datetime
    last_invoked_at: datetime
    invocations: int

    @classmethod
    def of(cls, record: SessionRecord) -> Session:
        return cls.model_validate(record.model_dump())


@router.post("", status_code=201)
async def register_agent(body: RegisterAgent, runtime: Runtime) -> Agent:
    """Register a version of an agent (409 if that version exists)."""
    return Agent.of(runtime.register(body.name, body.template, body.version))


@router.get("")
async def list_agents(runtime: Runtime) -> list[Agent]:
    return [Agent.of(a) for a in runtime.agents()]


@router.get("/{agent_id}")
async def get_agent(agent_id: str, runtime: Runtime) -> Agent:
    """An agent version; ``agent_<name>`` is its newest."""
    return Agent.of(runtime.agent(agent_id))


@router.post(
    "/{agent_id}/invocations",
    # The body is read here (bounded), not by FastAPI: documented as what it is, any JSON.
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
    },
    responses={
        200: {
            "content": {"application/json": {}, "text/event-stream": {}},
            "description": "The entrypoint's JSON answer, or its stream (server-sent events).",
        },
        **answers(
            PayloadTooLargeError,
            AgentEntrypointError,
            AgentTimeoutError,
            GatewayError,
            SandboxStartError,
        ),
    },  # fmt: skip
)
async def invoke_agent(
    agent_id: str,
    request: Request,
    runtime: Runtime,
    timeout: Annotated[
        float | None,
        Query(gt=0, description="Seconds the agent may take (a stream: between two chunks)."),
    ] = None,
    env: Annotated[
        list[str] | None,
        Query(description="KEY=VALUE: variables of a new session's sandbox."),
    ] = None,
) -> Response:
    """Send the body (JSON, at most 1 MiB: 413 past it) to the agent's entrypoint in the
    session's sandbox: the session id's (header ``X-Interpreter-Session-Id`` or
    ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id``), made from the agent's template if it is
    new (or none is given). The answer carries the session id in both headers. An agent that
    does not answer within ``timeout`` (default and most: INTERPRETER_AGENT_INVOCATION_TIMEOUT,
    900 s) is a 504; the session's sandbox runs on."""
    payload = await _payload(request)
    session_id = request.headers.get(SESSION_HEADER) or request.headers.get(
        AGENTCORE_SESSION_HEADER
    )
    invocation = await runtime.invoke(
        agent_id, payload, session_id, request.headers.items(), _envs(env), timeout
    )
    session = invocation.session_id
    headers = {SESSION_HEADER: session, AGENTCORE_SESSION_HEADER: session}
    if invocation.stream is not None:
        headers["cache-control"] = "no-cache"
        return StreamingResponse(invocation.stream, media_type="text/event-stream", headers=headers)
    return Response(invocation.body, media_type="application/json", headers=headers)


@router.get("/{agent_id}/sessions")
async def list_sessions(agent_id: str, runtime: Runtime) -> list[Session]:
    return [Session.of(s) for s in runtime.sessions(agent_id)]


@router.get("/{agent_id}/sessions/{session_id}")
async def get_session(agent_id: str, session_id: str, runtime: Runtime) -> Session:
    return Session.of(runtime.session(agent_id, session_id))


@router.get("/{agent_id}/sessions/{session_id}/ping", responses=answers(AgentTimeoutError))
async def ping_session(agent_id: str, session_id: str, runtime: Runtime) -> dict[str, object]:
    """The agent's own ``/ping`` in the session's sandbox: Healthy or HealthyBusy."""
    return await runtime.ping(agent_id, session_id)


@router.delete("/{agent_id}/sessions/{session_id}", status_code=204)
async def end_session(agent_id: str, session_id: str, runtime: Runtime) -> Response:
    """End the session: its sandbox is killed (the id's next invocation starts anew)."""
    await runtime.end_session(agent_id, session_id)
    return Response(status_code=204)


async def _payload(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_PAYLOAD:
        raise PayloadTooLargeError(f"the payload is over {MAX_PAYLOAD >> 20} MiB")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD:
            raise PayloadTooLargeError(f"the payload is over {MAX_PAYLOAD >> 20} MiB")
        parts.append(chunk)
    return b"".join(parts)


def _envs(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    envs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidRequestError(f"env {pair!r} is not KEY=VALUE")
        envs[key] = value
    return envs
