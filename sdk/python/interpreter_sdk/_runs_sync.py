"""run_code's exchange for the blocking Sandbox: the NDJSON lines of ``POST /execute``, over the
standard library's http.client.

httpx's HTTP/1.1 (h11 and httpcore, both in Python) costs ~1 ms of CPU and wall time more per
``run_code('1+1')`` than http.client on a 2-core machine (BENCHMARKS.md, "Fifth pass"), and
run_code is the one call whose latency is a goal of this project. So the blocking SDK keeps a few
http.client connections of its own for it; every other call, and runs that go through a proxy
(``HTTP(S)_PROXY``: httpx follows them, http.client does not), stay on httpx. A kept connection
is checked before it is used again: one the server closed while it was idle is dropped, as
httpcore drops it. The asyncio twin, ``_runs_async``, is httpx's stream.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import urllib.parse
import urllib.request
from collections.abc import Generator
from typing import Any

import httpx

from interpreter_sdk import _base

MAX_IDLE = 8  # connections kept for runs in parallel threads
MAX_ERROR_BODY = 1 << 20  # an error answer is a small JSON document


class Runs:
    """The runs of one sandbox (thread-safe, as an httpx client is)."""

    def __init__(self, http: httpx.Client, config: _base.ConnectionConfig, path: str) -> None:
        self._http, self._config = http, config
        self._url = http.base_url.join(path.lstrip("/"))
        self._direct = Connections(self._url, config) if _unproxied(self._url) else None

    def lines(self, body: dict[str, Any], timeout: float | None) -> Generator[str, None, None]:
        """The answer's lines; the SDK's errors (a refusal, a lost connection, a timeout)."""
        if self._direct is not None:
            yield from self._direct.post_lines(body, timeout)
            return
        try:
            with self._http.stream(
                "POST", self._url, json=body, timeout=_base.stream_timeout(self._config, timeout)
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


def _unproxied(url: httpx.URL) -> bool:
    """Whether httpx would connect to ``url`` directly (no proxy variable applies to it)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(url.host))


class Connections:
    """Kept http.client connections to one URL, each used by one run at a time."""

    def __init__(self, url: httpx.URL, config: _base.ConnectionConfig) -> None:
        parts = urllib.parse.urlsplit(str(url))
        self._https = parts.scheme == "https"
        # The port always given: http.client would read an IPv6 address's last ':' as one.
        self._address = (parts.hostname or "", parts.port or (443 if self._https else 80))
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._headers = {"X-API-Key": config.api_key, "Content-Type": "application/json"}
        self._connect_timeout = config.request_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post_lines(self, body: dict[str, Any], timeout: float | None) -> Generator[str, None, None]:
        connection = self._take()
        kept = False
        try:
            try:
                connection.request("POST", self._target, _encoded(body), self._headers)
            except (OSError, http.client.HTTPException) as exc:  # connecting, sending
                raise _base.map_transport_error(exc, None) from exc
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
            if kept:
                self._give_back(connection)
            else:  # cut short (a handler raised, the server said close): not reusable
                connection.close()

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

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
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
