"""run_code's exchange for AsyncSandbox: the NDJSON lines of ``POST /execute``, over httpx.

The blocking twin, ``_runs_sync``, makes the same exchange over the standard library's
http.client (see there why); not generated from this one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from interpreter_sdk import _base


class Runs:
    """The runs of one sandbox."""

    def __init__(self, http: httpx.AsyncClient, config: _base.ConnectionConfig, path: str) -> None:
        self._http, self._config = http, config
        # Built once: httpx parses a relative URL and merges it into the base one at every
        # request (~14% of the SDK's CPU per run_code).
        self._url = http.base_url.join(path.lstrip("/"))

    async def lines(self, body: dict[str, Any], timeout: float | None) -> AsyncGenerator[str, None]:
        """The answer's lines; the SDK's errors (a refusal, a lost connection, a timeout)."""
        try:
            async with self._http.stream(
                "POST", self._url, json=body, timeout=_base.stream_timeout(self._config, timeout)
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
