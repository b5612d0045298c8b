"""envd's wire format, byte for byte where the SDKs leave it implicit: Connect envelopes,
ProtoJSON field rules, keepalives, tags, errors in end-of-stream messages, the proxy's 502."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2b import Sandbox

from tests.conftest import Server

pytestmark = pytest.mark.timeout(120)
STREAM = "application/connect+json"


@pytest.fixture(scope="module")
def sbx(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata, timeout=300)
    yield sandbox
    sandbox.kill()


@pytest.fixture(scope="module")
def envd(sbx: Sandbox, server: Server) -> Iterator[httpx.Client]:
    headers = {
        "E2b-Sandbox-Id": sbx.sandbox_id,
        "E2b-Sandbox-Port": "49983",
        "X-Access-Token": sbx._envd_access_token or "",
    }
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


def envelope(message: dict[str, Any], flags: int = 0) -> bytes:
    data = json.dumps(message).encode()
    return struct.pack(">BI", flags, len(data)) + data


def frames(body: bytes) -> list[tuple[int, dict[str, Any]]]:
    found = []
    while body:
        flags, size = struct.unpack(">BI", body[:5])
        found.append((flags, json.loads(body[5 : 5 + size])))
        body = body[5 + size :]
    return found


def stream_call(
    envd: httpx.Client, method: str, message: dict[str, Any], **headers: str
) -> list[tuple[int, dict[str, Any]]]:
    answer = envd.post(
        method, content=envelope(message), headers={"Content-Type": STREAM, **headers}
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == STREAM
    return frames(answer.content)


def start(cmd: str, **extra: Any) -> dict[str, Any]:
    return {"process": {"cmd": "/bin/bash", "args": ["-c", cmd]}, **extra}


def test_start_stream_framing_and_keepalive(envd: httpx.Client) -> None:
    got = stream_call(
        envd,
        "/process.Process/Start",
        start("echo -n hi; sleep 2.5; echo -n err >&2"),
        **{"Keepalive-Ping-Interval": "1"},
    )
    assert got[0][0] == 0 and set(got[0][1]["event"]["start"]) == {"pid"}
    events = [message["event"] for _, message in got[1:-1]]
    assert {"data": {"stdout": "aGk="}} in events  # bytes as base64
    assert {"data": {"stderr": "ZXJy"}} in events
    assert {"keepalive": {}} in events  # nothing was said for over a second
    assert events[-1] == {"end": {"exited": True, "status": "exit status 0"}}  # zero left out
    assert got[-1] == (2, {})


def test_errors_travel_in_the_end_of_stream_message(envd: httpx.Client) -> None:
    got = stream_call(envd, "/process.Process/Start", start("true", process=None))
    assert got == [
        (2, {"error": {"code": "invalid_argument", "message": got[0][1]["error"]["message"]}})
    ]
    bad_cwd = {"process": {"cmd": "/bin/true", "cwd": "/nowhere"}}
    got = stream_call(envd, "/process.Process/Start", bad_cwd)
    assert got[-1][0] == 2 and got[-1][1]["error"]["code"] == "invalid_argument"
    got = stream_call(envd, "/filesystem.Filesystem/WatchDir", {"path": "/nowhere"})
    assert got[-1][1]["error"]["code"] == "not_found"
    bad_env = {"process": {"cmd": "/bin/true", "envs": {"A=B": "x"}}}
    got = stream_call(envd, "/process.Process/Start", bad_env)
    assert got[-1][0] == 2 and got[-1][1]["error"]["code"] == "invalid_argument"
    assert "'A=B'" in got[-1][1]["error"]["message"]


def test_a_finished_process_is_not_found(envd: httpx.Client) -> None:
    """envd forgets a process when it ends: connecting to it or feeding it is not_found."""
    done = stream_call(envd, "/process.Process/Start", start("true"))
    pid = done[0][1]["event"]["start"]["pid"]
    got = stream_call(envd, "/process.Process/Connect", {"process": {"pid": pid}})
    assert got == [
        (2, {"error": {"code": "not_found", "message": f"process with pid {pid} not found"}})
    ]
    for method, body in (
        ("SendInput", {"process": {"pid": pid}, "input": {"stdin": "eA=="}}),
        ("CloseStdin", {"process": {"pid": pid}}),
        ("Update", {"process": {"pid": pid}, "pty": {"size": {"cols": 80, "rows": 24}}}),
    ):
        answer = envd.post(f"/process.Process/{method}", json=body)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", method


def test_unary_protojson_rules(envd: httpx.Client) -> None:
    write = envd.post("/files", params={"path": "/home/user/wire.txt"}, content=b"12345",
                      headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert write.status_code == 200
    stat = envd.post("/filesystem.Filesystem/Stat", json={"path": "/home/user/wire.txt"})
    entry = stat.json()["entry"]
    assert stat.headers["content-type"] == "application/json"
    assert entry["size"] == "5"  # int64 as a string
    assert entry["type"] == "FILE_TYPE_FILE" and entry["modifiedTime"].endswith("Z")
    # Parsers take the proto names too (snake_case), and ignore what they do not know.
    made = envd.post(
        "/filesystem.Filesystem/CreateWatcher",
        json={"path": "/home/user", "include_entry": True, "unknown_field": 1},
    )
    watcher = made.json()["watcherId"]
    assert (
        envd.post("/filesystem.Filesystem/RemoveWatcher", json={"watcher_id": watcher}).json() == {}
    )
    missing = envd.post("/filesystem.Filesystem/GetWatcherEvents", json={"watcherId": watcher})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    exists = envd.post("/filesystem.Filesystem/MakeDir", json={"path": "/home/user"})
    assert exists.status_code == 409 and exists.json()["code"] == "already_exists"
    assert envd.post("/filesystem.Filesystem/Nope", json={}).status_code == 501
    bad = envd.post(
        "/filesystem.Filesystem/Stat", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_argument"


def test_processes_by_tag(envd: httpx.Client) -> None:
    request = start("sleep 30", tag="wire-tag")
    headers = {"Content-Type": STREAM}
    with envd.stream(
        "POST", "/process.Process/Start", content=envelope(request), headers=headers
    ) as answer:
        chunks = answer.iter_raw()
        first = next(chunks)
        assert frames(first)[0][1]["event"]["start"]["pid"] > 0
        listed = envd.post("/process.Process/List", json={}).json()["processes"]
        tagged = [p for p in listed if p.get("tag") == "wire-tag"]
        assert tagged and tagged[0]["config"]["args"] == ["-c", "sleep 30"]
        kill = {"process": {"tag": "wire-tag"}, "signal": "SIGNAL_SIGKILL"}
        assert envd.post("/process.Process/SendSignal", json=kill).json() == {}
        rest = frames(b"".join(chunks))
    end = rest[-2][1]["event"]["end"]
    assert end == {"exitCode": -1, "status": "signal: killed"}
    assert rest[-1] == (2, {})
    again = envd.post("/process.Process/SendSignal", json=kill)
    assert again.status_code == 404 and again.json()["code"] == "not_found"


def test_a_gone_sandbox_is_the_proxys_502(server: Server) -> None:
    headers = {"E2b-Sandbox-Id": "doesnotexist", "E2b-Sandbox-Port": "49983"}
    for method, path in [("GET", "/health"), ("GET", "/files"), ("POST", "/process.Process/List")]:
        answer = httpx.request(method, server.url + path, headers=headers, json={})
        assert answer.status_code == 502
        assert answer.json() == {
            "sandboxId": "doesnotexist",
            "message": "The sandbox was not found",
            "code": 502,
        }
