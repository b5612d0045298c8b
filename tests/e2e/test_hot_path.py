"""The run route's hot path (interpreter/api/hot_path.py) answers as the FastAPI route does.

Each request goes twice: as ``application/json``, which the hot path serves, and as
``application/vnd.interpreter+json``, which FastAPI parses just the same but the hot path leaves
to the FastAPI route. Both answers must be the same, for runs and for every kind of refusal.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from interpreter_sdk import Sandbox
from tests.conftest import Server

HOT, ROUTED = "application/json", "application/vnd.interpreter+json"


def answer(response: httpx.Response) -> tuple[int, str, Any]:
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/x-ndjson"):
        events = [json.loads(line) for line in response.text.splitlines()]
        for event in events:  # what differs from one run to the next
            event.pop("timestamp", None)
            event.pop("execution_count", None)
            if "traceback" in event:
                event["traceback"] = re.sub(r"In\[\d+\]", "In[n]", event["traceback"])
        return response.status_code, kind, events
    return response.status_code, kind, response.json()


def both(
    server: Server, path: str, body: bytes, headers: dict[str, str] | None = None
) -> list[tuple[int, str, Any]]:
    answers = []
    with server.client() as http:
        for kind in (HOT, ROUTED):
            response = http.post(
                path, content=body, headers={"Content-Type": kind, **(headers or {})}
            )
            answers.append(answer(response))
    return answers


def test_a_run_and_its_refusals_are_answered_alike(sandbox: Sandbox, server: Server) -> None:
    execute = f"/v1/sandboxes/{sandbox.sandbox_id}/execute"
    run = json.dumps({"code": "print('out')\n6 * 7"}).encode()
    ran, routed = both(server, execute, run)
    assert ran == routed
    status, _, events = ran
    assert status == 200
    assert [e["type"] for e in events] == ["execution_count", "stdout", "result", "end"]
    assert events[2]["text"] == "42"

    failing = json.dumps({"code": "1 / 0"}).encode()
    ran, routed = both(server, execute, failing)
    assert ran == routed and ran[2][1]["type"] == "error"

    refusals: list[tuple[str, bytes, dict[str, str], int]] = [
        ("/v1/sandboxes/nope/execute", run, {}, 404),  # no such sandbox
        (execute, run, {"X-API-Key": "wrong"}, 401),
        (execute, run, {"X-API-Key": ""}, 401),
        (execute, b'{"code": "1", "language": "python", "context_id": "x"}', {}, 400),
        (execute, b'{"code": "1", "context_id": "nope"}', {}, 404),
        (execute, b'{"code": "1", "language": "cobol"}', {}, 400),
        (execute, b'{"code": "1", "unknown": 1}', {}, 422),  # extra field
        (execute, b'{"code": "1", "timeout": -1}', {}, 422),
        (execute, b'{"code": 1}', {}, 422),
        (execute, b"[1]", {}, 422),
        (execute, b"{not json", {}, 422),
        (execute, b'{"code": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, 400),  # too deep
        (execute, b"", {}, 422),
        (execute, b'{"code": "\\ud800"}', {}, 400),  # a lone surrogate
        (execute, b'{"code": "1", "envs": {"A": "\\ud800"}}', {}, 400),
    ]
    for path, body, headers, status in refusals:
        ran, routed = both(server, path, body, headers)
        assert ran == routed, (path, body)
        assert ran[0] == status, (path, body, ran)
        assert ran[2]["error"]["message"], ran
    assert sandbox.run_code("1 + 1").text == "2"  # nothing half-done by the refusals


@pytest.mark.parametrize("kind", [HOT, ROUTED])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused(
    sandbox: Sandbox, server: Server, kind: str, chunked: bool
) -> None:
    big = b'{"code": "' + b"x" * (17 << 20) + b'"}'  # over INTERPRETER_MAX_BODY_MB's 16
    content = (big[i : i + (1 << 20)] for i in range(0, len(big), 1 << 20)) if chunked else big
    with server.client() as http:
        response = http.post(
            f"/v1/sandboxes/{sandbox.sandbox_id}/execute",
            content=content,
            headers={"Content-Type": kind},
        )
    assert response.status_code == 413
    assert "INTERPRETER_MAX_BODY_MB" in response.json()["error"]["message"]


def test_what_the_hot_path_leaves_to_the_app_is_run_alike(sandbox: Sandbox, server: Server) -> None:
    """The hot path takes only what the guard and the E2B router would let through untouched;
    a chunked body, an E2B sandbox header on the native route, a second Content-Type go on to
    them and to the FastAPI route, and run the same."""
    execute = f"/v1/sandboxes/{sandbox.sandbox_id}/execute"
    run = json.dumps({"code": "print('out')\n6 * 7"}).encode()
    with server.client() as http:
        hot = answer(http.post(execute, content=run, headers={"Content-Type": HOT}))
        assert hot[0] == 200 and hot[2][2]["text"] == "42", hot
        variants: list[tuple[Any, list[tuple[str, str]]]] = [
            (iter([run[:5], run[5:]]), [("Content-Type", HOT)]),  # chunked
            (run, [("Content-Type", HOT), ("E2b-Sandbox-Id", "elsewhere")]),  # control plane
            (run, [("Content-Type", f"{HOT}; charset=utf-8")]),  # the hot path's too
            (run, [("Content-Type", HOT), ("Content-Type", HOT)]),
        ]
        for content, headers in variants:
            sent = httpx.Headers([("X-API-Key", server.api_key), *headers])
            response = http.post(execute, content=content, headers=sent)
            assert answer(response) == hot, headers
        # A wrong key with a body over the bound: refused on the headers, the body unread.
        big = b'{"code": "' + b"x" * (17 << 20) + b'"}'
        response = http.post(
            execute, content=big, headers={"Content-Type": HOT, "X-API-Key": "wrong"}
        )
        assert response.status_code == 401, response.text
