"""The OpenAPI document tells the truth about errors: schemathesis, a schema-driven fuzzer, sends
valid and invalid requests to every operation of the real server's /openapi.json (with the API
key) and every status that comes back must be documented for that operation; no 5xx comes back
without the JSON error body. Bounded: a few examples per operation and mode, a time budget; the
sandboxes it creates are killed afterwards."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

from ..conftest import Server

EXAMPLES = 8  # per operation and generation mode
BUDGET = 90.0  # seconds for the whole walk


def json_error_on_5xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 5xx must carry an error body: ``{"error": {...}}`` (native) or ``{"code", "message"}``."""
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} with a non-JSON body: {response.content[:200]!r}"
        ) from None
    assert isinstance(body, dict) and ("error" in body or "message" in body), body
    return True


@pytest.fixture
def own_sandboxes(server: Server) -> Any:
    """Remove what the fuzzer created (sandboxes, webhooks and templates that were not there
    before; a template once its build ended)."""
    with server.client() as client:
        before = {s["id"] for s in client.get("/v1/sandboxes").json()}
        templates = {t["name"] for t in client.get("/v1/templates").json()}
        webhooks = {w["id"] for w in client.get("/v1/webhooks").json()}
    yield
    with server.client() as client:
        for webhook in client.get("/v1/webhooks").json():  # else they get the session's events
            if webhook["id"] not in webhooks:
                client.delete(f"/v1/webhooks/{webhook['id']}")
        for sandbox in client.get("/v1/sandboxes").json():
            if sandbox["id"] not in before:
                client.delete(f"/v1/sandboxes/{sandbox['id']}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            made = [t for t in client.get("/v1/templates").json() if t["name"] not in templates]
            for template in made:
                if template["status"] != "building":
                    client.delete(f"/v1/templates/{template['name']}")
            if all(t["status"] != "building" for t in made):
                break
            time.sleep(1)


@pytest.mark.timeout(240)
def test_every_status_is_documented(server: Server, own_sandboxes: None) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"X-API-Key": server.api_key}
    checks = [status_code_conformance, json_error_on_5xx]
    failures: list[str] = []
    seen: set[int] = set()
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() - started > BUDGET:
                break

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def probe(case: Any) -> None:
                response = case.call(base_url=server.url, headers=headers, timeout=60)
                seen.add(response.status_code)
                case.validate_response(response, checks=checks, headers=headers)

            try:
                probe()
            except Unsatisfiable:
                pass  # no invalid request can be made for this operation (e.g. no parameters)
            except httpx.HTTPError as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
            except Exception as exc:  # noqa: BLE001 - collected: one report for all operations
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
        operations += 1
    assert operations > 30  # the walk reached every operation
    assert {200, 404, 422} <= seen, seen  # and got answers and errors from them
    assert not failures, "\n\n".join(failures)
