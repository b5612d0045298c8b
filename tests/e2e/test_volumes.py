"""Volumes (issue 14): shared between sandboxes, surviving kills, a restart of the front end and
pause/resume, bounded by their size, bad input refused with a body naming the problem."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from interpreter_sdk import ConflictError, Sandbox

from ..conftest import start_server, stop_server


def _mounted_volumes() -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if "/volumes/" in line]


@pytest.mark.timeout(300)
def test_volume_shared_persistent_bounded_and_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = "vol-" + secrets.token_hex(8)
    srv = start_server(home, api_key=key, INTERPRETER_POOL_SIZE="0")
    opts = {"api_url": srv.url, "api_key": key}
    name = f"data-{secrets.token_hex(3)}"
    try:
        volume = Sandbox.create_volume(name, size_mb=32, **opts)
        assert [v.name for v in Sandbox.list_volumes(**opts)] == [name]
        with Sandbox.create(volume_mounts={"/mnt/data": name}, **opts) as writer:
            result = writer.commands.run(
                "echo shared > /mnt/data/note.txt && id -un && df -m /mnt/data"
            )
            size = int(result.stdout.splitlines()[-1].split()[1])
            assert result.stdout.startswith("user") and 20 < size <= 32  # its own file system
        stop_server(srv)  # the writer is gone; the front end restarts on the same home
        srv = start_server(home, api_key=key, INTERPRETER_POOL_SIZE="0")
        opts["api_url"] = srv.url
        with Sandbox.create(volume_mounts={"/data": volume.id}, **opts) as reader:
            assert reader.files.read("/data/note.txt") == "shared\n"
            # Past its size: ENOSPC inside the volume, the sandbox's own disk unaffected.
            full = reader.commands.run("dd if=/dev/zero of=/data/big bs=1M count=64", check=False)
            assert full.exit_code != 0 and "No space left" in full.stderr
            reader.commands.run("rm /data/big && echo fine > /home/user/own.txt")
            with pytest.raises(ConflictError, match="mounted by sandboxes"):
                Sandbox.delete_volume(name, **opts)
            reader.run_code("f = open('/data/note.txt')")  # an open file across the pause
            reader.pause()
            reader.resume()
            assert reader.run_code("print(f.read(), end='')").logs.stdout == ["shared\n"]
            reader.commands.run("echo after > /data/resumed.txt")
            assert reader.files.read("/data/resumed.txt") == "after\n"
            with pytest.raises(ConflictError, match="volumes mounted"):
                reader.create_snapshot()
        _bad_input(srv.client(), name)
        Sandbox.delete_volume(name, **opts)
        assert Sandbox.list_volumes(**opts) == []
        assert not [line for line in _mounted_volumes() if str(home) in line]
    finally:
        for sbx in Sandbox.list(**opts):
            Sandbox.connect(sbx.id, **opts).kill()
        for left in Sandbox.list_volumes(**opts):
            Sandbox.delete_volume(left.id, **opts)
        stop_server(srv)


def _bad_input(client: httpx.Client, name: str) -> None:
    with client:

        def create(mounts: dict[str, str]) -> httpx.Response:
            return client.post("/v1/sandboxes", json={"volume_mounts": mounts})

        for mounts, status, words in [
            ({"data": name}, 400, "not absolute"),
            ({"/mnt/a": name, "/mnt/a/b": name}, 400, "overlaps"),
            ({"/run/sandbox/x": name}, 400, "overlaps"),
            ({"/mnt/../etc": name}, 400, "'..'"),
            ({"/mnt/x": "no-such-volume"}, 404, "not found"),
        ]:
            answer = create(mounts)
            assert answer.status_code == status, answer.text
            assert words in answer.json()["error"]["message"]
        answer = client.post("/v1/volumes", json={"name": "Bad/Name"})
        assert answer.status_code == 400 and "a-z" in answer.json()["error"]["message"]
        answer = client.post("/v1/volumes", json={"name": name})
        assert answer.status_code == 409
        assert client.delete("/v1/volumes/nope").json()["error"]["type"] == "VolumeNotFoundError"
