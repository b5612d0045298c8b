"""A sandbox as a Jupyter Kernel Gateway (issue 16, item 5): a Jupyter client lists its contexts
as running kernels, executes in one (jupyter_client's Session builds the messages) and sees the
variables the SDK's run_code made; its cell shows up in the notebook view."""

from __future__ import annotations

import json
from typing import Any

import httpx
from jupyter_client.session import Session
from websockets.sync.client import connect

from interpreter_sdk import Sandbox
from tests.conftest import Server


def jupyter(server: Server, sandbox_id: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/jupyter/{sandbox_id}",
        headers={"Authorization": f"token {server.api_key}"},
        timeout=60,
    )


def execute(url: str, code: str) -> list[dict[str, Any]]:
    """Run code over the kernel's websocket; the iopub messages that answered it."""
    session = Session(key=b"", username="test")
    request = session.msg("execute_request", {"code": code, "silent": False, "store_history": True})
    request["channel"] = "shell"
    answers = []
    with connect(url, open_timeout=60) as ws:
        ws.send(json.dumps(request, default=str))
        while True:
            msg = json.loads(ws.recv(timeout=60))
            if msg["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                continue
            answers.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return answers


def test_a_jupyter_client_sees_the_sdks_variables_and_its_cell_is_in_the_view(
    server: Server, sandbox: Sandbox
) -> None:
    sandbox.run_code("shared = {'made by': 'the SDK'}")
    with jupyter(server, sandbox.sandbox_id) as client:
        assert client.get("/api").status_code == 200
        specs = client.get("/api/kernelspecs").json()
        assert "python3" in specs["kernelspecs"]
        kernels = client.get("/api/kernels").json()  # the sandbox's contexts, running
        (python,) = [k for k in kernels if k["name"] == "python3"]
        kernel_id = python["id"]
        (context,) = [c for c in sandbox.list_code_contexts() if c.language == "python"]

    base = server.url.replace("http://", "ws://")
    url = f"{base}/jupyter/{sandbox.sandbox_id}/api/kernels/{kernel_id}/channels"
    answers = execute(f"{url}?token={server.api_key}", "print(shared['made by'])")
    streams = [m["content"]["text"] for m in answers if m["msg_type"] == "stream"]
    assert streams == ["the SDK\n"]

    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.api_key}) as api:
        cells = api.get(f"/v1/sandboxes/{sandbox.sandbox_id}/cells").json()
    assert cells[-1]["code"] == "print(shared['made by'])"
    assert cells[-1]["context_id"] == context.id
    assert cells[-1]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "the SDK\n"}
    ]

    with jupyter(server, sandbox.sandbox_id) as client:
        # The context's kernel is the service's: removed through the API only; a restart is
        # the service's (the context set up again), and answers the kernel as Jupyter does.
        assert client.delete(f"/api/kernels/{kernel_id}").status_code == 409
        restarted = client.post(f"/api/kernels/{kernel_id}/restart")
        assert restarted.status_code == 200 and restarted.json()["id"] == kernel_id
    assert sandbox.run_code("'shared' in globals()").text == "False"
    assert sandbox.run_code("import os; os.getcwd()").text == "/home/user"


def test_the_token_is_required_and_only_the_gateway_protocol_is_passed(
    server: Server, sandbox: Sandbox
) -> None:
    with httpx.Client(base_url=f"{server.url}/jupyter/{sandbox.sandbox_id}") as client:
        assert client.get("/api/kernels").status_code == 401
        assert client.get("/api/kernels", params={"token": "wrong"}).status_code == 401
        assert client.get("/api/kernels", params={"token": server.api_key}).status_code == 200
    with jupyter(server, sandbox.sandbox_id) as client:
        assert client.get("/api/contents").status_code == 404  # not a Jupyter server's files
        assert client.get("/api/kernels/..%2F..%2Fcontents").status_code == 404
    with jupyter(server, "no-such-sandbox") as client:
        assert client.get("/api/kernels").status_code == 404
