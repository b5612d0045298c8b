"""Files and watch as E2B's envd does them, driven by the official Python SDK: the cases of E2B's
own SDK tests (files/test_info.py, test_remove.py, test_metadata.py, test_secured.py,
test_watch.py) where our agent once answered differently. One sandbox for the module; each test
works in a folder of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from e2b import FileType, Sandbox
from e2b.sandbox.filesystem.watch_handle import FilesystemEventType

from tests.conftest import Server

pytestmark = pytest.mark.timeout(120)

CREATE, WRITE, CHMOD = (
    FilesystemEventType.CREATE,
    FilesystemEventType.WRITE,
    FilesystemEventType.CHMOD,
)


@pytest.fixture(scope="module")
def sbx(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata, timeout=300)
    yield sandbox
    sandbox.kill()


def test_mode_is_the_permission_bits_and_permissions_gos_string(sbx: Sandbox) -> None:
    sbx.files.make_dir("/home/user/modes/dir")
    sbx.files.write("/home/user/modes/file.txt", "x")
    folder = sbx.files.get_info("/home/user/modes/dir")
    assert (folder.mode, folder.permissions) == (0o755, "drwxr-xr-x")  # no os.ModeDir bit
    file = sbx.files.get_info("/home/user/modes/file.txt")
    assert (file.mode, file.permissions) == (0o644, "-rw-r--r--")
    tmp = sbx.files.get_info("/tmp")  # sticky: Go shows "t" in front, mode keeps 0o777 only
    assert (tmp.mode, tmp.permissions) == (0o777, "dtrwxrwxrwx")
    sbx.commands.run("cd /home/user/modes && chmod 4755 file.txt && ln -s dir link")
    assert sbx.files.get_info("/home/user/modes/file.txt").permissions == "urwxr-xr-x"
    link = sbx.files.get_info("/home/user/modes/link")  # the target's mode, the link's string
    assert (link.mode, link.permissions) == (0o755, "Lrwxrwxrwx")
    listed = {e.name: (e.mode, e.permissions) for e in sbx.files.list("/home/user/modes")}
    assert listed == {
        "dir": (0o755, "drwxr-xr-x"),
        "file.txt": (0o755, "urwxr-xr-x"),
        "link": (0o755, "Lrwxrwxrwx"),
    }


def test_a_symlinks_target_is_its_absolute_resolved_path(sbx: Sandbox, server: Server) -> None:
    sbx.files.write("/home/user/links/test.txt", "t")
    sbx.commands.run(
        "ln -s test.txt symlink_to_test.txt && ln -s symlink_to_test.txt chain"
        " && ln -s missing dangling && ln -s loop loop",
        cwd="/home/user/links",
    )
    for name in ("symlink_to_test.txt", "chain"):  # relative, then a chain of two
        link = sbx.files.get_info(f"/home/user/links/{name}")
        assert link.type == FileType.SYMLINK  # e2b 2.63 shows isSymlink as SYMLINK
        assert link.symlink_target == "/home/user/links/test.txt"
        assert link.mode == 0o644
    for name in ("dangling", "loop"):  # envd: its own path, mode 0
        broken = sbx.files.get_info(f"/home/user/links/{name}")
        assert broken.symlink_target == f"/home/user/links/{name}" and broken.mode == 0
        assert broken.permissions == "Lrwxrwxrwx"
    listed = {e.name: e.symlink_target for e in sbx.files.list("/home/user/links")}
    assert listed["chain"] == "/home/user/links/test.txt" and listed["test.txt"] is None
    # The raw Connect answer: the type is the target's (unspecified, left out, when dangling).
    stat = _stat(server, sbx, "/home/user/links/chain")
    assert stat["type"] == "FILE_TYPE_FILE" and stat["isSymlink"] is True
    assert "type" not in _stat(server, sbx, "/home/user/links/dangling")


def _stat(server: Server, sbx: Sandbox, path: str) -> dict[str, object]:
    answer = httpx.post(
        f"{server.url}/filesystem.Filesystem/Stat",
        json={"path": path},
        headers={
            "E2b-Sandbox-Id": sbx.sandbox_id,
            "E2b-Sandbox-Port": "49983",
            "X-Access-Token": sbx._envd_access_token or "",
        },
    )
    assert answer.status_code == 200, answer.text
    entry: dict[str, object] = answer.json()["entry"]
    return entry


def test_removing_what_is_not_there_is_no_error(sbx: Sandbox) -> None:
    sbx.files.remove("non_existing_file.txt")
    sbx.files.remove("/home/user/no/such/folder")
    sbx.files.write("/home/user/rm/tree/a.txt", "a")
    sbx.files.remove("/home/user/rm")
    assert not sbx.files.exists("/home/user/rm")


def test_overwriting_clears_stale_metadata(sbx: Sandbox) -> None:
    path = "/home/user/meta/file.txt"
    sbx.files.write(path, "first", metadata={"author": "mish", "v": "1"})
    assert sbx.files.get_info(path).metadata == {"author": "mish", "v": "1"}
    written = sbx.files.write(path, "second", metadata={"v": "2"})  # replaced as a set
    assert written.metadata == {"v": "2"} and sbx.files.get_info(path).metadata == {"v": "2"}
    info = sbx.files.write(path, "third")
    assert info.metadata is None
    assert sbx.files.get_info(path).metadata is None
    assert sbx.files.read(path) == "third"


def test_an_expired_signature_is_envds_401(sbx: Sandbox) -> None:
    sbx.files.write("/home/user/signed.txt", "s")
    expired = {"code": 401, "message": "signature is already expired"}
    download = sbx.download_url("/home/user/signed.txt", use_signature_expiration=-120)
    answer = httpx.get(download)
    assert (answer.status_code, answer.json()) == (401, expired)
    upload = sbx.upload_url("/home/user/signed-up.txt", use_signature_expiration=-120)
    answer = httpx.post(upload, files={"file": ("signed-up.txt", b"x")})
    assert (answer.status_code, answer.json()) == (401, expired)


def _types(events: list) -> list[tuple[str, FilesystemEventType]]:  # type: ignore[type-arg]
    return [(e.name, e.type) for e in events]


def test_watch_a_new_file_gives_create_chmod_write(sbx: Sandbox) -> None:
    sbx.files.make_dir("/home/user/w-new")
    handle = sbx.files.watch_dir("/home/user/w-new")
    try:
        sbx.files.write("/home/user/w-new/test_watch.txt", "content")
        events = handle.get_new_events()  # right after the write, as E2B's test does
        assert _types(events) == [
            ("test_watch.txt", CREATE),
            ("test_watch.txt", CHMOD),
            ("test_watch.txt", WRITE),
        ]
    finally:
        handle.stop()


def test_watch_an_existing_file_starts_with_write(sbx: Sandbox) -> None:
    sbx.files.write("/home/user/w-old/test_watch.txt", "before")
    handle = sbx.files.watch_dir("/home/user/w-old")
    try:
        sbx.files.write("/home/user/w-old/test_watch.txt", "content")
        events = handle.get_new_events()
        assert events and _types(events)[0] == ("test_watch.txt", WRITE)
        assert CREATE not in {e.type for e in events}
    finally:
        handle.stop()


def test_watch_recursive_into_an_existing_folder(sbx: Sandbox) -> None:
    sbx.files.make_dir("/home/user/w-rec/nested")
    handle = sbx.files.watch_dir("/home/user/w-rec", recursive=True)
    try:
        sbx.files.write("/home/user/w-rec/nested/test_watch.txt", "content")
        events = handle.get_new_events()
        assert len(events) == 3
        assert _types(events)[0] == ("nested/test_watch.txt", CREATE)
    finally:
        handle.stop()


def test_watch_recursive_after_nested_folder_addition(sbx: Sandbox) -> None:
    sbx.files.make_dir("/home/user/w-add")
    handle = sbx.files.watch_dir("/home/user/w-add", recursive=True)
    try:
        sbx.files.make_dir("/home/user/w-add/nested")
        sbx.files.write("/home/user/w-add/nested/test_watch.txt", "content")
        seen = _types(handle.get_new_events())  # no sleep: one fetch holds both
        assert ("nested", CREATE) in seen
        assert ("nested/test_watch.txt", WRITE) in seen
        # mkdir -p: the folders made before their own watches are reported too, in walk order.
        sbx.commands.run("mkdir -p /home/user/w-add/one/two/three")
        seen = _types(handle.get_new_events())
        created = [name for name, kind in seen if kind == CREATE]  # a race may add duplicates
        assert list(dict.fromkeys(created)) == ["one", "one/two", "one/two/three"]
        sbx.files.write("/home/user/w-add/one/two/three/deep.txt", "d")
        assert ("one/two/three/deep.txt", CREATE) in _types(handle.get_new_events())
    finally:
        handle.stop()
