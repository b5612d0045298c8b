"""Fast start (issue #6): a sandbox from the warm pool behaves exactly like a cold one.

The session server keeps one warm sandbox (conftest); a second server in this module has no
pool, so every check runs side by side on a pooled and a cold sandbox.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from interpreter_sdk import NotFoundError, Sandbox

from ..conftest import RUN_ID, Server, start_server, stop_server
from .host import cgroups_of, folder_of, nsjail_pids

ENVS = {"POOL_VAR": "a b'c\"$d `e` \\f", "SECOND_VAR": "2", "PATH_LIKE": "/x:/y"}
# Set by the jail or the kernel itself and different in any two sandboxes.
VOLATILE = {"JPY_PARENT_PID", "JPY_SESSION_NAME", "OLDPWD", "SHLVL", "_", "PWD"}


@pytest.fixture(scope="module")
def cold_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("interpreter-cold")
    srv = start_server(home, api_key=secrets.token_hex(16), INTERPRETER_POOL_SIZE="0")
    yield srv
    stop_server(srv)


def pool_state(server: Server) -> list[dict[str, object]]:
    with server.client() as client:
        response = client.get("/v1/pool")
    response.raise_for_status()
    return list(response.json())


def wait_pool_full(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s["ready"] == s["size"] for s in pool_state(server)):
            return
        time.sleep(0.1)
    raise AssertionError(f"the pool did not refill: {pool_state(server)}")


def from_pool(server: Server, sandbox_id: str) -> bool:
    return f"sandbox {sandbox_id} handed out from the warm pool" in server.log.read_text()


@pytest.fixture
def make(server: Server) -> Iterator[Callable[..., Sandbox]]:
    made: list[Sandbox] = []

    def create(srv: Server, **kwargs: object) -> Sandbox:
        metadata = {"test_run": RUN_ID, **dict(kwargs.pop("metadata", None) or {})}  # type: ignore[call-overload]
        sbx = Sandbox.create(metadata=metadata, api_url=srv.url, api_key=srv.api_key, **kwargs)  # type: ignore[arg-type]
        made.append(sbx)
        return sbx

    yield create
    for sbx in made:
        try:
            sbx.kill()
        except NotFoundError:
            pass
        finally:
            sbx.close()


def observe(sbx: Sandbox) -> dict[str, object]:
    """What code and commands inside see of the environment, in every way we promise."""
    python = sbx.run_code("import json, os; print(json.dumps(dict(os.environ)))")
    assert python.error is None, python.error
    js = sbx.run_code(
        "import process from 'node:process';\n"
        "console.log(JSON.stringify({deno: Deno.env.toObject(), node: process.env}))",
        language="javascript",
    )
    assert js.error is None, js.error
    bash = sbx.run_code('printf "%s" "$POOL_VAR"; echo; echo "$SECOND_VAR"', language="bash")
    r = sbx.run_code('cat(Sys.getenv("POOL_VAR"))', language="r")
    subprocess = sbx.run_code(
        "import subprocess; print(subprocess.run('printenv POOL_VAR', shell=True, "
        "capture_output=True, text=True).stdout, end='')"
    )
    js_env = json.loads("".join(js.logs.stdout))
    return {
        "python": strip(json.loads("".join(python.logs.stdout))),
        "deno": strip(js_env["deno"]),
        "node": strip(js_env["node"]),
        "bash": "".join(bash.logs.stdout),
        "r": "".join(r.logs.stdout),
        "python subprocess": "".join(subprocess.logs.stdout),
        "command": env_lines(sbx.commands.run("env").stdout),
        "command as root": env_lines(sbx.commands.run("env", user="root").stdout),
        "command with its own envs": sbx.commands.run(
            'echo "$POOL_VAR|$SECOND_VAR"', envs={"SECOND_VAR": "per-command"}
        ).stdout,
    }


def strip(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in VOLATILE}


def env_lines(text: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return strip({key: value for key, _, value in pairs})


def test_pooled_sandbox_sees_its_envs_and_metadata_exactly_like_a_cold_one(
    server: Server, cold_server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    assert pool_state(cold_server) == []
    tag = secrets.token_hex(4)
    with ThreadPoolExecutor(2) as pool:
        cold_future = pool.submit(make, cold_server, envs=ENVS, metadata={"tag": tag})
        pooled = make(server, envs=ENVS, metadata={"tag": tag})
        # Never half-ready: code runs the moment create returns, with the variables set.
        first = pooled.run_code("import os; print(os.environ['POOL_VAR'], end='')")
        assert first.error is None and first.logs.stdout == [ENVS["POOL_VAR"]]
        cold = cold_future.result()
    assert from_pool(server, pooled.sandbox_id)
    assert not from_pool(cold_server, cold.sandbox_id)

    seen_pooled, seen_cold = observe(pooled), observe(cold)
    assert seen_pooled == seen_cold
    assert seen_pooled["bash"] == ENVS["POOL_VAR"] + "\n2\n"
    assert seen_pooled["r"] == ENVS["POOL_VAR"]
    assert seen_pooled["python subprocess"] == ENVS["POOL_VAR"] + "\n"
    assert seen_pooled["command with its own envs"] == ENVS["POOL_VAR"] + "|per-command\n"
    for name in ("python", "deno", "node", "command", "command as root"):
        env = seen_pooled[name]
        assert isinstance(env, dict)
        assert {k: env.get(k) for k in ENVS} == ENVS, name

    # Metadata is the host's: listed and filtered exactly as for a cold sandbox.
    listed = Sandbox.list(metadata={"tag": tag}, api_url=server.url, api_key=server.api_key)
    assert [(s.id, s.metadata) for s in listed] == [
        (pooled.sandbox_id, {"test_run": RUN_ID, "tag": tag})
    ]
    assert pooled.get_info().metadata == cold.get_info().metadata


def test_pooled_sandboxes_share_nothing_and_the_pool_refills(
    server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    first = make(server, envs={"WHO": "first"})
    # The pool refills in the background; nothing else is visible meanwhile.
    wait_pool_full(server)
    second = make(server)
    assert from_pool(server, first.sandbox_id) and from_pool(server, second.sandbox_id)
    listed = {s.id for s in Sandbox.list(api_url=server.url, api_key=server.api_key)}
    assert {first.sandbox_id, second.sandbox_id} <= listed
    pooled_now = {p.name for p in (server.home / "sandboxes").iterdir()} - listed
    for hidden in pooled_now:  # not reachable by id until claimed
        with server.client() as client:
            assert client.get(f"/v1/sandboxes/{hidden}").status_code == 404

    first.files.write("/home/user/mine.txt", "first's")
    first.commands.run("echo root-owned > /etc/marker", user="root")
    first.run_code("import os; os.environ['SET_AT_RUN'] = '1'; shared = 42")
    first.commands.start("sleep 300")
    assert not second.files.exists("/home/user/mine.txt")
    assert second.commands.run("cat /etc/marker 2>&1 || true").stdout.startswith("cat:")
    assert second.run_code("'shared' in globals()").text == "False"
    code = "import os; print(os.environ.get('WHO'), os.environ.get('SET_AT_RUN'))"
    assert second.run_code(code).logs.stdout == ["None None\n"]
    processes = "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"
    assert "sleep 300" in first.commands.run(processes).stdout
    assert "sleep 300" not in second.commands.run(processes).stdout
    assert second.commands.run("printenv WHO || echo unset").stdout == "unset\n"
    # Each has its own upper layer (the writable part of its root).
    upper_first = folder_of(server, first.sandbox_id) / "upper"
    upper_second = folder_of(server, second.sandbox_id) / "upper"
    assert (upper_first / "home/user/mine.txt").exists()
    assert not (upper_second / "home/user/mine.txt").exists()


def test_pooled_sandbox_takes_non_default_limits(
    server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    sbx = make(server, cpu=0.5, memory_mb=2048)
    assert from_pool(server, sbx.sandbox_id)
    info = sbx.get_info()
    assert (info.cpu, info.memory_mb) == (0.5, 2048)
    (nsjail,) = nsjail_pids(folder_of(server, sbx.sandbox_id))
    jail_pid = int(Path(f"/proc/{nsjail}/task/{nsjail}/children").read_text().split()[0])
    memory, _, cpu = cgroups_of(jail_pid)
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(2048 * 2**20)
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "500000"
    assert sbx.run_code("1+1").text == "2"


def test_invalid_env_names_are_refused(server: Server) -> None:
    with server.client() as client:
        response = client.post("/v1/sandboxes", json={"envs": {"A=B": "x"}})
    assert response.status_code == 400, response.text
    assert "A=B" in response.text


def test_pool_endpoint_needs_the_api_key(server: Server) -> None:
    assert httpx.get(server.url + "/v1/pool").status_code == 401
