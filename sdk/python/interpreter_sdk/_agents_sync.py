"""AgentRuntimeClient: agents in sessions. GENERATED from _agents_async.py: do not edit.

Agents are deployed with ``interpreter agent launch``; the calls have AgentCore's names and
arguments (``invoke_agent_runtime(agentId=..., payload=..., runtimeSessionId=...)``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import httpx

from interpreter_sdk._agent_models import SESSION_HEADER, AgentInfo, EventParser, payload_bytes
from interpreter_sdk._base import ConnectionConfig, check
from interpreter_sdk._errors import ConnectionError


class AgentRuntimeClient:
    """The service's agents. ``api_url`` / ``api_key`` default to ``INTERPRETER_API_URL`` /
    ``INTERPRETER_API_KEY``."""

    def __init__(self, api_key: str | None = None, api_url: str | None = None) -> None:
        self._config = ConnectionConfig.resolve(api_url, api_key)
        self._http = httpx.Client(**self._config.client_options())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AgentRuntimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def invoke_agent_runtime(
        self,
        agentId: str,
        payload: bytes | str | Any,
        runtimeSessionId: str | None = None,
        envVars: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Invoke agent ``agentId`` (``agent_<name>_v<version>``; ``agent_<name>``: its newest)
        with ``payload`` (JSON: bytes, text, or a value to encode) in the session
        ``runtimeSessionId`` (a new one if None; ``envVars`` are a new session's sandbox's).
        Returns ``runtimeSessionId``, ``contentType`` and ``response``: the JSON answer, or
        for a streamed one an iterator of its events' data, each as it arrives."""
        headers = {"Content-Type": "application/json"}
        if runtimeSessionId is not None:
            headers[SESSION_HEADER] = runtimeSessionId
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("env", f"{k}={v}") for k, v in (envVars or {}).items()
        ]
        if timeout is not None:
            params.append(("timeout", timeout))
        # No read timeout: the agent's own (the service's invocation timeout) bounds the wait.
        wait = httpx.Timeout(self._config.request_timeout, read=None)
        request = self._http.build_request(
            "POST", f"/agents/{agentId}/invocations", content=payload_bytes(payload),
            headers=headers, params=params, timeout=wait,
        )  # fmt: skip
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ConnectionError(f"the invocation failed: {exc}") from exc
        try:
            content_type = response.headers.get("content-type", "")
            if not response.is_success or not content_type.startswith("text/event-stream"):
                response.read()
                answer = {
                    "runtimeSessionId": response.headers.get(SESSION_HEADER),
                    "contentType": content_type,
                    "response": check(response),
                }
                response.close()
                return answer
        except BaseException:
            response.close()
            raise
        return {
            "runtimeSessionId": response.headers.get(SESSION_HEADER),
            "contentType": content_type,
            "response": self._events(response),
        }

    def _events(self, response: httpx.Response) -> Iterator[Any]:
        parser = EventParser()
        try:
            for line in response.iter_lines():
                for item in parser.feed(line):
                    yield item
            for item in parser.feed(""):
                yield item
        except httpx.TransportError as exc:
            raise ConnectionError(f"the agent's stream broke: {exc}") from exc
        finally:
            response.close()

    def list_agent_runtimes(self) -> builtins.list[AgentInfo]:
        return [AgentInfo.of(a) for a in check(self._call("GET", "/agents"))]

    def get_agent_runtime(self, agentId: str) -> AgentInfo:
        return AgentInfo.of(check(self._call("GET", f"/agents/{agentId}")))

    def register_agent_runtime(
        self, name: str, template: str, version: int | None = None
    ) -> AgentInfo:
        """A new version of agent ``name`` served by ``template`` (the next one if None)."""
        body: dict[str, Any] = {"name": name, "template": template}
        if version is not None:
            body["version"] = version
        return AgentInfo.of(check(self._call("POST", "/agents", json=body)))

    def ping_runtime_session(self, agentId: str, runtimeSessionId: str) -> str:
        """The agent's ``/ping`` status in that session: "Healthy" or "HealthyBusy"."""
        url = f"/agents/{agentId}/sessions/{runtimeSessionId}/ping"
        return str(check(self._call("GET", url))["status"])

    def stop_runtime_session(self, agentId: str, runtimeSessionId: str) -> None:
        """End the session: its sandbox is killed."""
        check(self._call("DELETE", f"/agents/{agentId}/sessions/{runtimeSessionId}"))

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionError(f"{method} {url} failed: {exc}") from exc
