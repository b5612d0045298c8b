"""AsyncSandbox: the asyncio twin of Sandbox (same names, same signatures)."""

from __future__ import annotations

import builtins
import contextlib
import inspect
from types import TracebackType
from typing import Any, Literal

import httpx

from interpreter_sdk import _base, _errors, _runs_async
from interpreter_sdk._base import ConnectionConfig, ErrorHandler, OutputHandler, ResultHandler
from interpreter_sdk._commands_async import AsyncCommands, AsyncPty
from interpreter_sdk._events import Direction, LifecycleEvent, events_params, lifecycle_event
from interpreter_sdk._files_async import AsyncFiles
from interpreter_sdk._models import (
    Context,
    Execution,
    Network,
    RunResult,
    SandboxInfo,
    SnapshotInfo,
    VolumeInfo,
)


class AsyncSandbox:
    """A sandbox on the server. Make one with ``await AsyncSandbox.create()``."""

    def __init__(
        self,
        info: SandboxInfo,
        config: ConnectionConfig,
        http: httpx.AsyncClient | None = None,
        runs: _runs_async.Runs | None = None,
    ) -> None:
        self.info = info
        self.sandbox_id = info.id
        self._config = config
        # The create's (or connect's) client and runs, kept: their connections are open, so
        # the first run neither sets up a client nor connects again (~3 ms of a create from
        # the pool).
        self._http = http or httpx.AsyncClient(**config.client_options())
        self.files = AsyncFiles(self._http, info.id)
        self.commands = AsyncCommands(self._http, info.id)
        self.pty = AsyncPty(self._http, info.id)
        self._runs = runs or _runs_async.Runs(self._http, config)
        self._execute_url = self._runs.url(f"/sandboxes/{info.id}/execute")
        self._socket_url = self._runs.url(f"/sandboxes/{info.id}/runs")

    @classmethod
    async def create(
        cls,
        template: str | None = None,
        timeout: int | None = None,
        metadata: dict[str, str] | None = None,
        envs: dict[str, str] | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        on_timeout: Literal["kill", "pause", "pause_files"] | None = None,
        disk_mb: int | None = None,
        network: Network | None = None,
        volume_mounts: dict[str, str] | None = None,
    ) -> AsyncSandbox:
        """Create a sandbox and wait until it is ready.

        Args:
            template: image name (default ``code-interpreter``).
            timeout: lifetime in seconds before the server kills it.
            metadata: key/value tags, usable as a ``list`` filter.
            envs: environment variables of every process in the sandbox.
            cpu: CPU cores. memory_mb: memory limit in MiB. disk_mb: disk limit in MiB (the
                sandbox's writable file system; ENOSPC inside beyond it).
            network: egress, e.g. ``{"enabled": True, "deny_out": ["0.0.0.0/0"], "allow_out":
                ["pypi.org"]}`` (default: loopback only).
            on_timeout: ``"pause"`` to pause it (resumable) instead of killing it at its timeout;
                ``"pause_files"`` to pause it keeping only its files.
            volume_mounts: volumes to mount, absolute path inside → volume name (or id), e.g.
                ``{"/mnt/data": "my-data"}``; shared read-write, they outlive the sandbox.
            api_url, api_key: default to ``INTERPRETER_API_URL`` / ``INTERPRETER_API_KEY``.
        """
        config = ConnectionConfig.resolve(api_url, api_key)
        body = _base.create_body(
            template, timeout, metadata, envs, cpu, memory_mb, on_timeout, disk_mb, network,
            volume_mounts,
        )  # fmt: skip
        # One key per create: if the answer is lost, the retry gets the sandbox the first
        # request made, not a second one.
        headers = {"Idempotency-Key": _base.new_idempotency_key()}
        http = httpx.AsyncClient(**config.client_options())
        runs = _runs_async.Runs(http, config)
        try:
            for attempt in range(_base.CREATE_ATTEMPTS):
                try:
                    data = await runs.create(body, headers)
                    break
                except _errors.ConnectionError:
                    if attempt + 1 == _base.CREATE_ATTEMPTS:
                        raise
            info = _base.sandbox_info(data)
        except BaseException:
            await runs.aclose()
            await http.aclose()
            raise
        return cls(info, config, http, runs)

    @classmethod
    async def connect(
        cls, sandbox_id: str, api_url: str | None = None, api_key: str | None = None
    ) -> AsyncSandbox:
        """Attach to an existing sandbox by id."""
        config = ConnectionConfig.resolve(api_url, api_key)
        http = httpx.AsyncClient(**config.client_options())
        try:
            info = _base.sandbox_info(await _call(http, "GET", f"/sandboxes/{sandbox_id}"))
        except BaseException:
            await http.aclose()
            raise
        return cls(info, config, http)

    @classmethod
    async def list(
        cls,
        metadata: dict[str, str] | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> list[SandboxInfo]:
        """Live sandboxes whose metadata contains every given pair."""
        config = ConnectionConfig.resolve(api_url, api_key)
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "GET", "/sandboxes", params=_base.metadata_params(metadata))
        return [_base.sandbox_info(d) for d in data]

    @classmethod
    async def run(
        cls,
        code: str | None = None,
        cmd: str | None = None,
        language: str | None = None,
        files: dict[str, str | bytes] | None = None,
        read_files: builtins.list[str] | None = None,
        timeout: float = 60.0,
        template: str | None = None,
        envs: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        network: Network | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> RunResult:
        """A one-shot run: a new sandbox (from the warm pool) gets ``files``, runs ``code`` or
        ``cmd`` (one of them), gives back ``read_files`` and is killed, also if this call is
        interrupted. One request; no output streams.

        Args:
            code, language: code to run (its outcome is ``RunResult.execution``).
            cmd: a command line for ``bash -c`` instead (``RunResult.command``: its output
                and exit code, non-zero too).
            files: written first: path (absolute or relative to /home/user) -> text or bytes.
            read_files: paths read after the run (16 MiB together at most); missing ones are
                left out of ``RunResult.files``.
            timeout: seconds the code or command may run.
            template, envs, metadata, network: the sandbox's, as in ``create``.

        Raises:
            ExecutionTimeoutError: the code ran past ``timeout`` (a command is killed; its
                ``error`` says so).
        """
        config = ConnectionConfig.resolve(api_url, api_key)
        sandbox = {"template": template, "envs": envs, "metadata": metadata, "network": network}
        body = _base.run_body(code, cmd, language, files, read_files, timeout, sandbox)
        wait = httpx.Timeout(config.request_timeout, read=timeout + _base.RUN_GRACE)
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "POST", "/run", json=body, timeout=wait)
        return _base.run_result(data)

    async def get_info(self) -> SandboxInfo:
        """The sandbox's current record (state, expiry, metadata)."""
        self.info = _base.sandbox_info(await self._call("GET", f"/sandboxes/{self.sandbox_id}"))
        return self.info

    async def kill(self) -> None:
        """Kill the sandbox; everything in it is gone."""
        await self._call("DELETE", f"/sandboxes/{self.sandbox_id}")

    async def set_timeout(self, timeout: int) -> None:
        """Let the sandbox live ``timeout`` more seconds from now."""
        data = await self._call(
            "POST", f"/sandboxes/{self.sandbox_id}/timeout", json={"timeout": timeout}
        )
        self.info = _base.sandbox_info(data)

    async def update_network(self, network: Network) -> None:
        """Replace the sandbox's network (egress on or off, its allow and deny lists)."""
        data = await self._call("PUT", f"/sandboxes/{self.sandbox_id}/network", json=network)
        self.info = _base.sandbox_info(data)

    async def pause(self, memory: bool = True) -> None:
        """Pause the sandbox: with ``memory`` its processes (kernel variables, running commands)
        are checkpointed and continue on resume; without, only its files are kept. Any later
        call that needs it running (``run_code``, files, commands) resumes it."""
        data = await self._call(
            "POST", f"/sandboxes/{self.sandbox_id}/pause", json={"memory": memory}, timeout=None
        )
        self.info = _base.sandbox_info(data)

    async def resume(self, timeout: int | None = None, memory: bool = True) -> None:
        """Resume a paused sandbox; ``timeout``: its new lifetime in seconds. ``memory=False``
        discards the checkpoint and boots fresh on the kept files."""
        body: dict[str, Any] = {"memory": memory}
        if timeout is not None:
            body["timeout"] = timeout
        data = await self._call(
            "POST", f"/sandboxes/{self.sandbox_id}/resume", json=body, timeout=None
        )
        self.info = _base.sandbox_info(data)

    async def run_code(
        self,
        code: str,
        language: str | None = None,
        context: Context | str | None = None,
        on_stdout: OutputHandler | None = None,
        on_stderr: OutputHandler | None = None,
        on_result: ResultHandler | None = None,
        on_error: ErrorHandler | None = None,
        envs: dict[str, str] | None = None,
        timeout: float | None = _base.DEFAULT_RUN_TIMEOUT,
    ) -> Execution:
        """Run code and return its Execution; output streams to the handlers as it comes.

        Args:
            code: the source to run.
            language: run in this language's default context (exclusive with ``context``).
            context: a Context (or its id) from ``create_code_context``.
            on_stdout, on_stderr, on_result, on_error: called as events arrive.
            envs: environment variables for this run only.
            timeout: seconds before the run is interrupted (``None``: no limit).

        Raises:
            ExecutionTimeoutError: the run passed ``timeout``; the kernel was interrupted.
        """
        body = _base.execute_body(code, language, context, envs, timeout)
        builder = _base.ExecutionBuilder(on_stdout, on_stderr, on_result, on_error)
        lines = self._runs.lines(self._execute_url, body, timeout, self._socket_url)
        async with contextlib.aclosing(lines):
            async for line in lines:
                outcome = builder.feed(line)
                if inspect.isawaitable(outcome):
                    await outcome
        return builder.finish()

    async def create_snapshot(self, name: str | None = None, memory: bool = True) -> SnapshotInfo:
        """Snapshot the running sandbox (it runs on, paused for the checkpoint only): sandboxes
        created with ``template=snapshot.id`` start with its kernels' variables, processes
        and files (``memory=False``: its files only, with fresh kernels)."""
        body: dict[str, Any] = {"memory": memory}
        if name is not None:
            body["name"] = name
        data = await self._call("POST", f"/sandboxes/{self.sandbox_id}/snapshots", json=body)
        return _base.snapshot_info(data)

    async def fork(
        self, count: int = 1, timeout: int | None = None
    ) -> builtins.list[AsyncSandbox | _errors.SandboxError]:
        """``count`` new running sandboxes with this one's memory and files (each one's own);
        for each, the sandbox or the error that kept it from starting."""
        body: dict[str, Any] = {"count": count}
        if timeout is not None:
            body["timeout"] = timeout
        data = await self._call(
            "POST", f"/sandboxes/{self.sandbox_id}/fork", json=body,
            timeout=max(self._config.request_timeout, 30.0 * count),
        )  # fmt: skip
        forks: builtins.list[AsyncSandbox | _errors.SandboxError] = []
        for item in data:
            if item.get("sandbox"):
                forks.append(type(self)(_base.sandbox_info(item["sandbox"]), self._config))
            else:
                forks.append(_errors.ServerError(str(item.get("error"))))
        return forks

    @classmethod
    async def list_snapshots(
        cls,
        sandbox_id: str | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> builtins.list[SnapshotInfo]:
        """Snapshots (of one sandbox, if given)."""
        config = ConnectionConfig.resolve(api_url, api_key)
        params = {"sandbox_id": sandbox_id} if sandbox_id else {}
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "GET", "/snapshots", params=params)
        return [_base.snapshot_info(d) for d in data]

    @classmethod
    async def delete_snapshot(
        cls, snapshot_id: str, api_url: str | None = None, api_key: str | None = None
    ) -> None:
        """Delete a snapshot (ConflictError while sandboxes made from it exist)."""
        config = ConnectionConfig.resolve(api_url, api_key)
        async with httpx.AsyncClient(**config.client_options()) as http:
            await _call(http, "DELETE", f"/snapshots/{snapshot_id}")

    @classmethod
    async def get_events(
        cls,
        sandbox_id: str,
        limit: int | None = None,
        direction: Direction = "asc",
        after: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> builtins.list[LifecycleEvent]:
        """A page of the sandbox's lifecycle events (``sandbox.lifecycle.created``, ``paused``,
        ``resumed``, ``updated``, ``killed``...), oldest first (``direction="desc"``: newest
        first); kept for days after the sandbox is gone, so it takes an id.

        Args:
            limit: events per page (1-1000, default 100); a shorter page is the last.
            after: the ``seq`` of the last event of the previous page.
        """
        config = ConnectionConfig.resolve(api_url, api_key)
        params = events_params(limit, direction, after)
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "GET", f"/sandboxes/{sandbox_id}/events", params=params)
        return [lifecycle_event(e) for e in data["events"]]

    @classmethod
    async def create_volume(
        cls,
        name: str,
        size_mb: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> VolumeInfo:
        """A new empty volume (``name``: a-z, 0-9, ``-_.``); ``size_mb`` bounds it (ENOSPC
        past it; default: the server's). Mount it with ``create(volume_mounts={path: name})``."""
        config = ConnectionConfig.resolve(api_url, api_key)
        body: dict[str, Any] = {"name": name}
        if size_mb is not None:
            body["size_mb"] = size_mb
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "POST", "/volumes", json=body)
        return _base.volume_info(data)

    @classmethod
    async def list_volumes(
        cls, api_url: str | None = None, api_key: str | None = None
    ) -> builtins.list[VolumeInfo]:
        """Every volume, oldest first."""
        config = ConnectionConfig.resolve(api_url, api_key)
        async with httpx.AsyncClient(**config.client_options()) as http:
            data = await _call(http, "GET", "/volumes")
        return [_base.volume_info(d) for d in data]

    @classmethod
    async def delete_volume(
        cls, volume: str, api_url: str | None = None, api_key: str | None = None
    ) -> None:
        """Destroy a volume (name or id) and its content (ConflictError while sandboxes have
        it mounted)."""
        config = ConnectionConfig.resolve(api_url, api_key)
        async with httpx.AsyncClient(**config.client_options()) as http:
            await _call(http, "DELETE", f"/volumes/{volume}")

    async def create_code_context(
        self, language: str | None = None, cwd: str | None = None
    ) -> Context:
        """A new context (kernel) with its own state."""
        body = {k: v for k, v in (("language", language), ("cwd", cwd)) if v is not None}
        data = await self._call("POST", f"/sandboxes/{self.sandbox_id}/contexts", json=body)
        return _base.context_of(data)

    async def list_code_contexts(self) -> builtins.list[Context]:
        """The sandbox's contexts, oldest first."""
        data = await self._call("GET", f"/sandboxes/{self.sandbox_id}/contexts")
        return [_base.context_of(d) for d in data]

    async def restart_code_context(self, context: Context | str) -> None:
        """Restart a context's kernel, clearing its state."""
        context_id = context.id if isinstance(context, Context) else context
        await self._call("POST", f"/sandboxes/{self.sandbox_id}/contexts/{context_id}/restart")

    async def interrupt_code_context(self, context: Context | str) -> None:
        """Interrupt the cell running in a context (its state is kept); nothing if none runs."""
        context_id = context.id if isinstance(context, Context) else context
        await self._call("POST", f"/sandboxes/{self.sandbox_id}/contexts/{context_id}/interrupt")

    async def remove_code_context(self, context: Context | str) -> None:
        """Shut a context's kernel down."""
        context_id = context.id if isinstance(context, Context) else context
        await self._call("DELETE", f"/sandboxes/{self.sandbox_id}/contexts/{context_id}")

    async def close(self) -> None:
        """Close the HTTP connections (the sandbox keeps running)."""
        await self._runs.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.kill()
        finally:
            await self.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await _call(self._http, method, path, **kwargs)


async def _call(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = await http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise _base.map_transport_error(exc, None) from exc
    return _base.check(response)
