"""run_code's exchange for AsyncSandbox, over httpx: the NDJSON lines of ``POST /execute``, and
the create whose connection the first run takes.

The blocking twin, ``_runs_sync``, makes the same exchanges over sockets of its
own parsed by httptools (see there why); not generated from this one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from interpreter_sdk import _base


class Runs:
    """A sandbox's runs, and the create that made it (the create's connection is then the
    first run's)."""

    def __init__(self, http: httpx.AsyncClient, config: _base.ConnectionConfig) -> None:
        self._http, self._config = http, config

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
        (``socket``, the run socket's URL, is the blocking twin's: these runs are httpx's.)"""
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
        """Nothing of its own: its connections are the sandbox's client's."""
