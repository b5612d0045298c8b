"""Issue 14: a volume's folder is written by sandboxes; the host's volume content API follows no
link planted there and no ``..``, and never reaches a host path through them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interpreter_sdk import Sandbox

from ..conftest import RUN_ID, Server


@pytest.fixture(scope="module")
def planted(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A volume in which a sandbox (as root) planted links to a host file and a host folder."""
    host = tmp_path_factory.mktemp("host-secrets")
    (host / "secret.txt").write_text("host secret\n")
    name = f"sec-{secrets.token_hex(3)}"
    volume = Sandbox.create_volume(name, size_mb=16)
    try:
        with Sandbox.create(volume_mounts={"/v": name}, metadata={"test_run": RUN_ID}) as sbx:
            sbx.commands.run(
                f"ln -s {host}/secret.txt /v/file-link && ln -s {host} /v/dir-link "
                "&& mkfifo /v/fifo && mkdir -p /v/real && echo ok > /v/real/x",
                user="root",
            )
        yield volume.id, host
    finally:
        Sandbox.delete_volume(name)


def _client(server: Server, volume_id: str) -> httpx.Client:
    with server.client() as client:
        token = client.get(f"/volumes/{volume_id}", headers={"X-API-KEY": server.api_key})
    return httpx.Client(
        base_url=f"{server.url}/volumecontent/{volume_id}",
        headers={"Authorization": f"Bearer {token.json()['token']}"},
        timeout=30,
    )


def test_planted_links_are_never_followed(server: Server, planted: tuple[str, Path]) -> None:
    volume_id, host = planted
    with _client(server, volume_id) as api:
        assert api.get("/file", params={"path": "file-link"}).status_code == 400
        assert api.get("/file", params={"path": "dir-link/secret.txt"}).status_code == 400
        assert api.get("/dir", params={"path": "dir-link"}).status_code == 400
        assert api.get("/file", params={"path": "fifo"}).status_code in (400, 404)  # no hang
        put = api.put("/file", params={"path": "dir-link/planted.txt"}, content=b"x")
        assert put.status_code == 400 and "link" in put.json()["message"]
        bad = api.patch("/path", params={"path": "file-link"}, json={"mode": 0o777})
        assert bad.status_code == 400
        # force replaces the link itself, not the host file it points at
        assert api.put("/file", params={"path": "file-link", "force": "true"}, content=b"mine")
        assert (host / "secret.txt").read_text() == "host secret\n"
        assert not (host / "planted.txt").exists()
        listed = {e["name"]: e for e in api.get("/dir", params={"path": "/"}).json()}
        assert listed["dir-link"]["type"] == "symlink" and listed["dir-link"]["target"] == str(host)
        api.delete("/path", params={"path": "dir-link"})  # the link goes, not the folder
        assert (host / "secret.txt").exists()


def test_dotdot_and_wrong_tokens_are_refused(server: Server, planted: tuple[str, Path]) -> None:
    volume_id, _ = planted
    with _client(server, volume_id) as api:
        for path in ("../../etc/passwd", "real/../../x", "/.."):
            answer = api.get("/file", params={"path": path})
            assert answer.status_code == 400 and "'..'" in answer.json()["message"]
        assert api.get("/file", params={"path": "real/x"}).content == b"ok\n"
    other = httpx.get(
        f"{server.url}/volumecontent/{volume_id}/file",
        params={"path": "real/x"},
        headers={"Authorization": "Bearer " + "0" * 64},
    )
    assert other.status_code == 401
