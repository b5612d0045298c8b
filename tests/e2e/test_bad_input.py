"""Bad input and misbehaving code (issue #2)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from interpreter_sdk import AuthenticationError, ExecutionTimeoutError, NotFoundError, Sandbox

from ..conftest import Server


def test_unknown_sandbox_is_404_json(server: Server) -> None:
    with server.client() as http:
        response = http.get("/v1/sandboxes/nope")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "SandboxNotFoundError"
        assert "nope" in response.json()["error"]["message"]
        response = http.post("/v1/sandboxes/nope/execute", json={"code": "1"})
        assert response.status_code == 404
    with pytest.raises(NotFoundError):
        Sandbox.connect("nope")


def test_invalid_body_is_422(server: Server) -> None:
    with server.client() as http:
        response = http.post("/v1/sandboxes", json={"timeout": "soon", "bogus": 1})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["type"] == "ValidationError"
        assert "timeout" in error["message"] and "bogus" in error["message"]
        response = http.post(
            "/v1/sandboxes", content=b"{not", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        # A quota below 1 ms per second would be 0: unlimited for nsjail, EINVAL for a restore.
        response = http.post("/v1/sandboxes", json={"cpu": 0.001})
        assert response.status_code == 422 and "cpu" in response.json()["error"]["message"]


def test_unknown_template_is_404(server: Server) -> None:
    with server.client() as http:
        response = http.post("/v1/sandboxes", json={"template": "no-such-template"})
        assert response.status_code == 404
        assert "no-such-template" in response.json()["error"]["message"]


def test_missing_or_wrong_api_key_is_401(server: Server) -> None:
    assert httpx.get(server.url + "/health").status_code == 200
    response = httpx.get(server.url + "/v1/sandboxes")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "missing X-API-Key header"
    response = httpx.get(server.url + "/v1/sandboxes", headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
    with pytest.raises(AuthenticationError):
        Sandbox.list(api_key="wrong")


def test_unknown_language_is_400(sandbox: Sandbox, server: Server) -> None:
    with server.client() as http:
        response = http.post(
            f"/v1/sandboxes/{sandbox.sandbox_id}/execute", json={"code": "1", "language": "cobol"}
        )
        assert response.status_code == 400
        assert "python" in response.json()["error"]["message"]


@pytest.mark.parametrize("name", ["A=B", "1ST", "a-b", "", "x y"])
def test_bad_env_names_are_400_for_sandbox_run_and_command(
    sandbox: Sandbox, server: Server, name: str
) -> None:
    sid = sandbox.sandbox_id
    with server.client() as http:
        requests = [
            ("/v1/sandboxes", {"envs": {name: "x"}}),
            (f"/v1/sandboxes/{sid}/execute", {"code": "1", "envs": {name: "x"}}),
            (f"/v1/sandboxes/{sid}/commands", {"cmd": "true", "envs": {name: "x"}}),
        ]
        for path, body in requests:
            response = http.post(path, json=body)
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["type"] == "InvalidRequestError"
            assert repr(name) in error["message"], error["message"]
        response = http.post(
            f"/v1/sandboxes/{sid}/execute", json={"code": "1", "envs": {"OK": "a\u0000b"}}
        )
        assert response.status_code == 400 and "NUL" in response.text
        # A lone surrogate (JSON's "\ud800"): no process environment can hold it...
        for path, body in (
            ("/v1/sandboxes", {"envs": {"OK": "a\ud800"}}),
            (f"/v1/sandboxes/{sid}/execute", {"code": "1", "envs": {"OK": "a\ud800"}}),
            # Nor can a kernel take it as code: it never answered such a run.
            (f"/v1/sandboxes/{sid}/execute", {"code": "'\ud800'"}),
        ):
            response = http.post(
                path, content=json.dumps(body), headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, (path, response.text)
            assert "not valid Unicode" in response.json()["error"]["message"]
    assert sandbox.run_code("1 + 1").text == "2"  # nothing half-applied


def test_kernel_death_is_reported_and_the_context_recovers(sandbox: Sandbox) -> None:
    sandbox.run_code("before = 1")
    execution = sandbox.run_code("import os\nos._exit(1)")
    assert execution.error is not None
    assert execution.error.name == "KernelDiedError"
    assert "died" in execution.error.value
    after = sandbox.run_code("'before' in globals(), 1 + 1")
    assert after.error is None
    assert after.text == "(False, 2)"


def test_timeout_interrupts_and_the_next_run_works(sandbox: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(ExecutionTimeoutError):
        sandbox.run_code("while True: pass", timeout=2)
    assert time.monotonic() - started < 10
    execution = sandbox.run_code("'alive'")
    assert execution.text == "alive"


def test_client_disconnect_interrupts_the_kernel(sandbox: Sandbox, server: Server) -> None:
    with server.client() as http:
        with http.stream(
            "POST",
            f"/v1/sandboxes/{sandbox.sandbox_id}/execute",
            json={"code": "import time\nprint('started', flush=True)\ntime.sleep(60)"},
        ) as response:
            for line in response.iter_lines():
                if json.loads(line).get("type") == "stdout":
                    break  # leave mid-execution
    started = time.monotonic()
    execution = sandbox.run_code("'next'", timeout=30)
    assert execution.text == "next"
    assert time.monotonic() - started < 20, "the abandoned cell must have been interrupted"


def test_a_50_mb_output_is_truncated_with_a_marker(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * (1024 * 1024))", timeout=120
    )
    text = "".join(execution.logs.stdout)
    assert (
        "output truncated" in text
        or "IOPub data rate exceeded" in "".join(execution.logs.stderr) + text
    )
    assert len(text) < 20 * 2**20
    assert sandbox.run_code("1 + 1").text == "2"


def test_invalid_utf8_becomes_replacement_characters(sandbox: Sandbox) -> None:
    # Python: undecodable bytes reach stdout as surrogate escapes.
    execution = sandbox.run_code("print(b'ok \\xff\\xfe end'.decode('utf-8', 'surrogateescape'))")
    assert execution.logs.stdout == ["ok \ufffd\ufffd end\n"]
    # Bash: raw bytes on a terminal.
    execution = sandbox.run_code("printf 'ok \\xff end\\n'", language="bash")
    text = "".join(execution.logs.stdout)
    assert text.startswith("ok ") and text.rstrip().endswith("end") and "\ufffd" in text
