"""run_code's exchange for the blocking Sandbox, over the standard library's http.client: the
NDJSON lines of ``POST /execute``, and the create whose kept connection the first run takes.

httpx's HTTP/1.1 (h11 and httpcore, both in Python) costs ~1 ms of CPU and wall time more per
``run_code('1+1')`` than http.client on a 2-core machine (BENCHMARKS.md, "Fifth pass"), and
run_code and the create (the pool's create → first result) are the calls whose latency is a goal
of this project. So the blocking SDK keeps a few http.client connections of its own for them;
every other call (the first of them after a create connects anew: the create's connection is
the runs'), and those that go through a proxy (``HTTP(S)_PROXY``: httpx follows them,
http.client does not) or carry a login in the URL, stay on httpx. A kept connection
is checked before it is used again: one the server closed while it was idle is dropped, as
httpcore drops it. The asyncio twin, ``_runs_async``, is httpx's stream.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import urllib.request
from collections.abc import Generator
from typing import Any

import httpx

from interpreter_sdk import _base

MAX_IDLE = 8  # connections kept for runs in parallel threads
MAX_ERROR_BODY = 1 << 20  # an error answer is a small JSON document


class Runs:
    """A sandbox's runs, and the create that made it: the create's connection is then the first
    run's (thread-safe, as an httpx client is)."""

    def __init__(self, http: httpx.Client, config: _base.ConnectionConfig) -> None:
        self._http, self._config = http, config
        base = http.base_url
        # A login in the URL (user:password@) is httpx's to send (Basic), as a proxy is.
        direct = _unproxied(base) and not base.userinfo
        self._direct = Connections(base, config) if direct else None

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
        self, url: httpx.URL, body: dict[str, Any], timeout: float | None
    ) -> Generator[str, None, None]:
        """The answer's lines; the SDK's errors (a refusal, a lost connection, a timeout)."""
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
        if self._direct is not None:
            self._direct.close()


def _target(url: httpx.URL) -> str:
    """What the request line names: the URL's path and query."""
    return url.raw_path.decode("ascii")


def _unproxied(url: httpx.URL) -> bool:
    """Whether httpx would connect to ``url`` directly (no proxy variable applies to it)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(url.host))


class Connections:
    """Kept http.client connections to one server, each used by one exchange at a time."""

    def __init__(self, url: httpx.URL, config: _base.ConnectionConfig) -> None:
        self._https = url.scheme == "https"
        # The port always given: http.client would read an IPv6 address's last ':' as one.
        self._address = (url.raw_host.decode("ascii"), url.port or (443 if self._https else 80))
        self._headers = {"X-API-Key": config.api_key, "Content-Type": "application/json"}
        self._connect_timeout = config.request_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post_json(self, target: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """A POST's decoded answer (the SDK's error for a refusal), with no read timeout."""
        connection = self._take()
        kept = False
        try:
            _send(connection, target, body, {**self._headers, **headers})
            try:
                if connection.sock is not None:
                    connection.sock.settimeout(None)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _base.map_transport_error(exc, None) from exc
            kept = not response.will_close
            return _base.check(httpx.Response(response.status, content=data))
        finally:
            self._done(connection, kept)

    def post_lines(
        self, target: str, body: dict[str, Any], timeout: float | None
    ) -> Generator[str, None, None]:
        connection = self._take()
        kept = False
        try:
            _send(connection, target, body, self._headers)
            try:
                if connection.sock is not None:  # connected: the answer may take this long
                    connection.sock.settimeout(_base.read_timeout(timeout))
                response = connection.getresponse()
                if not 200 <= response.status < 300:
                    data = response.read(MAX_ERROR_BODY)
                    _base.check(httpx.Response(response.status, content=data))
                while line := response.readline():
                    yield line.decode()
            except (OSError, http.client.HTTPException) as exc:  # a timeout: no byte for that long
                raise _base.map_transport_error(exc, timeout) from exc
            kept = not response.will_close
        finally:
            self._done(connection, kept)

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:  # as httpx's closed client
                raise RuntimeError("the sandbox's connections are closed (Sandbox.close())")
            while self._idle:
                connection = self._idle.pop()
                if _usable(connection):
                    return connection
                connection.close()
        host, port = self._address
        if self._https:
            return http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=_base.ssl_context()
            )
        return http.client.HTTPConnection(host, port, timeout=self._connect_timeout)

    def _done(self, connection: http.client.HTTPConnection, kept: bool) -> None:
        """Kept for the next exchange, or closed: cut short (a handler raised, the server said
        close), it is not reusable."""
        if not kept:
            connection.close()
            return
        if connection.sock is not None:
            connection.sock.settimeout(self._connect_timeout)
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


def _send(
    connection: http.client.HTTPConnection,
    target: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    try:
        connection.request("POST", target, _encoded(body), headers)
    except (OSError, http.client.HTTPException) as exc:  # connecting, sending
        raise _base.map_transport_error(exc, None) from exc


def _encoded(body: dict[str, Any]) -> bytes:
    """The body as httpx's ``json=`` encodes it (a NaN or infinite timeout refused here)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _usable(connection: http.client.HTTPConnection) -> bool:
    """An idle connection the server has not closed (nothing to read on it: no end of file),
    checked as httpcore checks its own (poll where there is one: select stops at fd 1024)."""
    sock = connection.sock
    if sock is None:
        return True  # never connected: it connects at its first request
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
