"""The agent runtime: agents deployed as templates, invoked in sessions of their own.

An agent version is a template whose start command serves AgentCore's HTTP contract on port
8080 (``interpreter_sdk.agent_runtime``). A session id maps to one sandbox made from that
template (the normal create: warm pool, template snapshot), so calls with the same id reach
the same process and its state; the sandbox's timeout is the idle timeout, renewed by each
invocation (the reaper ends idle sessions), and ``end_session`` kills it at once.

An invocation is forwarded through the sandbox's port tunnel (``ports``). Nothing of the
agent's answer is trusted: its head and error bodies are bounded, a JSON answer is read up to
MAX_ANSWER within the timeout, a stream is passed through chunk by chunk, each within the
timeout and all of them up to MAX_STREAM; past a limit the stream ends with an SSE error event.
A timeout closes the connection only: the agent's server (one thread per request) still
answers the session's next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from interpreter.core.agent_store import (
    AGENT_ID,
    AgentRecord,
    AgentStore,
    SessionRecord,
    checked_agent_name,
    checked_session_id,
)
from interpreter.core.errors import (
    AgentEntrypointError,
    AgentNotFoundError,
    AgentSessionNotFoundError,
    AgentTimeoutError,
    ConflictError,
    GatewayError,
    InterpreterError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from interpreter.core.models import now
from interpreter.core.network import Network
from interpreter.core.options import SandboxOptions
from interpreter.service import ports
from interpreter.service.manager import SandboxManager

AGENT_PORT = 8080  # AgentCore's HTTP protocol port
MAX_PAYLOAD = 1 << 20  # bytes of one invocation's payload (413 past it)
MAX_ANSWER = 16 << 20  # bytes of a JSON answer
MAX_STREAM = 256 << 20  # bytes of a streamed answer, all chunks together
MAX_ERROR = 64 << 10  # bytes of an error answer read (its traceback is cut there)
MAX_MESSAGE = 16 << 10  # characters of an entrypoint's error kept in ours
PING_SECONDS = 10.0
SESSION_HEADER = "x-interpreter-session-id"
AGENTCORE_SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"
# Forwarded to the agent besides the payload's type (AgentCore forwards its custom headers).
CUSTOM_HEADER_PREFIXES = ("x-amzn-bedrock-agentcore-runtime-custom-", "x-interpreter-agent-")
AGENT_TAG, SESSION_TAG = "interpreter.agent", "interpreter.agent_session"


@dataclass
class Invocation:
    """An agent's answer: a JSON document, or a stream of server-sent events."""

    session_id: str
    sandbox_id: str
    content_type: str
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None


class AgentRuntime:
    def __init__(self, manager: SandboxManager) -> None:
        self.manager = manager
        self.store = AgentStore(manager.store)
        # One creation per session at a time; a lock lives while someone waits on it.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # -- the registry -------------------------------------------------------------------------
    def register(self, name: str, template: str, version: int | None = None) -> AgentRecord:
        """A new version of agent ``name`` served by ``template`` (built and ready)."""
        checked_agent_name(name)
        if self.manager.templates.get(template).build_id is None:
            raise ConflictError(f"template {template!r} has no ready build")
        record = self.store.add_agent(name, template, version)
        if record is None:
            raise ConflictError(f"agent {name!r} has a version {version} already")
        return record

    def agents(self) -> list[AgentRecord]:
        return self.store.agents()

    def agent(self, agent_id: str) -> AgentRecord:
        """``agent_<name>_v<version>``, or ``agent_<name>`` for its newest version."""
        match = AGENT_ID.match(agent_id)
        if match is None:
            raise AgentNotFoundError(
                f"agent {agent_id!r} not found (ids are agent_<name>_v<version>)"
            )
        name, version = match.group(1), match.group(2)
        versions = self.store.agents(name)
        if not versions:
            raise AgentNotFoundError(f"no agent named {name!r}")
        if version is None:
            return versions[-1]
        for record in versions:
            if record.version == int(version):
                return record
        known = ", ".join(str(r.version) for r in versions)
        raise AgentNotFoundError(f"agent {name!r} has no version {version} (versions: {known})")

    # -- sessions -----------------------------------------------------------------------------
    def sessions(self, agent_id: str) -> list[SessionRecord]:
        agent = self.agent(agent_id)
        return [s for s in self.store.sessions(agent.id) if self._alive(s)]

    def session(self, agent_id: str, session_id: str) -> SessionRecord:
        agent = self.agent(agent_id)
        session = self.store.session(agent.id, session_id)
        if session is None or not self._alive(session):
            raise AgentSessionNotFoundError(f"agent {agent.id!r} has no session {session_id!r}")
        return session

    async def end_session(self, agent_id: str, session_id: str) -> None:
        """Kill the session's sandbox; the id's next invocation starts a new one."""
        session = self.session(agent_id, session_id)
        self.store.delete_session(session.agent_id, session.id)
        with contextlib.suppress(NotFoundError):
            await self.manager.kill(session.sandbox_id, reason="agent session ended")

    async def ping(self, agent_id: str, session_id: str) -> dict[str, object]:
        """The agent's ``GET /ping`` in the session's sandbox (status and its last change)."""
        session = self.session(agent_id, session_id)
        exchange = await self._exchange(session.sandbox_id)
        try:
            await asyncio.wait_for(
                exchange.send("GET", "/ping", AGENT_PORT, [], _chunks(b""), 0), PING_SECONDS
            )
            body = await _read_all(exchange.body(), 4096, PING_SECONDS)
        except TimeoutError:
            late = f"the agent's /ping gave no answer in {PING_SECONDS:g} s"
            raise AgentTimeoutError(late) from None
        finally:
            exchange.close()
        try:
            answer = json.loads(body)
            status, changed = str(answer["status"]), answer.get("time_of_last_update")
        except (ValueError, KeyError, TypeError):
            raise GatewayError("the agent's /ping answer is not its contract's JSON") from None
        return {
            "status": status if status in ("Healthy", "HealthyBusy") else "Unknown",
            "time_of_last_update": changed if isinstance(changed, int) else None,
        }

    def _alive(self, session: SessionRecord) -> bool:
        try:
            return self.manager.get(session.sandbox_id).state in ("starting", "running", "paused")
        except NotFoundError:
            self.store.delete_session(session.agent_id, session.id)
            return False

    async def _session_for(
        self, agent: AgentRecord, session_id: str, envs: dict[str, str] | None
    ) -> SessionRecord:
        key = (agent.id, session_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            session = self.store.session(agent.id, session_id)
            if session is not None and self._alive(session):
                return session
            settings = self.manager.settings
            options = SandboxOptions(
                template=agent.template,
                timeout=settings.agent_idle_timeout,
                metadata={AGENT_TAG: agent.id, SESSION_TAG: session_id},
                envs=envs,
                # An agent calls models and tools out there: egress (public addresses only, as
                # any sandbox's), unless the service allows none.
                network=Network(enabled=True) if settings.egress else None,
            )
            record = await self.manager.create(options)
            session = SessionRecord(id=session_id, agent_id=agent.id, sandbox_id=record.id)
            self.store.put_session(session)
            return session

    async def _touch(self, session: SessionRecord) -> None:
        """The session is used: its idle timeout starts again."""
        with contextlib.suppress(NotFoundError):
            await self.manager.set_timeout(
                session.sandbox_id, self.manager.settings.agent_idle_timeout
            )
            session.last_invoked_at = now()
            self.store.put_session(session)

    # -- invocations --------------------------------------------------------------------------
    async def invoke(
        self,
        agent_id: str,
        payload: bytes,
        session_id: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        envs: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Invocation:
        """Send ``payload`` (JSON) to the agent in the session's sandbox (made if new)."""
        agent = self.agent(agent_id)
        if len(payload) > MAX_PAYLOAD:
            raise PayloadTooLargeError(f"the payload is over {MAX_PAYLOAD >> 20} MiB")
        try:
            json.loads(payload)
        except ValueError as exc:
            raise InvalidRequestError(f"the payload is not JSON: {exc}") from None
        limit = self.manager.settings.agent_invocation_timeout
        seconds = limit if timeout is None else min(timeout, limit)
        session_id = checked_session_id(session_id) if session_id else str(uuid.uuid4())
        session = await self._session_for(agent, session_id, envs)
        session.invocations += 1
        await self._touch(session)
        exchange = await self._exchange(session.sandbox_id)
        sent = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            (AGENTCORE_SESSION_HEADER, session_id),
            *((k, v) for k, v in headers if k.lower().startswith(CUSTOM_HEADER_PREFIXES)),
        ]
        try:
            response = await asyncio.wait_for(
                exchange.send(
                    "POST", "/invocations", AGENT_PORT, sent, _chunks(payload), len(payload)
                ),
                seconds,
            )
            content_type = dict(ports.response_headers(response)).get("content-type", "")
            if not 200 <= response.status_code < 300:
                body = await _read_all(exchange.body(), MAX_ERROR, seconds, cut=True)
                raise _failure(agent, response.status_code, body)
            if content_type.startswith("text/event-stream"):
                stream = self._stream(exchange, session, seconds)
                return Invocation(session_id, session.sandbox_id, "text/event-stream", None, stream)
            body = await _read_all(exchange.body(), MAX_ANSWER, seconds)
            try:
                json.loads(body)
            except ValueError:
                raise GatewayError(f"agent {agent.id!r} answered with no JSON") from None
            exchange.close()
            await self._touch(session)
            return Invocation(session_id, session.sandbox_id, "application/json", body)
        except TimeoutError:
            exchange.close()
            raise AgentTimeoutError(_late(agent, seconds)) from None
        except BaseException:
            exchange.close()
            raise

    async def _exchange(self, sandbox_id: str) -> ports.HttpExchange:
        sock, early = await self.manager.open_port(sandbox_id, AGENT_PORT)
        return ports.HttpExchange(sock, early)

    async def _stream(
        self, exchange: ports.HttpExchange, session: SessionRecord, seconds: float
    ) -> AsyncIterator[bytes]:
        chunks = exchange.body()
        size = 0
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), seconds)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    yield _sse_error(AgentTimeoutError(f"no chunk from the agent in {seconds:g} s"))
                    return
                except InterpreterError as exc:
                    yield _sse_error(exc)
                    return
                size += len(chunk)
                if size > MAX_STREAM:
                    yield _sse_error(GatewayError(f"the stream is over {MAX_STREAM >> 20} MiB"))
                    return
                yield chunk
        finally:
            exchange.close()
            await self._touch(session)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read_all(
    body: AsyncIterator[bytes], limit: int, seconds: float, cut: bool = False
) -> bytes:
    """At most ``limit`` bytes of an answer within ``seconds`` (TimeoutError past them); over
    the limit, GatewayError, or with ``cut`` the first ``limit`` bytes."""

    async def read() -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in body:
            size += len(chunk)
            parts.append(chunk)
            if size > limit:
                if cut:
                    break
                raise GatewayError(f"the agent's answer is over {limit >> 20} MiB")
        return b"".join(parts)[:limit]

    return await asyncio.wait_for(read(), seconds)


def _late(agent: AgentRecord, seconds: float) -> str:
    return (
        f"agent {agent.id!r} did not answer within {seconds:g} s (its session's sandbox runs "
        "on: the next invocation reaches it)"
    )


def _failure(agent: AgentRecord, status: int, body: bytes) -> InterpreterError:
    """The error of an agent's non-2xx answer, from its contract's error body if it has one."""
    try:
        error = json.loads(body).get("error", {})
        kind = str(error.get("type", ""))[:200]
        message = str(error.get("message", ""))[:MAX_MESSAGE]
        trace = str(error.get("traceback", ""))[-MAX_MESSAGE:]
    except (ValueError, AttributeError):
        kind, message, trace = "", body[:2000].decode(errors="replace"), ""
    if status == 500 and kind:
        detail = f"the entrypoint of {agent.id!r} raised {kind}: {message}"
        return AgentEntrypointError(detail + (f"\n{trace}" if trace else ""))
    return GatewayError(f"agent {agent.id!r} answered {status}: {kind} {message}".strip())


def _sse_error(exc: InterpreterError) -> bytes:
    body = {"error": {"type": type(exc).__name__, "message": str(exc)}}
    # A blank line first: the agent's last event may have been cut mid-way.
    return b"\n\nevent: error\ndata: " + json.dumps(body).encode() + b"\n\n"
