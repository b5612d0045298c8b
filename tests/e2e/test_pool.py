"""Fast start (issue #6): a sandbox from the warm pool or from the template's snapshot behaves
exactly like a cold one.

The session server keeps one warm sandbox (conftest) and a snapshot: its first create after the
pool is full gets the pooled sandbox, the next ones (the pool waits a second before refilling)
are restored from the snapshot, and so is the pool's next sandbox. A second server in this module
has neither, so every check runs side by side on a pooled, a restored and a cold sandbox.
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
from .host import folder_of

ENVS = {"POOL_VAR": "a b'c\"$d `e` \\f", "SECOND_VAR": "2", "PATH_LIKE": "/x:/y"}
# Set by the jail or the kernel itself and different in any two sandboxes.
VOLATILE = {"JPY_PARENT_PID", "JPY_SESSION_NAME", "OLDPWD", "SHLVL", "_", "PWD"}


@pytest.fixture(scope="module")
def cold_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("interpreter-cold")
    srv = start_server(
        home, api_key=secrets.token_hex(16), INTERPRETER_POOL_SIZE="0", INTERPRETER_SNAPSHOTS="0"
    )
    yield srv
    stop_server(srv)


def pool_state(server: Server) -> list[dict[str, object]]:
    with server.client() as client:
        response = client.get("/v1/pool")
    response.raise_for_status()
    return list(response.json())


def wait_pool_full(server: Server, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = pool_state(server)
        if all(s["ready"] == s["size"] and s["snapshot"] != "pending" for s in state):
            assert all(s["snapshot"] == "ready" for s in state), state
            return
        time.sleep(0.1)
    raise AssertionError(f"the pool did not refill: {pool_state(server)}")


def from_pool(server: Server, sandbox_id: str) -> bool:
    return f"sandbox {sandbox_id} handed out from the warm pool" in server.log.read_text()


def from_snapshot(server: Server, sandbox_id: str) -> bool:
    return f"sandbox {sandbox_id} restored from the " in server.log.read_text()


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
        except Exception as exc:  # go on: the others must not be left running
            print("could not kill", sbx.sandbox_id, exc)
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


def test_pooled_and_restored_sandboxes_see_envs_and_metadata_exactly_like_a_cold_one(
    server: Server, cold_server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    assert pool_state(cold_server) == []  # neither pool nor snapshot
    tag = secrets.token_hex(4)
    with ThreadPoolExecutor(2) as pool:
        cold_future = pool.submit(make, cold_server, envs=ENVS, metadata={"tag": tag})
        fast = []
        for _ in range(2):  # the pooled one, then one from the snapshot
            sbx = make(server, envs=ENVS, metadata={"tag": tag})
            # Never half-ready: code runs the moment create returns, with the variables set.
            first = sbx.run_code("import os; print(os.environ['POOL_VAR'], end='')")
            assert first.error is None and first.logs.stdout == [ENVS["POOL_VAR"]]
            fast.append(sbx)
        cold = cold_future.result()
    pooled, restored = fast
    assert from_pool(server, pooled.sandbox_id)
    assert from_snapshot(server, restored.sandbox_id)
    assert not from_pool(cold_server, cold.sandbox_id)
    assert not from_snapshot(cold_server, cold.sandbox_id)

    seen_cold = observe(cold)
    assert observe(pooled) == seen_cold
    assert observe(restored) == seen_cold
    assert seen_cold["bash"] == ENVS["POOL_VAR"] + "\n2\n"
    assert seen_cold["r"] == ENVS["POOL_VAR"]
    assert seen_cold["python subprocess"] == ENVS["POOL_VAR"] + "\n"
    assert seen_cold["command with its own envs"] == ENVS["POOL_VAR"] + "|per-command\n"
    for name in ("python", "deno", "node", "command", "command as root"):
        env = seen_cold[name]
        assert isinstance(env, dict)
        assert {k: env.get(k) for k in ENVS} == ENVS, name

    # Metadata is the host's: listed and filtered exactly as for a cold sandbox.
    listed = Sandbox.list(metadata={"tag": tag}, api_url=server.url, api_key=server.api_key)
    assert sorted((s.id, s.metadata == {"test_run": RUN_ID, "tag": tag}) for s in listed) == sorted(
        [(pooled.sandbox_id, True), (restored.sandbox_id, True)]
    )
    assert pooled.get_info().metadata == restored.get_info().metadata == cold.get_info().metadata


def test_fast_sandboxes_share_nothing_and_the_pool_refills(
    server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    pooled = make(server, envs={"WHO": "first"})
    restored = [make(server, envs={"WHO": "first"}), make(server)]
    assert from_pool(server, pooled.sandbox_id)
    assert all(from_snapshot(server, sbx.sandbox_id) for sbx in restored)
    # The pool refills in the background; nothing else is visible meanwhile.
    wait_pool_full(server)
    refilled = make(server)
    assert from_pool(server, refilled.sandbox_id)
    # The pool refills by restoring the snapshot (a cold boot only before it exists).
    assert (
        f"sandbox {refilled.sandbox_id} restored from the code-interpreter snapshot into the pool"
        in server.log.read_text()
    )
    wait_pool_full(server)
    listed = {s.id for s in Sandbox.list(api_url=server.url, api_key=server.api_key)}
    pooled_now = {p.name for p in (server.home / "sandboxes").iterdir()} - listed
    assert pooled_now
    for hidden in pooled_now:  # not reachable by id until claimed
        with server.client() as client:
            assert client.get(f"/v1/sandboxes/{hidden}").status_code == 404

    # Two sandboxes restored from one snapshot: their generators were reseeded.
    draws = [sbx.run_code("import random; random.random()").text for sbx in restored]
    assert draws[0] != draws[1]
    for first, second in ((pooled, refilled), (restored[0], restored[1]), (pooled, restored[1])):
        assert_isolated(server, first, second)


def assert_isolated(server: Server, first: Sandbox, second: Sandbox) -> None:
    mark = secrets.token_hex(4)
    first.files.write(f"/home/user/{mark}.txt", "first's")
    first.commands.run(f"echo root-owned > /etc/{mark}", user="root")
    first.run_code(f"import os; os.environ['SET_AT_RUN'] = '1'; shared_{mark} = 42")
    first.commands.start(f"sleep 300 && echo {mark}")  # bash stays, with the mark in argv
    assert not second.files.exists(f"/home/user/{mark}.txt")
    assert second.commands.run(f"cat /etc/{mark} 2>&1 || true").stdout.startswith("cat:")
    assert second.run_code(f"'shared_{mark}' in globals()").text == "False"
    code = "import os; print(os.environ.get('WHO'), os.environ.get('SET_AT_RUN'))"
    assert second.run_code(code).logs.stdout[0].endswith(" None\n")
    processes = "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"
    assert mark in first.commands.run(processes).stdout
    assert mark not in second.commands.run(processes).stdout
    # Each has its own upper layer (the writable part of its root).
    assert (folder_of(server, first.sandbox_id) / f"disk/upper/home/user/{mark}.txt").exists()
    assert not (folder_of(server, second.sandbox_id) / f"disk/upper/home/user/{mark}.txt").exists()


def test_fast_sandboxes_take_non_default_limits(
    server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    pooled, restored = make(server, cpu=0.5, memory_mb=2048), make(server, cpu=1.5, memory_mb=768)
    assert from_pool(server, pooled.sandbox_id) and from_snapshot(server, restored.sandbox_id)
    for sbx, cpu, memory_mb in ((pooled, 0.5, 2048), (restored, 1.5, 768)):
        info = sbx.get_info()
        assert (info.cpu, info.memory_mb) == (cpu, memory_mb)
        memory, cpu_cgroup = cgroups_by_root(folder_of(server, sbx.sandbox_id) / "root")
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(memory_mb * 2**20)
        assert (cpu_cgroup / "cpu.cfs_quota_us").read_text().strip() == str(int(cpu * 1e6))
        assert sbx.run_code("1+1").text == "2"


def cgroups_by_root(root: Path) -> tuple[Path, Path]:
    """The memory and cpu cgroups of the sandbox whose processes have this root (nsjail's or
    CRIU's: a restored tree has no nsjail)."""
    want = root.stat()
    for memory in Path("/sys/fs/cgroup/memory/NSJAIL").glob("NSJAIL.*"):
        for pid in (memory / "cgroup.procs").read_text().split():
            try:
                got = Path(f"/proc/{pid}/root/").stat()  # the process's own root directory
            except OSError:
                continue
            if (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino):
                return memory, Path("/sys/fs/cgroup/cpu/NSJAIL") / memory.name
            break
    raise AssertionError(f"no cgroup holds the sandbox at {root}")


def test_invalid_env_names_are_refused(server: Server) -> None:
    with server.client() as client:
        response = client.post("/v1/sandboxes", json={"envs": {"A=B": "x"}})
    assert response.status_code == 400, response.text
    assert "A=B" in response.text


def test_pool_endpoint_needs_the_api_key(server: Server) -> None:
    assert httpx.get(server.url + "/v1/pool").status_code == 401


def test_a_broken_snapshot_is_taken_again_and_creates_go_cold_meanwhile(
    server: Server, make: Callable[..., Sandbox]
) -> None:
    wait_pool_full(server)
    (snapshot,) = (server.home / "snapshots" / "code-interpreter").iterdir()
    (snapshot / "images" / "inventory.img").unlink()  # e.g. taken before a reboot, now unusable
    pooled, cold = make(server), make(server)
    assert from_pool(server, pooled.sandbox_id)
    assert not from_snapshot(server, cold.sandbox_id) and not from_pool(server, cold.sandbox_id)
    assert cold.run_code("1+1").text == "2"
    wait_pool_full(server)  # the snapshot was taken again
    assert (snapshot / "images" / "inventory.img").exists()
    make(server)  # the refilled pool's
    restored = make(server)
    assert from_snapshot(server, restored.sandbox_id)
    assert restored.run_code("1+1").text == "2"
