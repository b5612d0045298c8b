"""run_code's exchange for the blocking Sandbox, over sockets of its own whose answers httptools
parses: the NDJSON lines of ``POST /execute``, and the create whose kept connection the first run
takes.

run_code and the create (the pool's create → first result) are the calls whose latency is a goal
of this project. httpx's HTTP/1.1 (h11 and httpcore, both in Python) costs ~1 ms more per
``run_code('1+1')`` than the standard library's http.client on a 2-core machine, and http.client
~0.3 ms more than this module (BENCHMARKS.md, "Fifth pass" and "Ninth pass": its head is parsed
by the email package, its chunks read a line at a time through a buffered file). Here a request
goes out in one ``send`` and its answer is fed as it arrives to httptools (llhttp, the parser
uvicorn serves with). So the blocking SDK keeps a few connections of its own for these calls;
every other call (the first of them after a create connects anew: the create's connection is
the runs'), and those that go through a proxy (``HTTP(S)_PROXY``: httpx follows them) or carry a
login in the URL, stay on httpx. A kept connection is checked before it is used again: one the
server closed while it was idle is dropped, as httpcore drops it. After a sandbox's first run,
its runs go over websockets upgraded from these connections (``_run_sockets``). The asyncio
twin, ``_runs_async``, is httpx's stream.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
from collections.abc import Generator, Iterator
from typing import Any

import httptools
import httpx

from interpreter_sdk import _base, _run_sockets

MAX_IDLE = 8  # connections kept for runs in parallel threads
MAX_ERROR_BODY = 1 << 20  # an error answer is a small JSON document
RECEIVE = 1 << 16  # bytes asked of the socket at a time
NO_BODY = frozenset({204, 304})  # answers whose head is all (HEAD is never asked here)


class Runs:
    """A sandbox's runs, and the create that made it: the create's connection is then the first
    run's (thread-safe, as an httpx client is)."""

    def __init__(self, http: httpx.Client, config: _base.ConnectionConfig) -> None:
        self._http, self._config = http, config
        base = http.base_url
        direct = _base.direct(base)  # else httpx's to send: through a proxy, with a login
        self._direct = Connections(base, config) if direct else None
        # After the first run (on the create's connection), runs over websockets.
        https = base.scheme == "https"
        self._sockets = (
            _run_sockets.RunSockets(self._direct, https, config.api_key) if self._direct else None
        )
        self._first = True

    def url(self, path: str) -> httpx.URL:
        """A route's URL, built once (httpx would parse and merge it at every request)."""
        return self._http.base_url.join(path.lstrip("/"))

    def create(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """``POST /sandboxes``: its decoded answer, waited for as long as the create takes."""
        if self._direct is not None:
            return self._direct.post_json(_target(self.url("/sandboxes")), body, headers)
        try:
            response = self._http.post("/sandboxes", json=body, headers=headers, timeout=None)
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, None) from exc
        return _base.check(response)

    def lines(
        self,
        url: httpx.URL,
        body: dict[str, Any],
        timeout: float | None,
        socket: httpx.URL | None = None,
    ) -> Generator[str, None, None]:
        """The answer's lines; the SDK's errors (a refusal, a lost connection, a timeout).
        ``socket``: the run socket's URL, to take the run instead of ``url`` (_run_sockets)."""
        sockets = self._sockets
        if sockets is not None and socket is not None and not sockets.refused:
            if not self._first:
                lines = sockets.lines(_target(socket), body, timeout)
                if lines is not None:
                    yield from lines
                    return
            self._first = False
        if self._direct is not None:
            yield from self._direct.post_lines(_target(url), body, timeout)
            return
        try:
            with self._http.stream(
                "POST", url, json=body, timeout=_base.stream_timeout(self._config, timeout)
            ) as response:
                if not response.is_success:
                    response.read()
                    _base.check(response)
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, timeout) from exc

    def close(self) -> None:
        if self._sockets is not None:
            self._sockets.close()
        if self._direct is not None:
            self._direct.close()


def _target(url: httpx.URL) -> str:
    """What the request line names: the URL's path and query."""
    return url.raw_path.decode("ascii")


class Connections:
    """Kept connections to one server, each used by one exchange at a time."""

    def __init__(self, url: httpx.URL, config: _base.ConnectionConfig) -> None:
        self._https = url.scheme == "https"
        # The port always given: a socket needs it, and an IPv6 address is full of ':'.
        self.address = (url.raw_host.decode("ascii"), url.port or (443 if self._https else 80))
        self._fields = _fields(
            {
                "Host": url.netloc.decode("ascii"),  # as http.client and httpx name it
                "X-API-Key": config.api_key,
                "Content-Type": "application/json",
            }
        )
        self.connect_timeout = config.request_timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post_json(self, target: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """A POST's decoded answer (the SDK's error for a refusal), with no read timeout."""
        connection = self.take()
        kept = False
        try:
            _send(connection, target, self._fields + _fields(headers), body)
            try:
                answer = connection.answer(None)
                data = b"".join(answer.pieces())
            except (OSError, httptools.HttpParserError) as exc:
                raise _base.map_transport_error(exc, None) from exc
            kept = answer.keep_alive
            return _base.check(httpx.Response(answer.status, content=data))
        finally:
            self._done(connection, kept)

    def post_lines(
        self, target: str, body: dict[str, Any], timeout: float | None
    ) -> Generator[str, None, None]:
        connection = self.take()
        kept = False
        try:
            _send(connection, target, self._fields, body)
            try:  # the answer may take this long: a timeout is no byte for that long
                answer = connection.answer(_base.read_timeout(timeout))
                if not 200 <= answer.head() < 300:
                    data = _bounded(answer.pieces(), MAX_ERROR_BODY)
                    _base.check(httpx.Response(answer.status, content=data))
                yield from _lines(answer.pieces())
            except (OSError, httptools.HttpParserError) as exc:
                raise _base.map_transport_error(exc, timeout) from exc
            kept = answer.keep_alive
        finally:
            self._done(connection, kept)

    def take(self) -> Connection:
        with self._lock:
            if self._closed:  # as httpx's closed client
                raise RuntimeError("the sandbox's connections are closed (Sandbox.close())")
            while self._idle:
                connection = self._idle.pop()
                if connection.usable():
                    return connection
                connection.close()
        return Connection(self.address, self._https, self.connect_timeout)

    def _done(self, connection: Connection, kept: bool) -> None:
        """Kept for the next exchange, or closed: cut short (a handler raised, the server said
        close), it is not reusable."""
        if kept:
            with self._lock:
                if not self._closed and len(self._idle) < MAX_IDLE:
                    self._idle.append(connection)
                    return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class Connection:
    """One HTTP/1.1 connection, opened at its first request."""

    def __init__(self, address: tuple[str, int], https: bool, connect_timeout: float) -> None:
        self.address, self._https, self.connect_timeout = address, https, connect_timeout
        self.sock: socket.socket | None = None

    def send(self, data: bytes) -> None:
        if self.sock is None:
            self.sock = self._open()
        self.sock.settimeout(self.connect_timeout)
        self.sock.sendall(data)

    def answer(self, timeout: float | None) -> Answer:
        """The answer to the request sent, waiting up to ``timeout`` s for each of its bytes."""
        assert self.sock is not None  # sent first
        self.sock.settimeout(timeout)
        return Answer(self.sock)

    def usable(self) -> bool:
        """Not closed by the server while it was idle (nothing to read on it: no end of file),
        checked as httpcore checks its own (poll where there is one: select stops at fd 1024)."""
        if self.sock is None:
            return True  # never connected: it connects at its first request
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return not poller.poll(0)
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        try:
            # The request is one send; its answer's lines must not wait for an ACK either.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:
                return _base.ssl_context().wrap_socket(sock, server_hostname=self.address[0])
        except BaseException:
            sock.close()
            raise
        return sock


class Answer:
    """One response, read off its socket as it is needed; httptools calls the ``on_`` methods
    as it parses what is fed to it."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket) -> None:
        self._sock = sock
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.keep_alive = False  # known at its end: the connection may serve the next request
        self._head = self._sized = self._complete = False
        self._pieces: list[bytes] = []

    def head(self) -> int:
        """The status, read up to the end of the head."""
        while not self._head:
            self._receive()
        return self.status

    def pieces(self) -> Iterator[bytes]:
        """The body's bytes as they arrive, to its end."""
        while True:
            if self._pieces:
                pieces, self._pieces = self._pieces, []
                yield from pieces
            if self._complete:
                return
            self._receive()

    def _receive(self) -> None:
        data = self._sock.recv(RECEIVE)
        if data:
            self._parser.feed_data(data)
        elif self._head and not self._sized:
            self._complete = True  # a body neither counted nor chunked ends with the connection
        else:
            raise ConnectionResetError(
                "the server closed the connection in the middle of an answer"
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._sized = True

    def on_headers_complete(self) -> None:
        self.status, self._head = self._parser.get_status_code(), True

    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)

    def on_message_complete(self) -> None:
        # Asked here: once the message is done, the parser has forgotten its headers.
        self.keep_alive, self._complete = self._parser.should_keep_alive(), True


def _send(connection: Connection, target: str, fields: bytes, body: dict[str, Any]) -> None:
    """``POST target`` with these header fields and a JSON body, in one send."""
    data = encoded(body)
    head = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (
        target.encode(),
        fields,
        len(data),
    )
    try:
        connection.send(head + data)
    except OSError as exc:  # connecting, sending
        raise _base.map_transport_error(exc, None) from exc


def _fields(headers: dict[str, str]) -> bytes:
    """Header fields as they go on the wire; a name or value that would break the head (a line
    break, a NUL, a character beyond Latin-1) is refused, as http.client refuses it."""
    lines = []
    for name, value in headers.items():
        if not name.isascii() or any(c in f"{name}{value}" for c in "\r\n\0") or ":" in name:
            raise ValueError(f"invalid HTTP header: {name!r}")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)


def encoded(body: dict[str, Any]) -> bytes:
    """The body as httpx's ``json=`` encodes it (a NaN or infinite timeout refused here)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _bounded(pieces: Iterator[bytes], limit: int) -> bytes:
    """At most ``limit`` bytes of a body (an error's: read only to be shown)."""
    data = b""
    for piece in pieces:
        data += piece
        if len(data) >= limit:
            return data[:limit]
    return data


def _lines(pieces: Iterator[bytes]) -> Iterator[str]:
    """NDJSON lines, each whole (a ``\\n`` byte is never inside a UTF-8 character)."""
    rest = b""
    for piece in pieces:
        *lines, rest = (rest + piece).split(b"\n")
        for line in lines:
            yield line.decode()
    if rest:
        yield rest.decode()
