"""Commands and Pty. GENERATED from _commands_sync.py: do not edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import httpx

from interpreter_sdk import _base, _errors
from interpreter_sdk._models import CommandInfo, CommandResult

User = Literal["user", "root"]
OnData = Callable[[str], Any] | None


class CommandHandle:
    """A started process: wait for it, feed it, signal it. It runs on if you walk away."""

    def __init__(self, http: httpx.Client, url: str, pid: int) -> None:
        self._http = http
        self._url = f"{url}/{pid}"
        self.pid = pid

    def wait(
        self, on_stdout: OnData = None, on_stderr: OnData = None, check: bool = True
    ) -> CommandResult:
        """Everything it printed (from its start) and its exit code, once it ends.

        Raises:
            CommandExitError: it exited non-zero (unless ``check=False``).
        """
        output = _base.CommandOutput(on_stdout, on_stderr)
        _stream(self._http, "GET", self._url + "/stream", output, params={"replay": 1})
        return output.result(check)

    def info(self) -> CommandInfo:
        """Its status (running / completed / failed / cancelled) and exit code."""
        return _base.command_info(_call(self._http, "GET", self._url))

    def send_stdin(self, data: str | bytes) -> None:
        """Write to its stdin (or terminal)."""
        content = data.encode() if isinstance(data, str) else data
        _call(self._http, "POST", self._url + "/stdin", content=content)

    def close_stdin(self) -> None:
        """End its input."""
        _call(self._http, "POST", self._url + "/close-stdin")

    def kill(self, signal: Literal["TERM", "KILL", "INT"] = "TERM") -> None:
        """Signal its process group; TERM becomes KILL after 2 s."""
        _call(self._http, "POST", self._url + "/kill", params={"signal": signal})

    def resize(self, cols: int, rows: int) -> None:
        """Resize its terminal (processes started with a pty)."""
        _call(self._http, "POST", self._url + "/resize", params={"cols": cols, "rows": rows})


class Commands:
    """``sandbox.commands``: run shell commands inside the sandbox (bash -c)."""

    def __init__(self, http: httpx.Client, sandbox_id: str) -> None:
        self._http = http
        self._url = f"/sandboxes/{sandbox_id}/commands"

    def run(
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
        _stream(self._http, "POST", self._url, output, json=body)
        return output.result(check)

    def start(
        self,
        cmd: str,
        envs: dict[str, str] | None = None,
        cwd: str | None = None,
        user: User = "user",
        timeout: float | None = None,
        stdin: bool = False,
        tag: str | None = None,
    ) -> CommandHandle:
        """Start a command in the background; returns once it runs."""
        body = _base.command_body(cmd, envs, cwd, user, timeout, stdin=stdin, tag=tag)
        return _start(self._http, self._url, body)

    def connect(self, pid: int) -> CommandHandle:
        """A handle on a process started earlier (by anyone)."""
        _call(self._http, "GET", f"{self._url}/{pid}")
        return CommandHandle(self._http, self._url, pid)

    def list(self) -> list[CommandInfo]:
        """Processes started through the API, running or finished."""
        return [_base.command_info(d) for d in _call(self._http, "GET", self._url)]


class Pty:
    """``sandbox.pty``: interactive shells on a terminal."""

    def __init__(self, http: httpx.Client, sandbox_id: str) -> None:
        self._http = http
        self._url = f"/sandboxes/{sandbox_id}/commands"

    def create(
        self,
        cols: int = 80,
        rows: int = 24,
        user: User = "user",
        cwd: str | None = None,
        envs: dict[str, str] | None = None,
    ) -> CommandHandle:
        """Start bash on a terminal; type with ``send_stdin``, read with ``wait``."""
        body = _base.command_body("bash", envs, cwd, user, None, pty=(cols, rows), tag="pty")
        return _start(self._http, self._url, body)


def _start(http: httpx.Client, url: str, body: dict[str, Any]) -> CommandHandle:
    try:
        with http.stream("POST", url, json=body, timeout=None) as response:
            if not response.is_success:
                response.read()
                _base.check(response)
            for line in response.iter_lines():
                output = _base.CommandOutput(None, None)
                output.feed(line)
                if output.pid is not None:
                    return CommandHandle(http, url, output.pid)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc
    raise _errors.ConnectionError("the command did not start")


def _stream(
    http: httpx.Client, method: str, url: str, output: _base.CommandOutput, **kwargs: Any
) -> None:
    try:
        with http.stream(method, url, timeout=None, **kwargs) as response:
            if not response.is_success:
                response.read()
                _base.check(response)
            for line in response.iter_lines():
                output.feed(line)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc


def _call(http: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc
    return _base.check(response)
