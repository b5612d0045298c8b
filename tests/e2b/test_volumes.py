"""E2B's Volume API with the official Python SDK, unmodified (issue 14): create, connect, list,
destroy, the content API (E2B_VOLUME_API_URL pointed at this server) and volume_mounts."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from e2b import Sandbox, Volume
from e2b.exceptions import NotFoundException, VolumeException

from tests.conftest import Server


@pytest.fixture(scope="module")
def volume(e2b_env: Server) -> Iterator[Volume]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("E2B_VOLUME_API_URL", e2b_env.url)  # where the SDK sends content calls
        made = Volume.create(f"e2b-{secrets.token_hex(3)}")
        yield made
        Volume.destroy(made.volume_id)


def test_volume_lifecycle_and_content(volume: Volume) -> None:
    assert volume.name in [v.name for v in Volume.list()]
    same = Volume.connect(volume.volume_id)
    assert (same.name, same.token) == (volume.name, volume.token)

    volume.write_file("/hello.txt", "hi")
    assert volume.read_file("/hello.txt") == "hi"
    with pytest.raises(VolumeException):  # exists: force=True replaces it
        volume.write_file("/hello.txt", "again", force=False)
    volume.write_file("/hello.txt", b"\x00\x01", force=True)
    assert volume.read_file("/hello.txt", format="bytes") == b"\x00\x01"

    made = volume.make_dir("/a/b", force=True, mode=0o750)
    assert (made.type.value, made.path, made.mode) == ("directory", "/a/b", 0o750)
    with pytest.raises(VolumeException):
        volume.make_dir("/a/b")
    info = volume.write_file("/a/b/f.txt", "x", uid=0, gid=0, mode=0o600)
    assert (info.name, info.uid, info.gid, info.mode, info.size) == ("f.txt", 0, 0, 0o600, 1)
    changed = volume.update_metadata("/a/b/f.txt", uid=1000, mode=0o644)
    assert (changed.uid, changed.gid, changed.mode) == (1000, 0, 0o644)
    assert [e.name for e in volume.list("/a")] == ["b"]
    assert volume.exists("/a/b/f.txt") and not volume.exists("/nope")
    with pytest.raises(NotFoundException):
        volume.read_file("/nope")
    volume.remove("/a")
    assert not volume.exists("/a")
    with pytest.raises(NotFoundException):
        volume.remove("/a")


def test_volume_mounts_share_files_with_sandboxes(
    volume: Volume, e2b_metadata: dict[str, str]
) -> None:
    volume.write_file("/from-api.txt", "api")
    sbx = Sandbox.create(volume_mounts={"/mnt/vol": volume}, metadata=e2b_metadata)
    try:
        assert sbx.files.read("/mnt/vol/from-api.txt") == "api"  # written as `user`: writable
        sbx.commands.run("echo sandbox >> /mnt/vol/from-api.txt && echo new > /mnt/vol/new.txt")
        assert volume.read_file("/new.txt") == "new\n"
        assert volume.get_info("/new.txt").uid == 1000
        mounts = Sandbox.get_info(sbx.sandbox_id).volume_mounts
        assert mounts == [{"name": volume.name, "path": "/mnt/vol"}]
    finally:
        sbx.kill()
    assert volume.read_file("/from-api.txt") == "apisandbox\n"
