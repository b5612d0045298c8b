"""Create, list, connect, timeouts, the reaper and restarts of the front end (issue #2)."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sqlite3
import threading
import time

import httpx
import pytest

from interpreter_sdk import NotFoundError, Sandbox

from ..conftest import RUN_ID, Server, start_server, stop_server
from .host import alive, cgroups_of, folder_of, mounted_under, sandbox_tree


def test_list_filters_on_metadata(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    tag = f"list-{time.monotonic_ns()}"
    a = sandbox_factory(metadata={"tag": tag, "role": "a"})
    sandbox_factory(metadata={"tag": tag, "role": "b"})
    assert {s.id for s in Sandbox.list(metadata={"tag": tag})} >= {a.sandbox_id}
    assert len(Sandbox.list(metadata={"tag": tag})) == 2
    assert [s.id for s in Sandbox.list(metadata={"tag": tag, "role": "a"})] == [a.sandbox_id]
    assert a.get_info().metadata == {"test_run": RUN_ID, "tag": tag, "role": "a"}


def test_connect_reaches_the_same_sandbox(sandbox: Sandbox) -> None:
    sandbox.run_code("z = 'kept'")
    other = Sandbox.connect(sandbox.sandbox_id)
    assert other.run_code("z").text == "kept"
    other.close()


def test_reaper_kills_an_expired_sandbox(server: Server, sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory(timeout=2)
    folder = folder_of(server, sbx.sandbox_id)
    assert folder.exists()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and folder.exists():
        time.sleep(0.2)
    assert not folder.exists()
    with pytest.raises(NotFoundError):
        Sandbox.connect(sbx.sandbox_id)


def test_set_timeout_extends_life(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory(timeout=4)
    sbx.set_timeout(60)
    time.sleep(5)
    assert sbx.run_code("1").text == "1"
    assert sbx.info.expires_at.timestamp() > time.time() + 50


def test_sandbox_and_its_idempotency_key_survive_a_front_end_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path, api_key="restart-key")
    body = {"metadata": {"test_run": RUN_ID}}
    key = {"Idempotency-Key": "create-" + secrets.token_hex(4)}
    try:
        sbx = Sandbox.create(api_url=srv.url, api_key="restart-key", metadata={"test_run": RUN_ID})
        sbx.run_code("survivor = 7")
        with srv.client() as http:
            keyed = http.post("/v1/sandboxes", json=body, headers=key).json()["id"]
            assert http.post("/v1/sandboxes", json=body, headers=key).json()["id"] == keyed
        stop_server(srv)
        srv = start_server(tmp_path, api_key="restart-key")
        again = Sandbox.connect(sbx.sandbox_id, api_url=srv.url, api_key="restart-key")
        assert again.run_code("survivor * 6").text == "42"
        again.kill()
        assert not folder_of(srv, sbx.sandbox_id).exists()
        with srv.client() as http:
            # A retry after the restart still gets the first create's sandbox...
            assert http.post("/v1/sandboxes", json=body, headers=key).json()["id"] == keyed
            bad = http.post("/v1/sandboxes", json=body, headers={"Idempotency-Key": "a b"})
            assert bad.status_code == 400 and "Idempotency-Key" in bad.text
            # ...until that sandbox is gone: then the key makes a new one.
            assert http.delete(f"/v1/sandboxes/{keyed}").status_code == 204
            fresh = http.post("/v1/sandboxes", json=body, headers=key).json()["id"]
            assert fresh != keyed
            assert http.delete(f"/v1/sandboxes/{fresh}").status_code == 204
    finally:
        with contextlib.suppress(httpx.HTTPError), srv.client() as http:
            for left in http.get("/v1/sandboxes").json():  # after a failed assertion
                http.delete(f"/v1/sandboxes/{left['id']}")
        stop_server(srv)


def test_create_whose_answer_is_lost_is_retried_without_a_second_sandbox(server: Server) -> None:
    proxy = AnswerDroppingProxy(int(server.url.rsplit(":", 1)[1]))
    tag = {"test_run": RUN_ID, "lost": secrets.token_hex(4)}
    sbx = Sandbox.create(metadata=tag, api_url=proxy.url, api_key=server.api_key)
    try:
        assert proxy.dropped.is_set()  # the first answer never reached the SDK...
        listed = Sandbox.list(metadata=tag, api_url=server.url, api_key=server.api_key)
        assert [s.id for s in listed] == [sbx.sandbox_id]  # ...yet one sandbox exists
        assert sbx.run_code("1 + 1").text == "2"
    finally:
        sbx.kill()
        proxy.close()


class AnswerDroppingProxy:
    """Forwards TCP to the server, but closes the connection of the first create once the
    server has started answering it: the sandbox exists, the client never hears of it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dropped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.port))
        first = client.recv(65536)
        upstream.sendall(first)
        forward = threading.Thread(target=_pipe, args=(client, upstream), daemon=True)
        forward.start()
        if first.startswith(b"POST /v1/sandboxes ") and not self.dropped.is_set():
            upstream.recv(1)  # the answer begins: the sandbox is ready
            self.dropped.set()
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            return
        _pipe(upstream, client)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def test_a_sandbox_whose_start_was_cut_short_is_cleaned_up_at_the_next_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The front end dies after launching a sandbox but before recording its PIDs: the next
    start finds the tree by its folder and removes processes, mounts, cgroups and folder."""
    srv = start_server(tmp_path, api_key="cut-key", INTERPRETER_POOL_SIZE="0")
    try:
        sbx = Sandbox.create(api_url=srv.url, api_key="cut-key", metadata={"test_run": RUN_ID})
        folder = folder_of(srv, sbx.sandbox_id)
        jail_pid, tree = sandbox_tree(folder)
        srv.process.kill()  # -9: no clean stop
        srv.process.wait()
        with sqlite3.connect(tmp_path / "interpreter.db") as db:  # as it was mid-start
            (raw,) = db.execute(
                "SELECT record FROM sandboxes WHERE id = ?", (sbx.sandbox_id,)
            ).fetchone()
            record = {**json.loads(raw), "state": "starting", "pid": None, "jail_pid": None}
            db.execute(
                "UPDATE sandboxes SET state = 'starting', record = ? WHERE id = ?",
                (json.dumps(record), sbx.sandbox_id),
            )
        srv = start_server(tmp_path, api_key="cut-key", INTERPRETER_POOL_SIZE="0")
        deadline = time.monotonic() + 30
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not folder.exists()
        assert not [pid for pid in tree if alive(pid)]
        assert not mounted_under(folder)
        assert not any(c.exists() for c in cgroups_of(jail_pid))
        with srv.client() as http:
            assert http.get(f"/v1/sandboxes/{sbx.sandbox_id}").status_code == 404
    finally:
        stop_server(srv)


def test_metrics_are_a_series_of_samples(server: Server, sandbox: Sandbox) -> None:
    time.sleep(1.2)  # the session server samples every 0.5 s (conftest)
    with server.client() as http:
        series = http.get(f"/v1/sandboxes/{sandbox.sandbox_id}/metrics").json()
        assert len(series) >= 3, series
        assert series == sorted(series, key=lambda m: m["timestamp"])
        assert all(0 < m["mem_used"] < m["mem_total"] for m in series)
        later = http.get(
            f"/v1/sandboxes/{sandbox.sandbox_id}/metrics", params={"start": "2999-01-01T00:00:00"}
        ).json()
        assert len(later) == 1  # nothing sampled then: only the use now
        bad = http.get(f"/v1/sandboxes/{sandbox.sandbox_id}/metrics", params={"start": "soon"})
        assert bad.status_code == 422
        assert http.get("/v1/sandboxes/nope/metrics").status_code == 404
