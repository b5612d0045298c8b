"""run_code's exchange for AsyncSandbox: the create and the first run over httpx (the NDJSON
lines of ``POST /execute`` on the create's kept connection), the runs after it over websockets
(``_run_sockets_async``) unless httpx would go through a proxy or send a login in the URL.

The blocking twin, ``_runs_sync``, makes the same exchanges over sockets of its
own parsed by httptools (see there why); not generated from this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from interpreter_sdk import _base, _run_sockets_async


class Runs:
    """A sandbox's runs, and the create that made it (the create's connection is then the
    first run's)."""

    def __init__(self, http: httpx.AsyncClient, config: _base.ConnectionConfig) -> None:
        self._http, self._config = http, config
        direct = _base.direct(http.base_url)  # else httpx's to send: a proxy, a login
        self._sockets = _run_sockets_async.RunSockets(config) if direct else None
        self._first = True

    def url(self, path: str) -> httpx.URL:
        """A route's URL, built once: httpx parses a relative URL and merges it into the base
        one at every request (~14% of the SDK's CPU per run_code)."""
        return self._http.base_url.join(path.lstrip("/"))

    async def create(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """``POST /sandboxes``: its decoded answer, waited for as long as the create takes."""
        try:
            response = await self._http.post("/sandboxes", json=body, headers=headers, timeout=None)
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, None) from exc
        return _base.check(response)

    async def lines(
        self,
        url: httpx.URL,
        body: dict[str, Any],
        timeout: float | None,
        socket: httpx.URL | None = None,
    ) -> AsyncGenerator[str, None]:
        """The answer's lines; the SDK's errors (a refusal, a lost connection, a timeout).
        ``socket``: the run socket's URL, to take the run instead of ``url``."""
        sockets = self._sockets
        if sockets is not None and socket is not None and not sockets.refused:
            if not self._first:
                lines = await sockets.lines(socket, body, timeout)
                if lines is not None:
                    async with contextlib.aclosing(lines):
                        async for line in lines:
                            yield line
                    return
            self._first = False
        try:
            async with self._http.stream(
                "POST", url, json=body, timeout=_base.stream_timeout(self._config, timeout)
            ) as response:
                if not response.is_success:
                    await response.aread()
                    _base.check(response)
                async for line in response.aiter_lines():
                    yield line
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, timeout) from exc

    async def aclose(self) -> None:
        """Its run sockets (its HTTP connections are the sandbox's client's)."""
        if self._sockets is not None:
            self._sockets.close()
