"""The host side of a sandbox's agent (files): HTTP over the unix socket in its run folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from interpreter.core import errors
from interpreter.core.sandbox_fs import SandboxSocket, unix_transport

# The agent's error types -> ours. Anything else from the sandbox is a GatewayError.
ERRORS: dict[str, type[errors.InterpreterError]] = {
    "FileNotFoundError": errors.FileNotFoundInSandboxError,
    "IsADirectoryError": errors.InvalidRequestError,
    "NotADirectoryError": errors.InvalidRequestError,
    "InvalidRequestError": errors.InvalidRequestError,
    "OSError": errors.InvalidRequestError,
    "PermissionError": errors.PermissionDeniedError,
    "FileExistsError": errors.ConflictError,
    "ProcessNotFoundError": errors.ProcessNotFoundError,
}
MAX_ERROR_BODY = 4096
MAX_ANSWER = 256 << 20  # bytes of one (not streamed) answer: a deep listing can be large


class AgentClient:
    def __init__(self, socket_path: SandboxSocket) -> None:
        # Each connect goes through a checked descriptor of the socket (see SandboxSocket): no
        # link the sandbox plants in its run folder redirects the host.
        self.socket_path = socket_path
        self._http = httpx.AsyncClient(
            transport=unix_transport(socket_path),
            base_url="http://agent",
            timeout=httpx.Timeout(60.0, connect=5.0),
        )
        self.gone: str | None = None  # why the host closed it ("killed", "paused")

    async def close(self, why: str = "stopped") -> None:
        """Close the connection; requests in flight then, or made after, raise
        SandboxGoneError (the sandbox was killed or paused under them), not a GatewayError."""
        if self.gone is not None:
            return
        self.gone = why
        await self._http.aclose()

    def _broken(self, what: str, exc: Exception) -> errors.InterpreterError:
        if self.gone is not None:
            return errors.SandboxGoneError(f"the sandbox was {self.gone} while its agent {what}")
        return errors.GatewayError(f"sandbox agent {what}: {exc}")

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/health", timeout=1.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def call(self, method: str, path: str, **kwargs: Any) -> bytes:
        """The body of the agent's answer (at most MAX_ANSWER bytes: the sandbox is not
        trusted), for ``interpreter.core.protocol`` to parse; its errors raise as ours."""
        kwargs.setdefault("timeout", httpx.USE_CLIENT_DEFAULT)
        response = await self._open(method, path, **kwargs)
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise errors.GatewayError("the sandbox agent sent an oversized answer")
        except httpx.HTTPError as exc:
            raise self._broken("was answering", exc) from exc
        finally:
            await response.aclose()
        return bytes(body)

    async def _open(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request whose answer is streamed; errors raise before any of the body."""
        kwargs.setdefault("timeout", None)
        if self.gone is not None:
            raise errors.SandboxGoneError(f"the sandbox was {self.gone}")
        request = self._http.build_request(method, path, **kwargs)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._broken("was unreachable", exc) from exc
        if response.is_error:
            body = bytearray()
            try:  # at most MAX_ERROR_BODY of it: the sandbox is not trusted
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_ERROR_BODY:
                        break
            except httpx.HTTPError as exc:
                raise self._broken("was answering", exc) from exc
            finally:
                await response.aclose()
            _raise_for(response, bytes(body))
        return response

    async def download(self, params: dict[str, str]) -> tuple[int, AsyncIterator[bytes]]:
        """Opens a download; returns its size and its chunks."""
        response = await self._open("GET", "/files", params=params)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                raise self._broken("was sending the file", exc) from exc
            finally:
                await response.aclose()

        return int(response.headers.get("content-length", "0")), chunks()

    async def stream_lines(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[bytes]:
        """Open a streamed answer and return its lines."""
        response = await self._open(method, path, **kwargs)

        async def lines() -> AsyncIterator[bytes]:
            try:
                buffer = b""
                async for chunk in response.aiter_raw():
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    for line in complete:
                        yield line
                    if len(buffer) > 4 << 20:
                        raise errors.GatewayError("the sandbox agent sent an endless line")
            except httpx.HTTPError as exc:
                raise self._broken("was streaming", exc) from exc
            finally:
                await response.aclose()

        return lines()

    async def upload(self, params: dict[str, str], body: AsyncIterator[bytes]) -> bytes:
        return await self.call("PUT", "/files", params=params, content=body, timeout=None)


def _raise_for(response: httpx.Response, body: bytes) -> None:
    if not response.is_error:
        return
    try:
        detail = httpx.Response(200, content=body[:MAX_ERROR_BODY]).json()["error"]
        kind, message = str(detail["type"]), str(detail["message"])[:1000]
    except (ValueError, KeyError, TypeError):
        raise errors.GatewayError(f"sandbox agent answered {response.status_code}") from None
    raise ERRORS.get(kind, errors.GatewayError)(message)
