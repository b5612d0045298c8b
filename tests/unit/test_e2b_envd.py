"""The envd adapter's pure parts: Connect framing, ProtoJSON field names, URL signatures (checked
against the official SDK's own signer), entry translation."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

from e2b.sandbox.signature import get_signature

from interpreter.api.e2b.envd import access, connect, messages
from interpreter.core import errors
from interpreter.core.protocol import EntryInfo, ProcessEnd


def test_signature_matches_the_sdks() -> None:
    for user in (None, "root"):
        for expiration in (None, 60):
            made = get_signature("/home/user/a b.txt", "read", user, "tok", expiration)
            ours = access.signature(
                "/home/user/a b.txt", "read", user or "", "tok", str(made["expiration"] or "")
            )
            assert ours == made["signature"]


def test_fields_by_proto_or_json_name() -> None:
    assert connect.field({"watcherId": "a"}, "watcher_id") == "a"
    assert connect.field({"watcher_id": "b"}, "watcher_id") == "b"
    assert connect.field({"path": "/"}, "include_entry", False) is False


def test_envelopes() -> None:
    frame = connect.envelope(0, {"a": 1})
    assert frame[:5] == struct.pack(">BI", 0, len(b'{"a":1}')) and frame[5:] == b'{"a":1}'
    end = connect.end_stream(connect.ConnectError("not_found", "gone"))
    assert end[0] == 2 and json.loads(end[5:]) == {
        "error": {"code": "not_found", "message": "gone"}
    }


def test_errors_map_to_connect_codes() -> None:
    assert connect.connect_error(errors.FileNotFoundInSandboxError("x")).code == "not_found"
    assert connect.connect_error(errors.InvalidRequestError("x")).code == "invalid_argument"
    assert connect.connect_error(errors.ConflictError("x")).code == "already_exists"
    assert connect.connect_error(errors.GatewayError("x")).code == "unavailable"
    assert connect.connect_error(RuntimeError("secret detail")).message == "internal error"


def collect(body: AsyncIterator[bytes]) -> list[tuple[int, dict[str, Any]]]:
    async def run() -> list[tuple[int, dict[str, Any]]]:
        out = []
        async for frame in body:
            out.append((frame[0], json.loads(frame[5:])))
        return out

    return asyncio.run(run())


def test_stream_keepalive_and_error_at_the_end() -> None:
    async def slow() -> AsyncIterator[dict[str, Any]]:
        yield {"n": 1}
        await asyncio.sleep(0.25)
        raise errors.FileNotFoundInSandboxError("vanished")

    frames = collect(connect._frames(slow(), {"keepalive": {}}, 0.1, None))
    assert frames[0] == (0, {"n": 1})
    assert (0, {"keepalive": {}}) in frames
    assert frames[-1] == (2, {"error": {"code": "not_found", "message": "vanished"}})


def test_stream_deadline() -> None:
    async def endless() -> AsyncIterator[dict[str, Any]]:
        while True:
            await asyncio.sleep(1)
            yield {}

    frames = collect(connect._frames(endless(), {}, 10, deadline=0.0))  # already over
    assert frames == [
        (2, {"error": {"code": "deadline_exceeded", "message": frames[0][1]["error"]["message"]}})
    ]


def test_entry_info_protojson() -> None:
    entry = {
        "name": "l",
        "path": "/home/user/l",
        "type": "symlink",
        "target_type": "dir",
        "size": 0,
        "mode": 0o120777,
        "permissions": "lrwxrwxrwx",
        "owner": "user",
        "group": "user",
        "modified_time": "2026-01-01T00:00:00+00:00",
        "symlink_target": "../../tmp",
        "resolved_target": "/tmp",
        "target_mode": 0o41777,
        "metadata": {},
    }
    info = messages.entry_info(EntryInfo.model_validate(entry))
    assert info == {  # envd: the target's type and permission bits, Go's string of the link's
        "name": "l",
        "type": "FILE_TYPE_DIRECTORY",
        "path": "/home/user/l",
        "mode": 0o777,
        "permissions": "Lrwxrwxrwx",
        "owner": "user",
        "group": "user",
        "modifiedTime": "2026-01-01T00:00:00Z",
        "symlinkTarget": "/tmp",
        "isSymlink": True,
    }
    plain = {**entry, "name": "f", "type": "file", "size": 12, "mode": 0o100644}
    plain.update(target_type=None, symlink_target=None, resolved_target=None, target_mode=None)
    info = messages.entry_info(EntryInfo.model_validate(plain))
    assert info["size"] == "12" and info["mode"] == 0o644  # int64 as a string
    assert info["permissions"] == "-rw-r--r--" and info["type"] == "FILE_TYPE_FILE"
    assert "isSymlink" not in info and "symlinkTarget" not in info
    gone = {"target_type": None, "resolved_target": None, "target_mode": None}
    dangling = messages.entry_info(EntryInfo.model_validate({**entry, **gone}))
    assert "type" not in dangling and "mode" not in dangling  # UNSPECIFIED, 0
    assert dangling["isSymlink"] is True and dangling["symlinkTarget"] == "/home/user/l"
    folder = messages.entry_info(
        EntryInfo.model_validate({**plain, "type": "dir", "mode": 0o41777})
    )
    assert folder["type"] == "FILE_TYPE_DIRECTORY" and folder["mode"] == 0o777  # no type bits
    assert folder["permissions"] == "dtrwxrwxrwx"
    fifo = messages.entry_info(EntryInfo.model_validate({**plain, "mode": 0o10644}))
    assert "type" not in fifo and fifo["permissions"] == "prw-r--r--"
    written = messages.write_info(EntryInfo.model_validate({**entry, "metadata": {"k": "v"}}))
    assert written == {"name": "l", "type": "file", "path": "/home/user/l", "metadata": {"k": "v"}}


def test_go_file_mode_strings() -> None:
    assert messages.go_permissions(0o40755) == "drwxr-xr-x"
    assert messages.go_permissions(0o104755) == "urwxr-xr-x"
    assert messages.go_permissions(0o102755) == "grwxr-xr-x"
    assert messages.go_permissions(0o20666) == "Dcrw-rw-rw-"
    assert messages.go_permissions(0o60660) == "Drw-rw----"
    assert messages.go_permissions(0o140755) == "Srwxr-xr-x"


def test_process_end_events() -> None:
    def end(exit_code: int) -> dict[str, Any]:
        return messages.process_end(ProcessEnd(type="end", exit_code=exit_code))

    assert end(0) == {"event": {"end": {"exited": True, "status": "exit status 0"}}}
    assert end(2)["event"]["end"]["exitCode"] == 2
    assert end(-99)["event"]["end"]["status"] == "signal: signal 99"
    killed = end(-9)["event"]["end"]
    assert killed == {"exitCode": -1, "status": "signal: killed"}
