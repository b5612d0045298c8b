"""Snapshots and forks of running sandboxes through E2B's SDK (unmodified): a DataFrame held
by a kernel survives into the snapshot's sandboxes and into forks, each clone's files are its
own, a filesystem-only snapshot boots fresh kernels on the files, and the source runs on."""

from __future__ import annotations

import pytest
from e2b_code_interpreter import Sandbox

from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(300)


def test_snapshot_with_memory_then_sandboxes_of_it(server: Server) -> None:
    source = Sandbox.create(metadata={"test_run": RUN_ID})
    clones: list[Sandbox] = []
    try:
        source.run_code("import pandas as pd\ndf = pd.DataFrame({'a': range(1000)})")
        source.files.write("/home/user/before.txt", "before")
        snapshot = source.create_snapshot()
        assert snapshot.snapshot_id.startswith("snap-")
        assert source.run_code("int(df.a.sum())").text == "499500"  # the source runs on
        source.files.write("/home/user/after.txt", "after")
        assert snapshot.snapshot_id in [s.snapshot_id for s in source.list_snapshots().next_items()]
        for _ in range(2):
            clones.append(Sandbox.create(snapshot.snapshot_id, metadata={"test_run": RUN_ID}))
        first, second = clones
        assert first.run_code("int(df.a.sum())").text == "499500"
        assert first.files.read("/home/user/before.txt") == "before"
        assert not first.files.exists("/home/user/after.txt")
        first.files.write("/home/user/mine.txt", "first's")
        assert not second.files.exists("/home/user/mine.txt")
        # Fresh randomness in each clone.
        draws = {c.run_code("import random; random.random()").text for c in clones}
        assert len(draws) == 2
        with pytest.raises(Exception, match="409|has sandboxes"):
            Sandbox.delete_snapshot(snapshot.snapshot_id)
    finally:
        for sandbox in (source, *clones):
            sandbox.kill()
    assert Sandbox.delete_snapshot(snapshot.snapshot_id) is True


def test_filesystem_snapshot_boots_fresh_kernels(server: Server) -> None:
    source = Sandbox.create(metadata={"test_run": RUN_ID})
    try:
        source.run_code("kept_in_memory = 1")
        source.files.write("/home/user/on-disk.txt", "on disk")
        with server.client() as client:
            answer = client.post(
                f"/v1/sandboxes/{source.sandbox_id}/snapshots", json={"memory": False}
            )
        assert answer.status_code == 201, answer.text
        snapshot_id = answer.json()["id"]
        clone = Sandbox.create(snapshot_id, metadata={"test_run": RUN_ID})
        try:
            assert clone.files.read("/home/user/on-disk.txt") == "on disk"
            error = clone.run_code("kept_in_memory").error
            assert error is not None and error.name == "NameError"
        finally:
            clone.kill()
        with server.client() as client:
            assert client.delete(f"/v1/snapshots/{snapshot_id}").status_code == 204
    finally:
        source.kill()


def test_fork(server: Server) -> None:
    source = Sandbox.create(metadata={"test_run": RUN_ID})
    forks: list[Sandbox] = []
    try:
        source.run_code("counter = 10")
        forks = source.fork(count=2)
        assert len(forks) == 2 and len({f.sandbox_id for f in forks} | {source.sandbox_id}) == 3
        for index, fork in enumerate(forks):
            assert fork.run_code(f"counter += {index + 1}; counter").text == str(11 + index)
        assert source.run_code("counter").text == "10"
        with server.client() as client:
            bad = client.post(f"/v1/sandboxes/{source.sandbox_id}/fork", json={"count": 101})
            assert bad.status_code == 422
            assert (
                client.get("/v1/snapshots", params={"sandbox_id": source.sandbox_id}).json() == []
            )
    finally:
        for sandbox in (source, *forks):
            sandbox.kill()
