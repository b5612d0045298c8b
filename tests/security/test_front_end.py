"""The front end under attack (issue #11, item 7): bodies refused before they are read, tenant
env vars on no host command line and in no file another host user can read, a generated key in
no log, the OpenAPI pages off on request. Against the real server."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import Server, start_server, stop_server

GIB = 1 << 30
CHUNK = 1 << 20
MAX_BODY = 16 << 20  # INTERPRETER_MAX_BODY_MB's default


class Counted:
    """A request body of ``total`` bytes, generated as it is sent, counting what was taken."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total, self.prefix, self.sent = total, prefix, 0

    def __iter__(self) -> Iterator[bytes]:
        if self.prefix:
            self.sent += len(self.prefix)
            yield self.prefix
        block = b"x" * CHUNK
        while self.sent < self.total:
            self.sent += len(block)
            yield block


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server as installed without choices: a generated key, every create a cold boot (the
    sandbox's env vars go through nsjail's launch), docs turned off."""
    home = tmp_path_factory.mktemp("bare-home")
    srv = start_server(
        home,
        api_key="",
        INTERPRETER_POOL_SIZE="0",
        INTERPRETER_SNAPSHOTS="false",
        INTERPRETER_DOCS="false",
    )
    srv.api_key = (home / "api-key").read_text().strip()
    yield srv
    stop_server(srv)


@pytest.mark.parametrize(
    ("path", "headers", "error_of"),
    [
        ("/v1/sandboxes", {}, lambda body: body["error"]["type"]),
        ("/v1/sandboxes", {"X-API-Key": "wrong"}, lambda body: body["error"]["type"]),
        ("/sandboxes", {}, lambda body: body["code"]),  # E2B's control plane, E2B's body
        ("/v2/sandboxes", {"X-API-KEY": "e2b_wrong"}, lambda body: body["code"]),
    ],
)
def test_a_huge_body_without_the_key_is_refused_unread(
    server: Server, path: str, headers: dict[str, str], error_of: object
) -> None:
    body = Counted(GIB, prefix=b'{"template": "')
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post(
            path, content=iter(body), headers={"content-type": "application/json", **headers}
        )
    assert response.status_code == 401
    assert error_of(response.json()) in ("AuthenticationError", 401)  # type: ignore[operator]
    assert response.headers["connection"] == "close"
    # What the kernel's socket buffers took before the connection was dropped, not a gigabyte.
    assert body.sent < 64 << 20, body.sent
    with server.client() as http:
        assert http.get("/v1/sandboxes").status_code == 200


def test_an_oversized_json_body_is_413(server: Server) -> None:
    code = "x" * (MAX_BODY + 1)
    with server.client() as http:
        # Declared too large: refused before a byte is read...
        response = http.post("/v1/sandboxes/nope/execute", json={"code": code})
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "HTTPError"
        assert "INTERPRETER_MAX_BODY_MB" in response.json()["error"]["message"]
        # ...and a chunked one as soon as it goes over.
        body = Counted(GIB, prefix=b'{"code": "')
        response = http.post(
            "/v1/sandboxes", content=iter(body), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "HTTPError"
        assert body.sent < MAX_BODY + (64 << 20), body.sent
        # E2B's control plane answers in its own shape.
        response = http.post("/v2/sandboxes", json={"templateID": code})
        assert response.status_code == 413 and response.json()["code"] == 413
        # A body under the limit is read as before.
        response = http.post("/v1/sandboxes/nope/execute", json={"code": "x" * (MAX_BODY // 2)})
        assert response.status_code == 404


def world_readable_with(home: Path, value: str) -> list[str]:
    """The files under ``home`` that any host user can read (every folder above lets others
    through, the file lets them read) and that contain ``value``: a walk that prunes what others
    cannot enter, as root, so it also sees the files at paths an attacker would have to guess."""
    assert all(folder.stat().st_mode & stat.S_IXOTH for folder in home.parents)
    found = []
    for folder, dirs, names in os.walk(home):
        dirs[:] = [d for d in dirs if _others_may(Path(folder, d), stat.S_IXOTH)]
        for name in names:
            path = Path(folder, name)
            if _others_may(path, stat.S_IROTH) and stat.S_ISREG(path.lstat().st_mode):
                with open(path, "rb") as file:
                    if value.encode() in file.read():
                        found.append(str(path))
    return found


def _others_may(path: Path, bit: int) -> bool:
    mode = path.lstat().st_mode
    return not stat.S_ISLNK(mode) and bool(mode & bit)


def on_command_lines(value: str) -> list[str]:
    hits = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if value.encode() in cmdline:
                hits.append(f"{proc.name}: {cmdline[:200]!r}")
    return hits


def test_env_vars_are_on_no_command_line_and_in_no_readable_file(bare_server: Server) -> None:
    secret = "h5-secret-" + secrets.token_hex(8)
    home = bare_server.home
    # The check works: a file anyone may read is found.
    control = home / "control.txt"
    control.write_text(secret)
    control.chmod(0o644)
    assert world_readable_with(home, secret) == [str(control)]
    control.unlink()

    with bare_server.client() as http:
        response = http.post("/v1/sandboxes", json={"envs": {"H5_SECRET": secret}})
        assert response.status_code == 201, response.text
        sandbox_id = response.json()["id"]
        try:
            url = f"/v1/sandboxes/{sandbox_id}"
            lines = http.post(
                url + "/execute", json={"code": "import os; print(os.environ['H5_SECRET'])"}
            ).text.splitlines()
            assert any(json.loads(line).get("text") == secret + "\n" for line in lines)
            # A file upload is not limited by INTERPRETER_MAX_BODY_MB: it streams.
            upload = http.put(url + "/files", params={"path": "big.bin"}, content=b"0" * (17 << 20))
            assert upload.status_code == 200, upload.text
            assert on_command_lines(secret) == []
            assert world_readable_with(home, secret) == []
            # Paused: the checkpoint (the sandbox's memory) is no one else's either.
            assert http.post(url + "/pause", json={"memory": True}).status_code == 200
            assert world_readable_with(home, secret) == []
        finally:
            http.delete(f"/v1/sandboxes/{sandbox_id}")
    for name in ("interpreter.db", "interpreter.db-wal", "interpreter.db-shm", "api-key"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_the_generated_key_is_in_no_log(bare_server: Server) -> None:
    key_file = bare_server.home / "api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.stat().st_uid == 0
    log = bare_server.log.read_text()
    assert bare_server.api_key not in log
    assert str(key_file) in log  # where to find it is said
    with bare_server.client() as http:
        assert http.get("/v1/sandboxes").status_code == 200
        assert http.get("/v1/sandboxes", headers={"X-API-Key": "x"}).status_code == 401
    assert os.environ.get("INTERPRETER_API_KEY") != bare_server.api_key


def test_docs_can_be_turned_off(bare_server: Server, server: Server) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(bare_server.url + path).status_code == 404
    assert httpx.get(server.url + "/openapi.json").status_code == 200  # on by default
