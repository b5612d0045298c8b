"""Create, list, connect, timeouts, the reaper and restarts of the front end (issue #2)."""

from __future__ import annotations

import time

import pytest

from interpreter_sdk import NotFoundError, Sandbox

from ..conftest import RUN_ID, Server, start_server, stop_server
from .host import folder_of


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


def test_sandbox_survives_a_front_end_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path, api_key="restart-key")
    try:
        sbx = Sandbox.create(api_url=srv.url, api_key="restart-key", metadata={"test_run": RUN_ID})
        sbx.run_code("survivor = 7")
        stop_server(srv)
        srv = start_server(tmp_path, api_key="restart-key")
        again = Sandbox.connect(sbx.sandbox_id, api_url=srv.url, api_key="restart-key")
        assert again.run_code("survivor * 6").text == "42"
        again.kill()
        assert not folder_of(srv, sbx.sandbox_id).exists()
    finally:
        stop_server(srv)
