"""Which sandbox a tool call runs in.

A conversation is one MCP session (over stdio: the process). Its own sandbox is made at its
first call that needs one, reused by every later call, and replaced when it was killed or
expired (the call's answer says so: what was in it is lost). Every sandbox a conversation
made dies with it: killed when the session ends, and, as the client may vanish without ending
it, made to live ``idle_timeout`` seconds from each use (the service's reaper kills it after
that). A call may name any sandbox instead (``sandbox``); one the conversation did not make is
used as it is, never killed or kept alive by it.

A request without a session (protocol 2026-07-28 over HTTP is stateless) has no conversation
of its own: its calls must name a sandbox (``create_sandbox`` makes one).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import anyio

from interpreter_sdk import AsyncSandbox, NotFoundError, SandboxError, SandboxGoneError
from interpreter_sdk.tools import ToolCallError

log = logging.getLogger(__name__)
T = TypeVar("T")

STDIO = "stdio"  # the key of the one conversation of a stdio server
KILL_TIMEOUT = 30.0  # seconds the kills at a conversation's end may take in all
CALL_MARGIN = 60.0  # seconds a sandbox outlives the longest a call may run
FORGOTTEN_AFTER = 3600.0  # seconds after its sandboxes expired that an idle session is dropped


@dataclass(frozen=True)
class Link:
    """How the tools reach the service: its origin and key (None: INTERPRETER_API_URL / _KEY)."""

    api_url: str | None = None
    api_key: str | None = None


class Conversation:
    """The sandboxes of one conversation (see the module's docstring)."""

    def __init__(self, key: str | None, link: Link, idle_timeout: float) -> None:
        self.key, self.link, self.idle_timeout = key, link, idle_timeout
        self.tag = secrets.token_hex(6)  # in its sandboxes' metadata: mcp_conversation
        self.own: dict[str, AsyncSandbox] = {}  # the sandboxes it made
        self.default_id: str | None = None
        self._lost: str | None = None  # the default sandbox that went away, for the next note
        self.last_used = time.monotonic()
        self._lifetimes: dict[str, float] = {}  # sandbox -> monotonic time it lives until
        self._lock = anyio.Lock()  # one default sandbox, even for concurrent first calls

    async def create(
        self,
        template: str | None = None,
        internet: bool = False,
        envs: dict[str, str] | None = None,
    ) -> AsyncSandbox:
        """A new sandbox of this conversation's, killed when it ends."""
        sandbox = await AsyncSandbox.create(
            template=template,
            timeout=max(1, round(self.idle_timeout)),
            metadata={"created_by": "mcp", "mcp_conversation": self.tag},
            envs=envs,
            network={"enabled": True} if internet else None,
            api_url=self.link.api_url,
            api_key=self.link.api_key,
        )
        self.own[sandbox.sandbox_id] = sandbox
        self._lifetimes[sandbox.sandbox_id] = time.monotonic() + self.idle_timeout
        return sandbox

    async def use(
        self,
        sandbox_id: str | None,
        action: Callable[[AsyncSandbox], Awaitable[T]],
        runs_for: float = 0.0,
    ) -> tuple[T, list[str]]:
        """``action`` on the named sandbox, or on the conversation's own (made or replaced as
        needed: the notes say so). ``runs_for``: seconds the action may take, for which the
        sandbox is kept alive.

        Raises:
            ToolCallError: no sandbox named, and this request has no conversation.
            SandboxError: what the service answered (NotFoundError: no such sandbox...).
        """
        self.last_used = time.monotonic()
        try:
            return await self._use(sandbox_id, action, runs_for)
        finally:
            self.last_used = time.monotonic()

    async def _use(
        self,
        sandbox_id: str | None,
        action: Callable[[AsyncSandbox], Awaitable[T]],
        runs_for: float,
    ) -> tuple[T, list[str]]:
        if sandbox_id is not None:
            return await self._use_named(sandbox_id, action, runs_for), []
        notes: list[str] = []
        sandbox = await self._default(notes)
        try:
            return await self._run_on(sandbox, action, runs_for), notes
        except SandboxGoneError:
            await self._close([sandbox.sandbox_id])  # killed under the call: the next starts anew
            raise
        except NotFoundError:
            if not await _is_gone(sandbox):
                raise  # a file, context or process that is not there
        await self._close([sandbox.sandbox_id])
        sandbox = await self._default(notes)
        return await self._run_on(sandbox, action, runs_for), notes

    async def _use_named(
        self, sandbox_id: str, action: Callable[[AsyncSandbox], Awaitable[T]], runs_for: float
    ) -> T:
        own = self.own.get(sandbox_id)
        if own is not None:
            try:
                return await self._run_on(own, action, runs_for)
            except NotFoundError as exc:
                if isinstance(exc, SandboxGoneError) or await _is_gone(own):
                    await self._close([sandbox_id])
                raise
        sandbox = await AsyncSandbox.connect(sandbox_id, self.link.api_url, self.link.api_key)
        try:
            return await action(sandbox)
        finally:
            await sandbox.close()

    async def _run_on(
        self, sandbox: AsyncSandbox, action: Callable[[AsyncSandbox], Awaitable[T]], runs_for: float
    ) -> T:
        # A sandbox of the conversation lives as long as a call may run, then idle_timeout
        # from its last use; its timeout is set only when that is far off (not on every call).
        if self._left(sandbox) < runs_for + CALL_MARGIN:
            await self._live_for(sandbox, runs_for + CALL_MARGIN)
        result = await action(sandbox)
        if not 0.75 <= self._left(sandbox) / self.idle_timeout <= 1.25:
            await self._live_for(sandbox, self.idle_timeout)
        return result

    def _left(self, sandbox: AsyncSandbox) -> float:
        now = time.monotonic()
        return self._lifetimes.get(sandbox.sandbox_id, now) - now

    async def _live_for(self, sandbox: AsyncSandbox, seconds: float) -> None:
        await sandbox.set_timeout(max(1, round(seconds)))
        self._lifetimes[sandbox.sandbox_id] = time.monotonic() + seconds

    async def _default(self, notes: list[str]) -> AsyncSandbox:
        if self.key is None:
            raise ToolCallError(
                "this request has no MCP session (its protocol is stateless), so it has no "
                "sandbox of its own: make one with create_sandbox and pass its id as `sandbox`",
                "sandbox",
            )
        async with self._lock:
            if self.default_id is not None and self.default_id in self.own:
                return self.own[self.default_id]
            sandbox = await self.create()
            self.default_id = sandbox.sandbox_id
            if self._lost is not None:
                notes.append(
                    f"sandbox {self._lost} is gone (killed or expired): this runs in a new one, "
                    f"{sandbox.sandbox_id}, without the variables and files of the old one"
                )
            else:
                notes.append(
                    f"started sandbox {sandbox.sandbox_id} for this conversation; later calls "
                    f"reuse it (killed when the session ends, or after {self.idle_timeout:g} s "
                    "unused)"
                )
            self._lost = None
            return sandbox

    def forget(self, sandbox_id: str) -> AsyncSandbox | None:
        """Stop keeping a sandbox (killed by someone); returns its handle if it was ours."""
        self._lifetimes.pop(sandbox_id, None)
        if self.default_id == sandbox_id:
            self.default_id, self._lost = None, sandbox_id
        return self.own.pop(sandbox_id, None)

    async def kill(self, sandbox_id: str) -> None:
        """Kill a sandbox, ours or not (NotFoundError: there is none by that id)."""
        own = self.forget(sandbox_id)
        if own is None:
            own = await AsyncSandbox.connect(sandbox_id, self.link.api_url, self.link.api_key)
        try:
            await own.kill()
        finally:
            await own.close()

    async def end(self) -> None:
        """Kill every sandbox the conversation made (those already gone are no error)."""
        with anyio.move_on_after(KILL_TIMEOUT, shield=True):
            for sandbox_id in list(self.own):
                try:
                    await self.kill(sandbox_id)
                except NotFoundError:
                    pass
                except SandboxError as exc:  # it dies at its timeout anyway
                    log.warning("could not kill MCP conversation's sandbox %s: %s", sandbox_id, exc)
        await self._close(list(self.own))  # what the time bound left

    async def release(self) -> None:
        """Let go of every sandbox, without killing it."""
        await self._close(list(self.own))

    async def forget_expired(self) -> None:
        """Drop the sandboxes whose lifetime has passed: the service killed them."""
        now = time.monotonic()
        await self._close([i for i in self.own if self._lifetimes.get(i, now) < now])

    async def _close(self, sandbox_ids: list[str]) -> None:
        for sandbox_id in sandbox_ids:
            sandbox = self.forget(sandbox_id)
            if sandbox is not None:
                await sandbox.close()


async def _is_gone(sandbox: AsyncSandbox) -> bool:
    try:
        await sandbox.get_info()
    except NotFoundError:
        return True
    return False


class Conversations:
    """The open conversations of one server, by key (the MCP session id; STDIO; None for
    requests without a session). An async context manager: leaving it ends them all."""

    def __init__(self, link: Link, idle_timeout: float) -> None:
        self.link, self.idle_timeout = link, idle_timeout
        self._open: dict[str | None, Conversation] = {}

    async def get(self, key: str | None) -> Conversation:
        await self._forget_abandoned()
        conversation = self._open.get(key)
        if conversation is None:
            conversation = self._open[key] = Conversation(key, self.link, self.idle_timeout)
        return conversation

    async def end(self, key: str) -> None:
        """The session ``key`` ended: its sandboxes are killed."""
        conversation = self._open.pop(key, None)
        if conversation is not None:
            await conversation.end()

    async def release(self) -> list[str]:
        """Drop every conversation without killing its sandboxes, whose ids are returned: for
        a caller that kills them another way (the front end, whose loopback is closed when it
        stops)."""
        open_conversations, self._open = list(self._open.values()), {}
        ids = [sandbox_id for c in open_conversations for sandbox_id in c.own]
        for conversation in open_conversations:
            await conversation.release()
        return ids

    async def _forget_abandoned(self) -> None:
        # A session that ended without a word (its client vanished) leaves its entry: its
        # sandboxes die at their timeout, and the entry is dropped well after that.
        horizon = time.monotonic() - self.idle_timeout - FORGOTTEN_AFTER
        for key, conversation in list(self._open.items()):
            await conversation.forget_expired()
            if key is not None and conversation.last_used < horizon:
                del self._open[key]

    async def __aenter__(self) -> Conversations:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        open_conversations, self._open = list(self._open.values()), {}
        for conversation in open_conversations:
            await conversation.end()
