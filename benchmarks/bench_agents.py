"""Issue 18 figures: an agent's invocations, a new session's first and a follow-up, beside a
plain create + run_code from the same template, same run.

    .venv/bin/python benchmarks/bench_agents.py [--sessions 10]

The agent is the tests' (tests/e2e/test_agent_runtime.py), configured and launched by the CLI
into a fresh state folder. A new session's first invocation creates its sandbox from the
agent's template (restored from its snapshot: no pool) and calls the entrypoint (a counter);
the follow-up calls it again in the same sandbox. The baseline, rotated with them: a
``Sandbox.create`` from the same template until ``run_code("1+1")`` answered, then a second
``run_code``. Then the same front end is restarted with a warm pool of one for the agent's
template and new sessions are sampled again. Each sample's session or sandbox is ended after it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_create import wait_pool_full  # noqa: E402
from benchmarks.stats import ms, pct  # noqa: E402
from interpreter_sdk import AgentRuntimeClient, Sandbox  # noqa: E402
from tests.conftest import Server, start_server, stop_server, traversable  # noqa: E402
from tests.e2e.test_agent_runtime import AGENT  # noqa: E402

NAME = "bench"
Samples = dict[str, list[float]]


def launch(server: Server, folder: Path) -> str:
    (folder / "agent.py").write_text(AGENT.format(version="v1"))
    env = {**os.environ, "INTERPRETER_API_URL": server.url, "INTERPRETER_API_KEY": server.api_key}
    for args in (["configure", "--name", NAME], ["launch", "--quiet"]):
        run = subprocess.run(
            [sys.executable, "-m", "interpreter.cli", "agent", *args, "--path", str(folder)],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if run.returncode:
            sys.exit(run.stderr)
    return run.stdout.strip().splitlines()[-1]


def agent_sample(client: AgentRuntimeClient, agent_id: str, results: Samples) -> None:
    session = f"bench-{uuid.uuid4()}"
    for label, expected in (("first invocation of a new session", 1), ("follow-up call", 2)):
        start = time.perf_counter()
        answer = client.invoke_agent_runtime(
            agentId=agent_id, payload=b'{"action": "count"}', runtimeSessionId=session
        )
        results[label].append(time.perf_counter() - start)
        assert answer["response"]["count"] == expected, answer
    client.stop_runtime_session(agent_id, session)


def baseline_sample(server: Server, template: str, results: Samples) -> None:
    start = time.perf_counter()
    sbx = Sandbox.create(template=template, api_url=server.url, api_key=server.api_key)
    try:
        assert sbx.run_code("1+1").text == "2"
        results["baseline: create + run_code"].append(time.perf_counter() - start)
        start = time.perf_counter()
        assert sbx.run_code("2+2").text == "4"
        results["baseline: a second run_code"].append(time.perf_counter() - start)
    finally:
        sbx.kill()
        sbx.close()


def rotate(server: Server, agent_id: str, template: str, sessions: int) -> Samples:
    results: Samples = {
        "first invocation of a new session": [], "follow-up call": [],
        "baseline: create + run_code": [], "baseline: a second run_code": [],
    }  # fmt: skip
    scratch: Samples = {k: [] for k in results}
    with AgentRuntimeClient(api_key=server.api_key, api_url=server.url) as client:
        for i in range(sessions + 1):  # the first round warms up, not counted
            for sample in ("agent", "baseline"):
                wait_pool_full(server)  # the pool (if any) refilled, the snapshot made
                time.sleep(0.5)
                into = results if i > 0 else scratch
                if sample == "agent":
                    agent_sample(client, agent_id, into)
                else:
                    baseline_sample(server, template, into)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    home = traversable(Path(tempfile.mkdtemp(prefix="bench-agents-")))
    folder = Path(tempfile.mkdtemp(prefix="bench-agents-project-"))
    key = secrets.token_hex(8)
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0")
    try:
        started = time.perf_counter()
        agent_id = launch(server, folder)
        launched = time.perf_counter() - started
        template = f"agent-{NAME}-v1"
        restored = rotate(server, agent_id, template, args.sessions)
    finally:
        stop_server(server)
    sizes = json.dumps({template: 1})
    server = start_server(home, key, INTERPRETER_POOL_SIZE="0", INTERPRETER_POOL_SIZES=sizes)
    try:
        pooled = rotate(server, agent_id, template, args.sessions)
    finally:
        stop_server(server)

    print(f"configure + launch (template build, snapshot, register): {launched:.1f} s")
    print()
    print("| call | sandbox from | p50 | p95 |")
    print("|---|---|---|---|")
    for origin, results in (("the template's snapshot", restored), ("the warm pool", pooled)):
        for label, samples in results.items():
            print(
                f"| {label} ({len(samples)}) | {origin} | {ms(pct(samples, 50))} | "
                f"{ms(pct(samples, 95))} |"
            )


if __name__ == "__main__":
    main()
