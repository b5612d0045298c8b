"""The official E2B Python SDK (sync) driving envd: files, commands, PTY, watch, signed URLs.
One sandbox is shared by the module; tests work in folders of their own."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from e2b import (
    AuthenticationException,
    CommandExitException,
    FileNotFoundException,
    FileType,
    InvalidArgumentException,
    NotFoundException,
    Sandbox,
    SandboxException,
    SandboxNotRunningException,
    TimeoutException,
)
from e2b.sandbox.commands.command_handle import PtySize
from e2b.sandbox.filesystem.watch_handle import FilesystemEventType

from interpreter.api.e2b.versions import ENVD_VERSION
from tests.conftest import Server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sbx(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata, timeout=300, envs={"FROM_CREATE": "yes"})
    yield sandbox
    sandbox.kill()


def test_reports_the_envd_version_whose_features_it_has(sbx: Sandbox) -> None:
    assert ENVD_VERSION == "0.6.4"
    assert str(sbx._envd_version) == ENVD_VERSION


def test_write_and_read_text_bytes_stream(sbx: Sandbox) -> None:
    info = sbx.files.write("/home/user/rw/hello.txt", "héllo")
    assert (info.name, info.type, info.path) == (
        "hello.txt",
        FileType.FILE,
        "/home/user/rw/hello.txt",
    )
    assert sbx.files.read("/home/user/rw/hello.txt") == "héllo"
    sbx.files.write("rw/blob.bin", bytes(range(256)))  # relative: from the user's home
    assert sbx.files.read("/home/user/rw/blob.bin", format="bytes") == bytes(range(256))
    big = b"0123456789" * 300_000  # 3 MB, streamed both ways (octet-stream upload)
    sbx.files.write("/home/user/rw/big.bin", io.BytesIO(big))
    assert b"".join(sbx.files.read("/home/user/rw/big.bin", format="stream")) == big


def test_write_several_files_in_one_request_and_list_with_depth(sbx: Sandbox) -> None:
    written = sbx.files.write_files(
        [
            {"path": "/home/user/tree/a.txt", "data": "a"},
            {"path": "/home/user/tree/sub/b.txt", "data": b"b"},
            {"path": "/home/user/tree/sub/deeper/c.txt", "data": "c"},
        ]
    )
    assert [w.path for w in written] == [
        "/home/user/tree/a.txt",
        "/home/user/tree/sub/b.txt",
        "/home/user/tree/sub/deeper/c.txt",
    ]
    assert sorted(e.name for e in sbx.files.list("/home/user/tree")) == ["a.txt", "sub"]
    deep = {e.path: e.type for e in sbx.files.list("/home/user/tree", depth=3)}
    assert deep["/home/user/tree/sub"] == FileType.DIR
    assert deep["/home/user/tree/sub/deeper/c.txt"] == FileType.FILE


def test_exists_info_make_dir_rename_remove(sbx: Sandbox) -> None:
    assert sbx.files.make_dir("/home/user/ops/x/y") is True
    assert sbx.files.make_dir("/home/user/ops/x/y") is False  # already there
    assert sbx.files.exists("/home/user/ops/x") and not sbx.files.exists("/home/user/ops/nope")
    sbx.files.write("/home/user/ops/f.txt", "12345")
    info = sbx.files.get_info("/home/user/ops/f.txt")
    assert (info.size, info.type, info.owner, info.group) == (5, FileType.FILE, "user", "user")
    assert info.permissions == "-rw-r--r--" and info.mode & 0o777 == 0o644
    assert info.modified_time.year >= 2025
    moved = sbx.files.rename("/home/user/ops/f.txt", "/home/user/ops/g.txt")
    assert moved.path == "/home/user/ops/g.txt" and moved.size == 5
    assert not sbx.files.exists("/home/user/ops/f.txt")
    sbx.files.remove("/home/user/ops/x")
    assert not sbx.files.exists("/home/user/ops/x")
    sbx.commands.run("ln -s /home/user/ops/g.txt /home/user/ops/link")
    link = sbx.files.get_info("/home/user/ops/link")
    assert link.type == FileType.SYMLINK and link.symlink_target == "/home/user/ops/g.txt"


def test_not_found_and_bad_input(sbx: Sandbox) -> None:
    with pytest.raises(FileNotFoundException):
        sbx.files.read("/home/user/missing.txt")
    with pytest.raises(FileNotFoundException):
        sbx.files.get_info("/home/user/missing")
    with pytest.raises(FileNotFoundException):
        sbx.files.list("/home/user/missing")
    sbx.files.remove("/home/user/missing")  # envd's os.RemoveAll: not there is no error
    with pytest.raises(FileNotFoundException):
        sbx.files.rename("/home/user/missing", "/home/user/other")
    with pytest.raises(InvalidArgumentException):
        sbx.files.read("/home/user")  # a folder
    with pytest.raises(AuthenticationException):  # envd: an unknown user is a 401
        sbx.files.write("/home/user/x", "x", user="nobody")
    with pytest.raises(AuthenticationException):
        sbx.commands.run("true", user="nobody")


def test_user_root_owns_what_it_writes(sbx: Sandbox) -> None:
    sbx.files.write("/root/secret.txt", "s", user="root")
    assert sbx.files.get_info("/root/secret.txt", user="root").owner == "root"
    with pytest.raises(SandboxException):
        sbx.files.read("/root/secret.txt")  # the default user may not look into /root


def test_gzip_both_ways(sbx: Sandbox) -> None:
    text = "compressible " * 10_000
    sbx.files.write("/home/user/gz/text.txt", text, gzip=True)
    assert sbx.files.read("/home/user/gz/text.txt", gzip=True) == text
    assert sbx.files.read("/home/user/gz/text.txt") == text


def test_metadata_is_kept_with_the_file(sbx: Sandbox) -> None:
    written = sbx.files.write("/home/user/meta.txt", "m", metadata={"Author": "ada", "v": "1"})
    assert written.metadata == {"author": "ada", "v": "1"}
    assert sbx.files.get_info("/home/user/meta.txt").metadata == {"author": "ada", "v": "1"}
    listed = [e for e in sbx.files.list("/home/user") if e.name == "meta.txt"]
    assert listed[0].metadata == {"author": "ada", "v": "1"}


def test_signed_urls_with_plain_http(sbx: Sandbox) -> None:
    upload = sbx.upload_url("/home/user/signed/up.txt")
    answer = httpx.post(upload, files={"file": ("up.txt", b"via url")})
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["path"] == "/home/user/signed/up.txt"
    download = sbx.download_url("/home/user/signed/up.txt", use_signature_expiration=60)
    assert httpx.get(download).content == b"via url"
    assert httpx.get(download, headers={"Accept-Encoding": "gzip"}).content == b"via url"
    expired = sbx.download_url("/home/user/signed/up.txt", use_signature_expiration=-1)
    assert httpx.get(expired).status_code == 401
    other_path = download.replace("up.txt", "other.txt")
    assert httpx.get(other_path).status_code == 401
    unsigned = download.split("&signature")[0]
    assert httpx.get(unsigned).status_code == 401
    read_only = sbx.download_url("/home/user/signed/up.txt")
    assert httpx.post(read_only, files={"file": ("x", b"x")}).status_code == 401


def test_access_token_is_required(sbx: Sandbox, server: Server) -> None:
    headers = {"E2b-Sandbox-Id": sbx.sandbox_id, "E2b-Sandbox-Port": "49983"}
    rpc = f"{server.url}/filesystem.Filesystem/Stat"
    body = {"path": "/home/user"}
    assert httpx.post(rpc, json=body, headers=headers).status_code == 401
    wrong = {**headers, "X-Access-Token": "0" * 64}
    assert httpx.post(rpc, json=body, headers=wrong).json()["code"] == "unauthenticated"
    right = {**headers, "X-Access-Token": sbx._envd_access_token or ""}
    stat = httpx.post(rpc, json=body, headers=right).json()
    assert stat["entry"]["type"] == "FILE_TYPE_DIRECTORY" and stat["entry"]["name"] == "user"
    assert httpx.get(f"{server.url}/health", headers=headers).status_code == 204
    envs = httpx.get(f"{server.url}/envs", headers=right)
    assert envs.status_code == 200 and envs.json() == {"FROM_CREATE": "yes"}
    assert httpx.get(f"{server.url}/envs", headers=headers).status_code == 401
    usage = httpx.get(f"{server.url}/metrics", headers=right).json()
    assert usage["cpu_count"] >= 1 and usage["mem_total_mib"] >= 128 and usage["mem_used"] > 0


def test_watch_dir_polling_recursive(sbx: Sandbox) -> None:
    sbx.files.make_dir("/home/user/watched")
    handle = sbx.files.watch_dir("/home/user/watched", recursive=True)
    try:
        sbx.files.write("/home/user/watched/a.txt", "a")
        sbx.files.make_dir("/home/user/watched/sub")
        sbx.files.write("/home/user/watched/sub/b.txt", "b")
        sbx.files.remove("/home/user/watched/a.txt")
        seen: set[tuple[str, FilesystemEventType]] = set()
        deadline = time.monotonic() + 5
        while (("a.txt", FilesystemEventType.REMOVE) not in seen) and time.monotonic() < deadline:
            seen |= {(e.name, e.type) for e in handle.get_new_events()}
            time.sleep(0.1)
        assert ("a.txt", FilesystemEventType.CREATE) in seen
        assert ("sub", FilesystemEventType.CREATE) in seen
        assert ("sub/b.txt", FilesystemEventType.CREATE) in seen
        assert ("a.txt", FilesystemEventType.REMOVE) in seen
    finally:
        handle.stop()
    with pytest.raises(SandboxException):
        handle.get_new_events()
    with pytest.raises(NotFoundException):
        sbx.files.watch_dir("/home/user/not-there")


def test_run_exit_codes(sbx: Sandbox) -> None:
    result = sbx.commands.run("echo out; echo err >&2")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "out\n", "err\n")
    with pytest.raises(CommandExitException) as failed:
        sbx.commands.run("echo partial; exit 3")
    assert failed.value.exit_code == 3 and failed.value.stdout == "partial\n"


def test_run_envs_cwd_user(sbx: Sandbox) -> None:
    result = sbx.commands.run("echo $GREETING; pwd; whoami", envs={"GREETING": "hi"}, cwd="/tmp")
    assert result.stdout == "hi\n/tmp\nuser\n"
    assert sbx.commands.run("whoami; echo $HOME", user="root").stdout == "root\n/root\n"
    # The sandbox's own variables (given at create) reach every command; per-command ones win.
    assert sbx.commands.run("echo $FROM_CREATE").stdout == "yes\n"
    assert sbx.commands.run("echo $FROM_CREATE", envs={"FROM_CREATE": "no"}).stdout == "no\n"


def test_background_connect_list_kill(sbx: Sandbox) -> None:
    handle = sbx.commands.run("echo started; sleep 30", background=True)
    assert handle.pid in [p.pid for p in sbx.commands.list()]
    listed = next(p for p in sbx.commands.list() if p.pid == handle.pid)
    assert listed.cmd == "/bin/bash" and listed.args[-1] == "echo started; sleep 30"
    again = sbx.commands.connect(handle.pid)
    assert again.pid == handle.pid
    assert sbx.commands.kill(handle.pid) is True
    with pytest.raises(CommandExitException) as killed:
        handle.wait()
    assert killed.value.exit_code == -1
    assert "started" in killed.value.stdout
    assert handle.pid not in [p.pid for p in sbx.commands.list()]
    assert sbx.commands.kill(handle.pid) is False  # gone
    assert sbx.commands.kill(999_999) is False
    finished = sbx.commands.run("echo quick", background=True)
    assert finished.wait().stdout == "quick\n"


def test_stdin_send_and_close(sbx: Sandbox) -> None:
    handle = sbx.commands.run("cat; echo done", background=True, stdin=True)
    sbx.commands.send_stdin(handle.pid, "line one\n")
    sbx.commands.stream_input(handle.pid, ["line ", b"two\n"])
    sbx.commands.close_stdin(handle.pid)
    assert handle.wait().stdout == "line one\nline two\ndone\n"


def test_timeout_kills_the_command(sbx: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sbx.commands.run("sleep 30", timeout=1.5)
    assert time.monotonic() - started < 10
    # The SDK enforces the deadline too, so it may hear of it just before the sandbox acts.
    deadline = time.monotonic() + 5
    while [p for p in sbx.commands.list() if "sleep 30" in " ".join(p.args)]:
        assert time.monotonic() < deadline, "the timed-out command is still running"
        time.sleep(0.1)


def test_pty_input_resize_kill(sbx: Sandbox) -> None:
    terminal = sbx.pty.create(PtySize(rows=24, cols=80), envs={"MARK": "pty-ok"})
    sbx.pty.send_stdin(terminal.pid, b"stty size; echo $TERM $MARK\n")
    sbx.pty.resize(terminal.pid, PtySize(rows=30, cols=100))
    sbx.pty.send_stdin(terminal.pid, b"stty size; exit 7\n")
    output: list[bytes] = []
    with pytest.raises(CommandExitException) as ended:
        terminal.wait(on_pty=output.append)
    assert ended.value.exit_code == 7
    text = b"".join(output).decode(errors="replace")
    assert "xterm-256color pty-ok" in text
    assert "30 100" in text
    other = sbx.pty.create(PtySize(rows=10, cols=40))
    assert sbx.pty.kill(other.pid) is True
    with pytest.raises(CommandExitException):
        other.wait()


def test_code_interpreter_sandbox_has_envd_too(e2b_metadata: dict[str, str]) -> None:
    from e2b_code_interpreter import Sandbox as CodeInterpreter

    with CodeInterpreter.create(metadata=e2b_metadata) as sandbox:
        sandbox.files.write("/home/user/ci.txt", "from envd")
        assert sandbox.commands.run("cat /home/user/ci.txt").stdout == "from envd"
    # Killed: every envd call says so the SDK's way.
    assert not sandbox.is_running()
    with pytest.raises(SandboxNotRunningException):
        sandbox.files.read("/home/user/ci.txt")
    with pytest.raises(SandboxNotRunningException):
        sandbox.commands.run("true")
    with pytest.raises(SandboxNotRunningException):
        sandbox.files.list("/home/user")
