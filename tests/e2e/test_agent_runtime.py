"""The agent runtime through the real server: an agent project configured and launched twice
by the CLI (templates agent-<name>-v1 and -v2, built once for the module), then invoked in
sessions through the SDK's AgentRuntimeClient, the HTTP API and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(600)

NAME = f"echo-{RUN_ID}"
AGENT = """\
import asyncio
import time

from interpreter_sdk.agent_runtime import AgentRuntimeApp, PingStatus

app = AgentRuntimeApp()
VERSION = "{version}"
count = 0
busy = False


def chunks(n, delay):
    for i in range(n):
        time.sleep(delay)
        yield {{"i": i, "at": time.time()}}


async def async_chunks(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        yield {{"i": i, "at": time.time()}}


async def later(payload):
    await asyncio.sleep(0.1)
    return {{"async": True, "echo": payload}}


@app.entrypoint
def invoke(payload, context):
    global count, busy
    action = payload.get("action")
    if action == "count":
        count += 1
        return {{"count": count, "version": VERSION, "session": context.session_id}}
    if action == "stream":
        return chunks(payload.get("n", 3), payload.get("delay", 1.0))
    if action == "astream":
        return async_chunks(payload.get("n", 3), payload.get("delay", 1.0))
    if action == "async":
        return later(payload)
    if action == "fail":
        raise ValueError("boom from the agent")
    if action == "hang":
        time.sleep(payload["seconds"])
        return {{"woke": True}}
    if action == "busy":
        busy = bool(payload["on"])
        return {{"busy": busy}}
    return {{"version": VERSION, "echo": payload}}


@app.ping
def ping():
    return PingStatus.HEALTHY_BUSY if busy else PingStatus.HEALTHY


if __name__ == "__main__":
    app.run()
"""


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "interpreter.cli", "agent", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=os.environ, timeout=500,
    )  # fmt: skip
    if check:
        assert run.returncode == 0, run.stderr[-3000:]
    return run


def launch(folder: Path, version: str) -> str:
    (folder / "agent.py").write_text(AGENT.format(version=version))
    cli("configure", "--path", str(folder), "--name", NAME)
    return cli("launch", "--path", str(folder), "--quiet").stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def agents(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from interpreter_sdk import AgentRuntimeClient, Sandbox, Templates

    folder = tmp_path_factory.mktemp("agent")
    (folder / "helpers.py").write_text("HELP = 1\n")
    started = time.monotonic()
    v1 = launch(folder, "v1")
    v1_seconds = time.monotonic() - started
    v2 = launch(folder, "v2")
    with AgentRuntimeClient() as client:
        yield {"v1": v1, "v2": v2, "folder": folder, "client": client, "seconds": v1_seconds}
    for info in Sandbox.list():
        if info.metadata.get("interpreter.agent", "").startswith(f"agent_{NAME}_"):
            sbx = Sandbox.connect(info.id)
            sbx.kill()
    with Templates() as templates:
        for template in templates.list():
            if template.name.startswith(f"agent-{NAME}-"):
                templates.delete(template.name)


def test_configure_and_launch_register_versions(agents: dict[str, Any]) -> None:
    assert (agents["v1"], agents["v2"]) == (f"agent_{NAME}_v1", f"agent_{NAME}_v2")
    folder: Path = agents["folder"]
    config = (folder / ".interpreter-agent.yaml").read_text()
    assert 'entrypoint: "agent.py"' in config and f'agent_id: "agent_{NAME}_v2"' in config
    assert "dependencies: null" in config
    dockerfile = (folder / ".interpreter-agent" / "Dockerfile").read_text()
    assert "FROM code-interpreter" in dockerfile and 'CMD ["python3", "agent.py"]' in dockerfile
    listed = cli("list").stdout
    assert agents["v1"] in listed and agents["v2"] in listed and f"agent-{NAME}-v2" in listed
    print(f"\nconfigure + launch of v1 (a template build): {agents['seconds']:.1f} s")


def test_configure_without_an_entrypoint_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text("print('not an agent')\n")
    run = cli("configure", "--path", str(tmp_path), check=False)
    assert run.returncode == 1
    assert "tool.py" in run.stderr and "AgentRuntimeApp" in run.stderr
    assert "@app.entrypoint" in run.stderr
    assert not (tmp_path / ".interpreter-agent.yaml").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    run = cli("configure", "--path", str(empty), check=False)
    assert run.returncode == 1 and "no .py files" in run.stderr


def invoke(agents: dict[str, Any], payload: Any, session: str | None, agent: str = "v1") -> Any:
    return agents["client"].invoke_agent_runtime(
        agentId=agents[agent] if agent in ("v1", "v2") else agent,
        payload=payload,
        runtimeSessionId=session,
    )


def test_module_state_is_kept_per_session(agents: dict[str, Any]) -> None:
    a, b = f"session-a-{uuid.uuid4()}", f"session-b-{uuid.uuid4()}"
    first = invoke(agents, {"action": "count"}, a)
    assert first["runtimeSessionId"] == a and first["contentType"] == "application/json"
    assert first["response"] == {"count": 1, "version": "v1", "session": a}
    assert invoke(agents, {"action": "count"}, a)["response"]["count"] == 2
    assert invoke(agents, {"action": "count"}, b)["response"]["count"] == 1
    fresh = invoke(agents, {"action": "count"}, None)  # no id: a new session, named for us
    assert fresh["response"]["count"] == 1 and fresh["runtimeSessionId"]
    assert fresh["response"]["session"] == fresh["runtimeSessionId"]


@pytest.mark.parametrize("action", ["stream", "astream"])
def test_a_generator_streams_chunks_before_it_ends(agents: dict[str, Any], action: str) -> None:
    started = time.time()
    answer = invoke(agents, {"action": action, "n": 3, "delay": 1.0}, f"stream-{uuid.uuid4()}")
    assert answer["contentType"].startswith("text/event-stream")
    arrivals, chunks = [], []
    for chunk in answer["response"]:
        arrivals.append(time.time())
        chunks.append(chunk)
    assert [c["i"] for c in chunks] == [0, 1, 2]
    # The first chunk came about a second after it was made, not after the last one was.
    assert arrivals[0] < chunks[-1]["at"] - 1.5, (started, arrivals, chunks)
    assert arrivals[0] - chunks[0]["at"] < 1.0


def test_an_async_entrypoint_answers(agents: dict[str, Any]) -> None:
    answer = invoke(agents, {"action": "async", "x": 1}, None)
    assert answer["response"] == {"async": True, "echo": {"action": "async", "x": 1}}


def test_a_failing_entrypoint_is_a_clear_error_with_its_traceback(agents: dict[str, Any]) -> None:
    from interpreter_sdk import ServerError

    with pytest.raises(ServerError) as caught:
        invoke(agents, {"action": "fail"}, f"fail-{uuid.uuid4()}")
    message = str(caught.value)
    assert caught.value.status_code == 500 and "AgentEntrypointError" in message
    assert "ValueError: boom from the agent" in message
    assert "Traceback (most recent call last)" in message and "agent.py" in message


def test_ping_reports_healthy_busy(agents: dict[str, Any]) -> None:
    session = f"ping-{uuid.uuid4()}"
    client = agents["client"]
    invoke(agents, {"action": "busy", "on": True}, session)
    assert client.ping_runtime_session(agents["v1"], session) == "HealthyBusy"
    invoke(agents, {"action": "busy", "on": False}, session)
    assert client.ping_runtime_session(agents["v1"], session) == "Healthy"


def test_versions_are_invoked_side_by_side(agents: dict[str, Any]) -> None:
    session = f"versions-{uuid.uuid4()}"
    answers: dict[str, Any] = {}

    def call(version: str) -> None:
        answers[version] = invoke(agents, {"action": "count"}, session, version)["response"]

    threads = [threading.Thread(target=call, args=(v,)) for v in ("v1", "v2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers["v1"] == {"count": 1, "version": "v1", "session": session}
    assert answers["v2"] == {"count": 1, "version": "v2", "session": session}
    newest = invoke(agents, {"action": "echo"}, None, f"agent_{NAME}")["response"]
    assert newest["version"] == "v2"


def test_unknown_agents_and_versions_are_404(agents: dict[str, Any]) -> None:
    from interpreter_sdk import NotFoundError

    for agent_id in (f"agent_{NAME}_v9", "agent_nobody_v1", "not-an-agent-id"):
        with pytest.raises(NotFoundError) as caught:
            invoke(agents, {}, None, agent_id)
        assert caught.value.status_code == 404
    with pytest.raises(NotFoundError, match="versions: 1, 2"):
        invoke(agents, {}, None, f"agent_{NAME}_v9")


def test_a_payload_over_the_limit_is_413_and_not_json_is_400(agents: dict[str, Any]) -> None:
    from interpreter_sdk import InvalidRequestError

    big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
    with pytest.raises(InvalidRequestError) as caught:
        invoke(agents, big, None)
    assert caught.value.status_code == 413 and "1 MiB" in str(caught.value)
    with pytest.raises(InvalidRequestError) as caught:
        invoke(agents, b"not json", None)
    assert caught.value.status_code == 400


def test_an_entrypoint_that_never_answers_times_out_and_its_session_goes_on(
    agents: dict[str, Any],
) -> None:
    from interpreter_sdk import ExecutionTimeoutError

    session = f"hang-{uuid.uuid4()}"
    assert invoke(agents, {"action": "count"}, session)["response"]["count"] == 1
    started = time.monotonic()
    with pytest.raises(ExecutionTimeoutError) as caught:
        agents["client"].invoke_agent_runtime(
            agentId=agents["v1"], payload={"action": "hang", "seconds": 60},
            runtimeSessionId=session, timeout=2,
        )  # fmt: skip
    assert caught.value.status_code == 504 and "did not answer within 2 s" in str(caught.value)
    assert time.monotonic() - started < 10
    # The same sandbox answers next (its module state shows it).
    assert invoke(agents, {"action": "count"}, session)["response"]["count"] == 2


def test_ending_a_session_kills_its_sandbox(agents: dict[str, Any], server: Server) -> None:
    from interpreter_sdk import NotFoundError

    session = f"end-{uuid.uuid4()}"
    invoke(agents, {"action": "count"}, session)
    with server.client() as http:
        info = http.get(f"/v1/agents/{agents['v1']}/sessions/{session}").json()
        sandbox_id = info["sandbox_id"]
        assert http.get(f"/v1/sandboxes/{sandbox_id}").json()["metadata"] == {
            "interpreter.agent": agents["v1"], "interpreter.agent_session": session,
        }  # fmt: skip
        agents["client"].stop_runtime_session(agents["v1"], session)
        assert http.get(f"/v1/sandboxes/{sandbox_id}").status_code == 404
    with pytest.raises(NotFoundError):
        agents["client"].stop_runtime_session(agents["v1"], session)
    assert invoke(agents, {"action": "count"}, session)["response"]["count"] == 1


def test_the_http_api_takes_agentcores_session_header(
    agents: dict[str, Any], server: Server
) -> None:
    session = f"agentcore-{uuid.uuid4()}"
    header = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
    with server.client() as http:
        url = f"/v1/agents/{agents['v1']}/invocations"
        first = http.post(url, json={"action": "count"}, headers={header: session})
        assert first.status_code == 200, first.text
        assert first.headers[header] == first.headers["X-Interpreter-Session-Id"] == session
        again = http.post(
            url, json={"action": "count"}, headers={"X-Interpreter-Session-Id": session}
        )
        assert again.json()["count"] == 2
        listed = http.get("/v1/agents").json()
        assert {a["id"] for a in listed} >= {agents["v1"], agents["v2"]}
        assert http.post("/v1/agents", json={"name": NAME, "template": f"agent-{NAME}-v1",
                                             "version": 1}).status_code == 409  # fmt: skip


def test_the_async_client_and_the_cli_invoke(agents: dict[str, Any]) -> None:
    from interpreter_sdk import AsyncAgentRuntimeClient

    async def main() -> list[Any]:
        async with AsyncAgentRuntimeClient() as client:
            answer = await client.invoke_agent_runtime(
                agentId=agents["v2"], payload={"action": "astream", "n": 2, "delay": 0.1}
            )
            return [chunk async for chunk in answer["response"]]

    assert [c["i"] for c in asyncio.run(main())] == [0, 1]
    run = cli("invoke", agents["v1"], '{"action": "stream", "n": 2, "delay": 0.1}')
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2 and '"i": 1' in lines[1] and "session " in run.stderr
    run = cli("invoke", '{"action": "count"}', "--path", str(agents["folder"]))  # the last: v2
    assert '"version": "v2"' in run.stdout


def test_a_missing_session_is_404_through_http(agents: dict[str, Any], server: Server) -> None:
    with server.client() as http:
        answer = http.delete(f"/v1/agents/{agents['v1']}/sessions/nobody")
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "AgentSessionNotFoundError"
        assert http.get("/v1/agents/agent_nobody").status_code == 404


JS_CLIENT = """
import { AgentRuntimeClient } from './dist/index.js'
const client = new AgentRuntimeClient()
const session = 'js-' + Date.now()
const first = await client.invokeAgentRuntime(process.env.AGENT_ID, { action: 'count' },
  { runtimeSessionId: session })
const second = await client.invokeAgentRuntime(process.env.AGENT_ID, { action: 'count' },
  { runtimeSessionId: session })
const stream = await client.invokeAgentRuntime(process.env.AGENT_ID,
  { action: 'astream', n: 2, delay: 0.1 })
const chunks = []
for await (const chunk of stream.response) chunks.push(chunk.i)
let failed = ''
try { await client.invokeAgentRuntime(process.env.AGENT_ID, { action: 'fail' }) }
catch (err) { failed = err.constructor.name + ' ' + err.statusCode }
await client.stopRuntimeSession(process.env.AGENT_ID, session)
console.log(JSON.stringify({ first: first.response.count, second: second.response.count,
  session: first.runtimeSessionId === session, chunks, failed }))
"""


def test_the_js_client_invokes(agents: dict[str, Any]) -> None:
    js = Path(__file__).resolve().parents[2] / "sdk" / "js"
    if not (js / "dist" / "index.js").is_file():
        pytest.skip("run scripts/setup.sh (builds sdk/js)")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "node"), "--input-type=module", "-e", JS_CLIENT],
        cwd=js, env={**os.environ, "AGENT_ID": agents["v1"]}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "first": 1, "second": 2, "session": True, "chunks": [0, 1], "failed": "ServerError 500",
    }  # fmt: skip
