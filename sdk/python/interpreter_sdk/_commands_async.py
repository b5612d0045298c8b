"""AsyncCommands and AsyncPty: processes inside a sandbox, the asyncio twins."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import httpx

from interpreter_sdk import _base, _errors
from interpreter_sdk._models import CommandInfo, CommandResult

User = Literal["user", "root"]
OnData = Callable[[str], Any] | None


class AsyncCommandHandle:
    """A started process: wait for it, feed it, signal it. It runs on if you walk away."""

    def __init__(self, http: httpx.AsyncClient, url: str, pid: int) -> None:
        self._http = http
        self._url = f"{url}/{pid}"
        self.pid = pid

    async def wait(
        self, on_stdout: OnData = None, on_stderr: OnData = None, check: bool = True
    ) -> CommandResult:
        """Everything it printed (from its start) and its exit code, once it ends.

        Raises:
            CommandExitError: it exited non-zero (unless ``check=False``).
        """
        output = _base.CommandOutput(on_stdout, on_stderr)
        await _stream(self._http, "GET", self._url + "/stream", output, params={"replay": 1})
        return output.result(check)

    async def info(self) -> CommandInfo:
        """Its status (running / completed / failed / cancelled) and exit code."""
        return _base.command_info(await _call(self._http, "GET", self._url))

    async def send_stdin(self, data: str | bytes) -> None:
        """Write to its stdin (or terminal)."""
        content = data.encode() if isinstance(data, str) else data
        await _call(self._http, "POST", self._url + "/stdin", content=content)

    async def close_stdin(self) -> None:
        """End its input."""
        await _call(self._http, "POST", self._url + "/close-stdin")

    async def kill(self, signal: Literal["TERM", "KILL", "INT"] = "TERM") -> None:
        """Signal its process group; TERM becomes KILL after 2 s."""
        await _call(self._http, "POST", self._url + "/kill", params={"signal": signal})

    async def resize(self, cols: int, rows: int) -> None:
        """Resize its terminal (processes started with a pty)."""
        await _call(self._http, "POST", self._url + "/resize", params={"cols": cols, "rows": rows})


class AsyncCommands:
    """``sandbox.commands``: run shell commands inside the sandbox (bash -c)."""

    def __init__(self, http: httpx.AsyncClient, sandbox_id: str) -> None:
        self._http = http
        self._url = f"/sandboxes/{sandbox_id}/commands"

    async def run(
        self,
        cmd: str,
        envs: dict[str, str] | None = None,
        cwd: str | None = None,
        user: User = "user",
        timeout: float | None = 60,
        on_stdout: OnData = None,
        on_stderr: OnData = None,
        check: bool = True,
    ) -> CommandResult:
        """Run a command to its end, streaming its output to the handlers.

        Args:
            timeout: seconds before its process tree is killed (``None``: no limit).
            check: raise CommandExitError on a non-zero exit code.
        """
        output = _base.CommandOutput(on_stdout, on_stderr)
        body = _base.command_body(cmd, envs, cwd, user, timeout)
        await _stream(self._http, "POST", self._url, output, json=body)
        return output.result(check)

    async def start(
        self,
        cmd: str,
        envs: dict[str, str] | None = None,
        cwd: str | None = None,
        user: User = "user",
        timeout: float | None = None,
        stdin: bool = False,
        tag: str | None = None,
    ) -> AsyncCommandHandle:
        """Start a command in the background; returns once it runs."""
        body = _base.command_body(cmd, envs, cwd, user, timeout, stdin=stdin, tag=tag)
        return await _start(self._http, self._url, body)

    async def connect(self, pid: int) -> AsyncCommandHandle:
        """A handle on a process started earlier (by anyone)."""
        await _call(self._http, "GET", f"{self._url}/{pid}")
        return AsyncCommandHandle(self._http, self._url, pid)

    async def list(self) -> list[CommandInfo]:
        """Processes started through the API, running or finished."""
        return [_base.command_info(d) for d in await _call(self._http, "GET", self._url)]


class AsyncPty:
    """``sandbox.pty``: interactive shells on a terminal."""

    def __init__(self, http: httpx.AsyncClient, sandbox_id: str) -> None:
        self._http = http
        self._url = f"/sandboxes/{sandbox_id}/commands"

    async def create(
        self,
        cols: int = 80,
        rows: int = 24,
        user: User = "user",
        cwd: str | None = None,
        envs: dict[str, str] | None = None,
    ) -> AsyncCommandHandle:
        """Start bash on a terminal; type with ``send_stdin``, read with ``wait``."""
        body = _base.command_body("bash", envs, cwd, user, None, pty=(cols, rows), tag="pty")
        return await _start(self._http, self._url, body)


async def _start(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> AsyncCommandHandle:
    try:
        async with http.stream("POST", url, json=body, timeout=None) as response:
            if not response.is_success:
                await response.aread()
                _base.check(response)
            async for line in response.aiter_lines():
                output = _base.CommandOutput(None, None)
                output.feed(line)
                if output.pid is not None:
                    return AsyncCommandHandle(http, url, output.pid)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc
    raise _errors.ConnectionError("the command did not start")


async def _stream(
    http: httpx.AsyncClient, method: str, url: str, output: _base.CommandOutput, **kwargs: Any
) -> None:
    try:
        async with http.stream(method, url, timeout=None, **kwargs) as response:
            if not response.is_success:
                await response.aread()
                _base.check(response)
            async for line in response.aiter_lines():
                outcome = output.feed(line)
                if inspect.isawaitable(outcome):
                    await outcome
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc


async def _call(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc
    return _base.check(response)
