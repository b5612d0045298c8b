"""Files inside sandboxes (issue #4): round trips, metadata, ownership, confinement, bad input."""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from pathlib import Path

import pytest

from interpreter_sdk import InvalidRequestError, NotFoundError, PermissionDeniedError, Sandbox

from ..conftest import Server


def test_text_and_binary_round_trips(sandbox: Sandbox) -> None:
    info = sandbox.files.write("notes/hello.txt", "héllo\n")
    assert (info.path, info.type, info.size, info.owner) == (
        "/home/user/notes/hello.txt", "file", 7, "user"
    )  # fmt: skip
    assert sandbox.files.read("/home/user/notes/hello.txt") == "héllo\n"
    blob = bytes(range(256)) * 4
    sandbox.files.write("blob.bin", io.BytesIO(blob))
    assert sandbox.files.read_bytes("blob.bin") == blob
    # The kernel sees the same files.
    shown = sandbox.run_code("print(open('notes/hello.txt').read(), end='')")
    assert shown.logs.stdout == ["héllo\n"]


def test_list_info_exists_mkdir_remove_rename(sandbox: Sandbox) -> None:
    assert sandbox.files.make_dir("a/b/c") is True
    assert sandbox.files.make_dir("a/b/c") is False
    sandbox.files.write_files([("a/one.txt", "1"), ("a/b/two.txt", "22")])
    sandbox.run_code("import os\nos.symlink('/home/user/a/one.txt', '/home/user/a/link')")
    top = sandbox.files.list("a")
    assert [(e.name, e.type) for e in top] == [
        ("b", "dir"),
        ("link", "symlink"),
        ("one.txt", "file"),
    ]
    deep = [e.path for e in sandbox.files.list("a", depth=3)]
    assert "/home/user/a/b/c" in deep and "/home/user/a/b/two.txt" in deep
    link = sandbox.files.get_info("a/link")
    assert link.symlink_target == "/home/user/a/one.txt"
    info = sandbox.files.get_info("a/b/two.txt")
    assert (info.size, info.permissions, info.group) == (2, "-rw-r--r--", "user")
    assert info.modified_time.year >= 2024
    assert sandbox.files.exists("a/one.txt") and not sandbox.files.exists("a/nope")
    moved = sandbox.files.rename("a/one.txt", "a/uno.txt")
    assert moved.name == "uno.txt" and not sandbox.files.exists("a/one.txt")
    sandbox.files.remove("a")
    assert not sandbox.files.exists("a")


def test_files_are_written_as_user_unless_root_is_asked(sandbox: Sandbox) -> None:
    assert sandbox.files.write("/tmp/u.txt", "u").owner == "user"
    assert sandbox.files.write("/tmp/r.txt", "r", user="root").owner == "root"
    with pytest.raises(PermissionDeniedError) as caught:
        sandbox.files.write("/etc/not-yours", "x")  # as user: permission denied
    assert "permission denied" in str(caught.value)
    assert sandbox.files.write("/etc/yours", "x", user="root").owner == "root"
    assert sandbox.files.read("/etc/shadow", user="root").startswith("root:")


def test_confinement(sandbox: Sandbox) -> None:
    marker = Path("/tmp") / f"host-secret-{secrets.token_hex(4)}"
    marker.write_text("host")
    try:
        with pytest.raises(NotFoundError):
            sandbox.files.read(f"../../../../{marker}")
        sandbox.run_code(f"import os\nos.symlink({str(marker)!r}, '/home/user/escape')")
        with pytest.raises(NotFoundError):
            sandbox.files.read("escape", user="root")
        passwd = sandbox.files.read("/etc/passwd", user="root")
        assert passwd != Path("/etc/passwd").read_text()
    finally:
        marker.unlink()


def test_bad_input(sandbox: Sandbox) -> None:
    with pytest.raises(NotFoundError):
        sandbox.files.read("missing.txt")
    with pytest.raises(InvalidRequestError, match="is a directory"):
        sandbox.files.read("/home")
    sandbox.files.write("plain.txt", "x")
    with pytest.raises(InvalidRequestError, match="not a directory"):
        sandbox.files.write("plain.txt/below.txt", "y")
    odd = "we\nird 'name' \"q\".txt"
    sandbox.files.write(odd, "odd")
    assert sandbox.files.read(odd) == "odd"
    assert odd in [e.name for e in sandbox.files.list(".")]
    # A name that is not UTF-8 on disk is listed with a replacement character, not a crash.
    sandbox.commands.run("mkdir raw && touch raw/$'\\xff'.txt")
    assert [e.name for e in sandbox.files.list("raw")] == ["\ufffd.txt"]


class Pattern(io.RawIOBase):
    """A large file that is never in memory: `size` bytes of a repeating pattern."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = bytes(range(256)) * 4096  # 1 MiB

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self.left, len(self.block) if n < 0 else n, len(self.block))
        self.left -= n
        return self.block[:n]


def rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@pytest.mark.timeout(600)
def test_a_1_gb_file_streams_with_bounded_memory(server: Server, sandbox: Sandbox) -> None:
    size = 1 << 30
    expected = hashlib.sha256()
    source = Pattern(size)
    while chunk := source.read(1 << 20):
        expected.update(chunk)
    info = sandbox.files.write("big.bin", Pattern(size))
    assert info.size == size
    digest = hashlib.sha256()
    received = 0
    for chunk in sandbox.files.read_stream("big.bin"):
        digest.update(chunk)
        received += len(chunk)
    assert received == size and digest.hexdigest() == expected.hexdigest()
    # The front end never held the file: its peak resident memory stays far below 1 GiB.
    assert rss_peak_kib(server.process.pid) < 400 * 1024


def test_signed_urls_work_without_the_key_until_they_expire(sandbox: Sandbox) -> None:
    import httpx

    upload = sandbox.files.upload_url("shared/data.csv", expires_in=60)
    assert httpx.put(upload, content=b"a,b\n1,2\n").status_code == 200
    download = sandbox.files.download_url("shared/data.csv", expires_in=60)
    response = httpx.get(download)
    assert response.status_code == 200 and response.content == b"a,b\n1,2\n"
    assert httpx.put(download, content=b"x").status_code == 403  # a read URL cannot write
    tampered = download.replace("token=", "token=x")
    assert httpx.get(tampered).status_code == 403
    short = sandbox.files.download_url("shared/data.csv", expires_in=1)
    time.sleep(2.1)
    expired = httpx.get(short)
    assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]


def test_watch_sees_each_event_type_recursively(sandbox: Sandbox) -> None:
    import threading

    sandbox.files.make_dir("w/sub")
    handle = sandbox.files.watch_dir("w", recursive=True)
    sandbox.files.write("w/a.txt", "1")
    sandbox.files.write("w/a.txt", "22")
    sandbox.commands.run("chmod 600 /home/user/w/a.txt")
    sandbox.files.rename("w/a.txt", "w/b.txt")
    sandbox.files.write("w/sub/deep.txt", "3")
    sandbox.files.remove("w/b.txt")
    wanted = {
        ("create", "/home/user/w/a.txt"),
        ("write", "/home/user/w/a.txt"),
        ("chmod", "/home/user/w/a.txt"),
        ("rename", "/home/user/w/a.txt"),
        ("create", "/home/user/w/b.txt"),
        ("create", "/home/user/w/sub/deep.txt"),
        ("remove", "/home/user/w/b.txt"),
    }
    seen: set[tuple[str, str]] = set()
    watchdog = threading.Timer(20, handle.stop)
    watchdog.start()
    try:
        for event in handle.events():
            seen.add((event.type, event.name))
            if wanted <= seen:
                break
    finally:
        watchdog.cancel()
        handle.stop()
    assert wanted <= seen, wanted - seen


def test_watching_a_missing_folder_is_404(sandbox: Sandbox) -> None:
    with pytest.raises(NotFoundError):
        sandbox.files.watch_dir("no/such/folder")
