"""Snapshots and forks through our SDK and CLI: a DataFrame survives into the snapshot's
sandboxes and forks; a snapshot in use is not deleted; bad counts are refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Server

pytestmark = pytest.mark.timeout(300)


def test_snapshot_and_fork_with_the_sdk(sandbox_factory, server: Server) -> None:
    from interpreter_sdk import ConflictError, InvalidRequestError, Sandbox

    source = sandbox_factory()
    source.run_code("import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3]})")
    snapshot = source.create_snapshot(name=None)
    assert snapshot.memory and snapshot.sandbox_id == source.sandbox_id
    assert snapshot.frozen_seconds < 30
    clone = sandbox_factory(template=snapshot.id)
    assert clone.run_code("int(df.x.sum())").text == "6"
    assert clone.get_info().template == snapshot.id
    with pytest.raises(ConflictError):
        Sandbox.delete_snapshot(snapshot.id)
    forks = source.fork(count=2)
    try:
        assert [f.run_code("len(df)").text for f in forks] == ["3", "3"]  # type: ignore[union-attr]
    finally:
        for fork in forks:
            fork.kill()  # type: ignore[union-attr]
    with pytest.raises(InvalidRequestError):
        source.fork(count=0)
    assert snapshot.id in [s.id for s in Sandbox.list_snapshots(source.sandbox_id)]
    clone.kill()
    Sandbox.delete_snapshot(snapshot.id)
    assert Sandbox.list_snapshots(source.sandbox_id) == []


def test_snapshot_cli(sandbox_factory, server: Server) -> None:
    source = sandbox_factory()
    env = {**os.environ, "INTERPRETER_API_URL": server.url, "INTERPRETER_API_KEY": server.api_key}
    cli = [sys.executable, "-m", "interpreter.cli", "snapshot"]
    made = subprocess.run([*cli, "create", source.sandbox_id, "--files-only"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    snapshot_id = made.stdout.strip()
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, env=env)
    assert f"{snapshot_id}\t-\t{source.sandbox_id}\tfiles" in listed.stdout
    assert source.run_code("1 + 1").text == "2"  # it runs on
    gone = subprocess.run([*cli, "delete", snapshot_id], capture_output=True, text=True, env=env)
    assert gone.returncode == 0 and f"deleted {snapshot_id}" in gone.stdout
    missing = subprocess.run([*cli, "delete", snapshot_id], capture_output=True, text=True, env=env)
    assert missing.returncode == 1 and "not found" in missing.stderr
