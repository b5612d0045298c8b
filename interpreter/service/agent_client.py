"""The host side of a sandbox's agent (files): HTTP over the unix socket in its run folder.

Calls go through httpx. A file's bytes (``download``, ``upload``) do not: each transfer has a
connection of its own on which h11 only writes the request's head and reads the answer's, and
the body moves between the socket and the caller 1 MiB at a time, with no HTTP framing to
parse (the agent answers a download with sendfile(2) and a close) and no copy in h11's buffers:
those copies were 40 % of the front end's CPU on a 1 GiB download (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import h11
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
MAX_HEAD = 64 << 10  # bytes of a transfer's answer head (h11 refuses a longer one)
CHUNK = 1 << 20  # bytes read or written at once by a transfer
SEND_BUFFER = 4 << 20  # a transfer's socket buffer: fewer, larger writes to the agent
CONNECT_SECONDS = 5.0


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
        self._transfers: set[socket.socket] = set()  # open: close() shuts them down

    async def close(self, why: str = "stopped") -> None:
        """Close the connection; requests in flight then, or made after, raise
        SandboxGoneError (the sandbox was killed or paused under them), not a GatewayError."""
        if self.gone is not None:
            return
        self.gone = why
        for sock in list(self._transfers):  # a transfer waiting on the socket wakes and ends
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
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
            _raise_for(response.status_code, bytes(body))
        return response

    async def download(self, params: dict[str, str]) -> tuple[int, AsyncIterator[bytes]]:
        """Opens a download; returns its size and its chunks (exactly that many bytes: a short
        answer raises)."""
        transfer = await self._transfer("GET", "/files", params, None)
        try:
            try:
                response = await transfer.answer_head()
                error = response.status_code >= 400
                body = await transfer.body(MAX_ERROR_BODY) if error else b""
            except (OSError, h11.ProtocolError) as exc:
                raise self._broken("was answering", exc) from exc
            _raise_for(response.status_code, body)
            size = _content_length(response)
        except BaseException:
            self._end(transfer)
            raise
        return size, self._chunks(transfer, size)

    async def _chunks(self, transfer: Transfer, size: int) -> AsyncIterator[bytes]:
        try:
            left = size
            while left > 0:
                chunk = await transfer.receive(min(left, CHUNK))
                if not chunk:
                    raise ConnectionResetError("the answer ended early")
                left -= len(chunk)
                yield chunk
        except (OSError, h11.ProtocolError) as exc:
            raise self._broken("was sending the file", exc) from exc
        finally:
            self._end(transfer)

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

    async def upload(
        self, params: dict[str, str], body: AsyncIterator[bytes], size: int | None = None
    ) -> bytes:
        """Send ``body`` as the file's bytes (``size`` of them if given, else chunked); the
        agent's answer (at most MAX_ANSWER bytes)."""
        transfer = await self._transfer("PUT", "/files", params, size)
        try:
            try:
                # The body goes only after the agent's 100 Continue (it then splices it into the
                # file, sandbox/agent/upload.py); a refusal comes instead, with nothing sent.
                head = await transfer.head_event()
                if head.status_code == 100:
                    with contextlib.suppress(OSError):  # the agent stopped reading: it says why
                        await self._send_body(transfer, body, size)
                if not isinstance(head, h11.Response):
                    head = await transfer.answer_head()
                answer = await transfer.body(MAX_ANSWER)
            except (OSError, h11.ProtocolError) as exc:
                raise self._broken("was answering", exc) from exc
            _raise_for(head.status_code, answer)
            return answer
        finally:
            self._end(transfer)

    async def _send_body(
        self, transfer: Transfer, body: AsyncIterator[bytes], size: int | None
    ) -> None:
        sent = 0
        async for chunk in body:
            sent += len(chunk)
            if size is not None and sent > size:
                raise errors.InvalidRequestError(f"the body is longer than {size} bytes")
            await transfer.send(chunk)
        if size is not None and sent != size:
            raise errors.InvalidRequestError(f"the body ended at {sent} of {size} bytes")
        await transfer.send_end()

    async def _transfer(
        self, method: str, path: str, params: dict[str, str], size: int | None
    ) -> Transfer:
        """A new connection to the agent, the request's head sent on it."""
        if self.gone is not None:
            raise errors.SandboxGoneError(f"the sandbox was {self.gone}")
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        self._transfers.add(sock)
        transfer = Transfer(sock, size)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            with self.socket_path.connect_path() as checked:
                await asyncio.wait_for(loop.sock_connect(sock, checked), CONNECT_SECONDS)
            await transfer.send_head(method, f"{path}?{urlencode(params)}")
        except (OSError, TimeoutError) as exc:
            self._end(transfer)
            raise self._broken("was unreachable", exc) from exc
        except BaseException:
            self._end(transfer)
            raise
        return transfer

    def _end(self, transfer: Transfer) -> None:
        self._transfers.discard(transfer.sock)
        transfer.sock.close()


class Transfer:
    """One request to the agent on a connection of its own (closed after it). h11 writes the
    request's head and reads the answer's, bounded; the body's bytes pass it by."""

    def __init__(self, sock: socket.socket, size: int | None) -> None:
        self.sock, self.size = sock, size
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._loop = asyncio.get_running_loop()
        self._raw = False  # the answer's head is read: the body comes from the socket

    async def send_head(self, method: str, target: str) -> None:
        framing = (
            ("transfer-encoding", "chunked")
            if self.size is None
            else ("content-length", str(self.size))
        )
        headers = [("host", "agent"), ("connection", "close")]
        if method == "PUT":
            headers += [framing, ("expect", "100-continue")]
        request = h11.Request(method=method, target=target, headers=headers)
        await self._loop.sock_sendall(self.sock, self._h11.send(request) or b"")

    async def send(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.size is None:  # chunked: the chunk's own bytes are not copied into a frame
            await self._loop.sock_sendall(self.sock, b"%x\r\n" % len(chunk))
            await self._loop.sock_sendall(self.sock, chunk)
            await self._loop.sock_sendall(self.sock, b"\r\n")
        else:
            await self._loop.sock_sendall(self.sock, chunk)

    async def send_end(self) -> None:
        if self.size is None:
            await self._loop.sock_sendall(self.sock, b"0\r\n\r\n")

    async def answer_head(self) -> h11.Response:
        """The answer's status and headers (h11: bounded, checked), past any 1xx."""
        while not isinstance(event := await self.head_event(), h11.Response):
            pass
        return event

    async def head_event(self) -> h11.Response | h11.InformationalResponse:
        """The next head the agent sends: a 1xx (100 Continue) or the answer's."""
        event = await self._next_event()
        if not isinstance(event, h11.Response | h11.InformationalResponse):
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} before the answer")
        return event

    async def body(self, limit: int) -> bytes:
        """The answer's body, through h11 (its framing checked), at most ``limit`` bytes."""
        body = bytearray()
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.ConnectionClosed):
                break
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise errors.GatewayError("the sandbox agent sent an oversized answer")
        return bytes(body)

    async def receive(self, most: int) -> bytes:
        """Bytes of the body: first what came with the head (h11 holds it, less than CHUNK and
        never past Content-Length), then at most ``most`` from the socket."""
        if not self._raw:
            event = self._h11.next_event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
            self._raw = True
        return await self._loop.sock_recv(self.sock, most)

    async def _next_event(self) -> Any:
        while (event := self._h11.next_event()) is h11.NEED_DATA:
            self._h11.receive_data(await self._loop.sock_recv(self.sock, CHUNK))
        return event


def _content_length(response: h11.Response) -> int:
    lengths = [value for name, value in response.headers if name == b"content-length"]
    if len(lengths) != 1 or not lengths[0].isdigit():
        raise errors.GatewayError("the sandbox agent sent a download without one Content-Length")
    return int(lengths[0])


def _raise_for(status: int, body: bytes) -> None:
    if status < 400:
        return
    try:
        detail = httpx.Response(200, content=body[:MAX_ERROR_BODY]).json()["error"]
        kind, message = str(detail["type"]), str(detail["message"])[:1000]
    except (ValueError, KeyError, TypeError):
        raise errors.GatewayError(f"sandbox agent answered {status}") from None
    raise ERRORS.get(kind, errors.GatewayError)(message)
