"""Everything the twins share that does no IO: configuration, request bodies, parsing of
responses and of the NDJSON event stream, and the mapping of errors."""

from __future__ import annotations

import asyncio
import base64
import functools
import http.cookiejar
import json
import os
import secrets
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import httpx

from interpreter_sdk._errors import (
    CommandExitError,
    ConnectionError,
    ExecutionTimeoutError,
    SandboxError,
    error_from_fault,
    error_from_response,
)
from interpreter_sdk._models import (
    CellError,
    CommandInfo,
    CommandResult,
    Context,
    EntryInfo,
    Execution,
    FilesystemEvent,
    Logs,
    Network,
    OutputMessage,
    Result,
    RunResult,
    SandboxInfo,
    SnapshotInfo,
    VolumeInfo,
)

DEFAULT_API_URL = "http://127.0.0.1:49999"
DEFAULT_REQUEST_TIMEOUT = 60.0  # seconds, for everything but run_code
DEFAULT_RUN_TIMEOUT = 300.0  # seconds a run_code may take
STREAM_GRACE = 15.0  # extra seconds the client waits beyond the server-side run timeout

OutputHandler = Callable[[OutputMessage], Any]
ResultHandler = Callable[[Result], Any]
ErrorHandler = Callable[[CellError], Any]


@dataclass(frozen=True)
class ConnectionConfig:
    api_url: str
    api_key: str
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    @classmethod
    def resolve(
        cls, api_url: str | None, api_key: str | None, request_timeout: float | None = None
    ) -> ConnectionConfig:
        url = api_url or os.environ.get("INTERPRETER_API_URL") or DEFAULT_API_URL
        key = api_key or os.environ.get("INTERPRETER_API_KEY")
        if not key:
            raise SandboxError("no API key: pass api_key= or set INTERPRETER_API_KEY")
        return cls(url.rstrip("/"), key, request_timeout or DEFAULT_REQUEST_TIMEOUT)

    def client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.api_url + "/v1",
            "headers": {"X-API-Key": self.api_key},
            "timeout": httpx.Timeout(self.request_timeout),
            "verify": ssl_context(),
            "cookies": NoCookies(),
        }


class NoCookies(http.cookiejar.CookieJar):
    """The API sets no cookies: httpx's parse of every response for them (the standard
    library's cookie jar) was ~10% of the SDK's CPU per run_code."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


@functools.cache
def ssl_context() -> ssl.SSLContext:
    # httpx builds (and loads the CA bundle into) a new SSL context for every client unless
    # given one: 50-150 ms, paid twice by every create. One context serves every client.
    return httpx.create_ssl_context()


def unproxied(url: httpx.URL) -> bool:
    """Whether httpx would connect to ``url`` directly (no proxy variable applies to it)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(url.host))


def direct(url: httpx.URL) -> bool:
    """Whether the SDK's own sockets may take ``url``'s runs: httpx would connect to it directly
    and has no login of the URL (user:password@, Basic) to send."""
    return unproxied(url) and not url.userinfo


CREATE_ATTEMPTS = 3  # a create whose connection failed is sent again, with the same key


def new_idempotency_key() -> str:
    return "sdk-" + secrets.token_hex(16)


def create_body(
    template: str | None,
    timeout: int | None,
    metadata: dict[str, str] | None,
    envs: dict[str, str] | None,
    cpu: float | None,
    memory_mb: int | None,
    on_timeout: str | None = None,
    disk_mb: int | None = None,
    network: Network | None = None,
    volume_mounts: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {
        "template": template,
        "timeout": timeout,
        "metadata": metadata,
        "envs": envs,
        "cpu": cpu,
        "memory_mb": memory_mb,
        "disk_mb": disk_mb,
        "network": network,
        "on_timeout": on_timeout,
        "volume_mounts": volume_mounts,
    }
    return {k: v for k, v in body.items() if v is not None}


def execute_body(
    code: str,
    language: str | None,
    context: Context | str | None,
    envs: dict[str, str] | None,
    timeout: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "timeout": timeout}
    if language is not None:
        body["language"] = language
    if context is not None:
        body["context_id"] = context.id if isinstance(context, Context) else context
    if envs:
        body["envs"] = envs
    return body


RUN_GRACE = 120.0  # extra seconds a one-shot run's answer may take: the create, the files


def run_body(
    code: str | None,
    cmd: str | None,
    language: str | None,
    files: dict[str, str | bytes] | None,
    read_files: list[str] | None,
    timeout: float,
    sandbox: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "cmd": cmd, "language": language, "timeout": timeout}
    body = {k: v for k, v in body.items() if v is not None}
    if files:
        body["files"] = {
            path: data if isinstance(data, str) else
            {"content": base64.b64encode(data).decode(), "encoding": "base64"}
            for path, data in files.items()
        }  # fmt: skip
    if read_files:
        body["read_files"] = list(read_files)
    return {**body, **{k: v for k, v in sandbox.items() if v is not None}}


def run_result(data: dict[str, Any]) -> RunResult:
    execution: Execution | None = None
    command: CommandResult | None = None
    if data.get("execution") is not None:
        collected = data["execution"]
        fields = Result.__dataclass_fields__
        error = collected.get("error")
        execution = Execution(
            [Result(**{k: v for k, v in r.items() if k in fields}) for r in collected["results"]],
            Logs(list(collected["logs"]["stdout"]), list(collected["logs"]["stderr"])),
            CellError(error["name"], error["value"], error["traceback"]) if error else None,
            collected.get("execution_count"),
        )
    if data.get("command") is not None:
        c = data["command"]
        command = CommandResult(c["stdout"], c["stderr"], c["exit_code"], c.get("error"))
    files = {
        path: base64.b64decode(f["content"]) if f["encoding"] == "base64" else f["content"].encode()
        for path, f in (data.get("files") or {}).items()
    }
    return RunResult(data["sandbox_id"], execution, command, files)


def read_timeout(timeout: float | None) -> float | None:
    """How long a stream's client waits for its next bytes, the run's own ``timeout`` given."""
    return None if timeout is None else timeout + STREAM_GRACE


def stream_timeout(config: ConnectionConfig, timeout: float | None) -> httpx.Timeout:
    return httpx.Timeout(config.request_timeout, read=read_timeout(timeout))


def metadata_params(metadata: dict[str, str] | None) -> list[tuple[str, str]]:
    return [("metadata", f"{k}={v}") for k, v in (metadata or {}).items()]


def check(response: httpx.Response) -> Any:
    """The decoded body of a successful response; raise the mapped error otherwise.
    The body must have been read."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise error_from_response(response.status_code, body)


def sandbox_info(data: dict[str, Any]) -> SandboxInfo:
    return SandboxInfo(
        id=data["id"],
        template=data["template"],
        state=data["state"],
        created_at=datetime.fromisoformat(data["created_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        cpu=data["cpu"],
        memory_mb=data["memory_mb"],
        metadata=data.get("metadata") or {},
        disk_mb=data.get("disk_mb", 0),
        network=data.get("network") or {},
    )


def snapshot_info(data: dict[str, Any]) -> SnapshotInfo:
    return SnapshotInfo(
        id=data["id"],
        name=data.get("name"),
        sandbox_id=data["sandbox_id"],
        template=data["template"],
        memory=bool(data["memory"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        frozen_seconds=float(data.get("frozen_seconds") or 0.0),
    )


def volume_info(data: dict[str, Any]) -> VolumeInfo:
    return VolumeInfo(
        id=data["id"],
        name=data["name"],
        size_mb=int(data["size_mb"]),
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def context_of(data: dict[str, Any]) -> Context:
    return Context(id=data["id"], language=data["language"], cwd=data["cwd"])


def _timestamp(raw: Any) -> datetime | None:
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class ExecutionBuilder:
    """Folds the NDJSON event lines of one run into an Execution, calling the handlers."""

    def __init__(
        self,
        on_stdout: OutputHandler | None = None,
        on_stderr: OutputHandler | None = None,
        on_result: ResultHandler | None = None,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.execution = Execution()
        self.ended = False
        self._handlers = (on_stdout, on_stderr, on_result, on_error)

    def feed(self, line: str) -> Any:
        """Take one line; returns what a handler returned (an awaitable for async handlers)."""
        if not line.strip():
            return None
        event = json.loads(line)
        kind = event.pop("type", None)
        on_stdout, on_stderr, on_result, on_error = self._handlers
        if kind in ("stdout", "stderr"):
            text = str(event.get("text", ""))
            is_err = kind == "stderr"
            (self.execution.logs.stderr if is_err else self.execution.logs.stdout).append(text)
            handler = on_stderr if is_err else on_stdout
            if handler:
                return handler(OutputMessage(text, _timestamp(event.get("timestamp")), is_err))
        elif kind == "result":
            known = {k: event.pop(k) for k in list(event) if k in Result.__dataclass_fields__}
            result = Result(**known)
            self.execution.results.append(result)
            if on_result:
                return on_result(result)
        elif kind == "error":
            error = CellError(
                str(event.get("name", "")),
                str(event.get("value", "")),
                str(event.get("traceback", "")),
            )
            self.execution.error = error
            if on_error:
                return on_error(error)
        elif kind == "execution_count":
            self.execution.execution_count = event.get("execution_count")
        elif kind == "fault":
            raise error_from_fault(event.get("error"))
        elif kind == "end":
            self.ended = True
        return None  # keepalive and types added later are ignored

    def finish(self) -> Execution:
        if not self.ended:
            raise ConnectionError("the execution stream ended before the execution did")
        return self.execution


# asyncio.TimeoutError: the built-in TimeoutError's alias from Python 3.11, its own class before.
TIMEOUTS = (httpx.ReadTimeout, TimeoutError, asyncio.TimeoutError)


def map_transport_error(exc: Exception, timeout: float | None) -> SandboxError:
    """An httpx error (or a socket's or httptools', ``_runs_sync``) as the SDK's: a read that
    timed out while a run with a ``timeout`` waited is that run's timeout, anything else a lost
    connection."""
    if isinstance(exc, TIMEOUTS) and timeout is not None:
        return ExecutionTimeoutError(f"execution timed out after {timeout:g} s (no answer)")
    return ConnectionError(f"{type(exc).__name__}: {exc}")


UPLOAD_CHUNK = 1 << 20
KEPT_OUTPUT = 64 << 20  # characters of a command's stdout (and of its stderr) a result keeps
Upload = str | bytes | IO[bytes]


def entry_info(data: dict[str, Any]) -> EntryInfo:
    return EntryInfo(
        name=data["name"],
        path=data["path"],
        type=data["type"],
        size=data["size"],
        mode=data["mode"],
        permissions=data["permissions"],
        owner=data["owner"],
        group=data["group"],
        modified_time=datetime.fromisoformat(data["modified_time"]),
        symlink_target=data.get("symlink_target"),
        target_type=data.get("target_type"),
        resolved_target=data.get("resolved_target"),
        target_mode=data.get("target_mode"),
        metadata=dict(data.get("metadata") or {}),
    )


def filesystem_event(line: str) -> FilesystemEvent | None:
    """One NDJSON line of a watch (None if blank)."""
    if not line.strip():
        return None
    data = json.loads(line)
    entry = data.get("entry")
    return FilesystemEvent(data["type"], data["name"], entry_info(entry) if entry else None)


def upload_chunks(data: Upload) -> Iterator[bytes]:
    """The body of an upload, in chunks: a file object is streamed, never read whole."""
    if isinstance(data, str):
        yield data.encode()
    elif isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    else:
        while chunk := data.read(UPLOAD_CHUNK):
            yield chunk.encode() if isinstance(chunk, str) else chunk


async def as_async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class CommandOutput:
    """Folds a command's NDJSON events into a CommandResult, calling the handlers."""

    def __init__(
        self, on_stdout: Callable[[str], Any] | None, on_stderr: Callable[[str], Any] | None
    ) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.pid: int | None = None
        self.end: dict[str, Any] | None = None
        self._handlers = {"stdout": on_stdout, "stderr": on_stderr}
        self._kept = {"stdout": 0, "stderr": 0}

    def feed(self, line: str) -> Any:
        if not line.strip():
            return None
        event = json.loads(line)
        kind = event.get("type")
        if kind == "start":
            self.pid = event["pid"]
        elif kind in ("stdout", "stderr"):
            self._keep(kind, event["data"])
            handler = self._handlers[kind]
            if handler:
                return handler(event["data"])
        elif kind == "end":
            self.end = event
        return None

    def _keep(self, kind: str, data: str) -> None:
        # Handlers see everything; the result keeps at most KEPT_OUTPUT characters per stream.
        kept = self.stdout if kind == "stdout" else self.stderr
        room = KEPT_OUTPUT - self._kept[kind]
        if room <= 0:
            return
        if len(data) > room:
            data = data[:room] + f"\n[output truncated: more than {KEPT_OUTPUT} characters]\n"
        kept.append(data)
        self._kept[kind] += len(data)

    def result(self, check: bool) -> CommandResult:
        if self.end is None:
            raise ConnectionError("the command's stream ended before the command did")
        result = CommandResult(
            "".join(self.stdout), "".join(self.stderr), self.end["exit_code"], self.end.get("error")
        )
        if check and result.exit_code != 0:
            raise CommandExitError(result.stdout, result.stderr, result.exit_code, result.error)
        return result


def command_info(data: dict[str, Any]) -> CommandInfo:
    return CommandInfo(
        pid=data["pid"],
        cmd=data["cmd"],
        tag=data.get("tag"),
        user=data["user"],
        status=data["status"],
        exit_code=data.get("exit_code"),
        started_at=datetime.fromtimestamp(data["started_at"]),
        pty=data["pty"],
        args=data.get("args"),
        envs=dict(data.get("envs") or {}),
        cwd=data.get("cwd") or "",
    )


def command_body(
    cmd: str,
    envs: dict[str, str] | None,
    cwd: str | None,
    user: str,
    timeout: float | None,
    stdin: bool = False,
    pty: tuple[int, int] | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": cmd, "user": user, "stdin": stdin}
    for key, value in (("envs", envs), ("cwd", cwd), ("timeout", timeout), ("tag", tag)):
        if value is not None:
            body[key] = value
    if pty is not None:
        body["pty"] = {"cols": pty[0], "rows": pty[1]}
    return body
