"""One-shot runs (POST /v1/run, Sandbox.run in both SDKs, `interpreter run`): a sandbox for one
run, files in and out, and the sandbox gone afterwards, also when the client leaves mid-run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from interpreter_sdk import ExecutionTimeoutError, InvalidRequestError, Sandbox
from tests.conftest import RUN_ID, Server

pytestmark = pytest.mark.timeout(300)
JS = Path(__file__).resolve().parents[2] / "sdk" / "js"
NODE = Path(sys.executable).parent / "node"


def tagged(test: str) -> dict[str, str]:
    return {"test_run": RUN_ID, "one_shot": test}


def assert_gone(metadata: dict[str, str], within: float = 0.0) -> None:
    deadline = time.monotonic() + within
    while Sandbox.list(metadata=metadata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Sandbox.list(metadata=metadata) == []


def test_code_with_files_in_and_out(server: Server) -> None:
    result = Sandbox.run(
        code="data = open('in/data.bin', 'rb').read()\n"
        "open('/tmp/out.txt', 'w').write(open('hello.txt').read().upper() + str(list(data)))\n"
        "print('printed')\n"
        "6 * 7",
        files={"hello.txt": "hi", "in/data.bin": b"\x00\xff"},
        read_files=["/tmp/out.txt", "missing.txt", "in/data.bin"],
        metadata=tagged("code"),
    )
    assert result.execution is not None and result.command is None
    assert result.execution.text == "42"
    assert result.execution.logs.stdout == ["printed\n"]
    assert result.files == {"/tmp/out.txt": b"HI[0, 255]", "in/data.bin": b"\x00\xff"}
    assert_gone(tagged("code"))


def test_command_and_the_cli(server: Server, tmp_path: Path) -> None:
    result = Sandbox.run(cmd="echo out; echo err >&2; exit 3", metadata=tagged("cmd"))
    assert result.command is not None and result.execution is None
    assert (result.command.stdout, result.command.stderr, result.command.exit_code) == (
        "out\n", "err\n", 3,
    )  # fmt: skip
    assert_gone(tagged("cmd"))
    cli = [sys.executable, "-m", "interpreter.cli", "run"]
    run = subprocess.run(
        [*cli, "--", "sh", "-c", "echo hi; exit 4"], capture_output=True, text=True
    )
    assert (run.returncode, run.stdout) == (4, "hi\n"), run.stderr
    (tmp_path / "n.txt").write_text("5")
    run = subprocess.run(
        [*cli, "print(int(open('n.txt').read()) * 2)", "--put", f"{tmp_path / 'n.txt'}",
         "--get", "n.txt", "--output-dir", str(tmp_path / "got")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "10\n"), run.stderr
    assert (tmp_path / "got" / "n.txt").read_text() == "5"
    run = subprocess.run([*cli, "1/0"], capture_output=True, text=True)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stderr


def test_bad_input_and_timeouts(server: Server) -> None:
    with server.client() as client:
        bad = [
            {},
            {"code": "1", "cmd": "true"},
            {"cmd": "true", "files": {"a/": "x"}},
            {"code": "1", "read_files": [""]},
            {"code": "1", "files": {"x": {"content": "%%", "encoding": "base64"}}},
        ]
        for body in bad:
            answer = client.post("/v1/run", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"]["type"] == "InvalidRequestError"
    with pytest.raises(InvalidRequestError, match="either code or cmd"):
        Sandbox.run()
    with pytest.raises(ExecutionTimeoutError):
        Sandbox.run(code="import time; time.sleep(30)", timeout=1, metadata=tagged("slow"))
    assert_gone(tagged("slow"))
    result = Sandbox.run(cmd="sleep 30", timeout=1, metadata=tagged("slow-cmd"))
    assert result.command is not None and result.command.exit_code != 0
    assert "timed out" in (result.command.error or "")
    assert_gone(tagged("slow-cmd"))


def test_a_client_that_leaves_mid_run_leaves_no_sandbox(server: Server) -> None:
    body = json.dumps(
        {"code": "import time; time.sleep(120)", "timeout": 150, "metadata": tagged("left")}
    ).encode()
    url = urlsplit(server.url)
    head = (
        f"POST /v1/run HTTP/1.1\r\nHost: {url.netloc}\r\nX-API-Key: {server.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    # A raw socket: closed at a moment of our choosing, mid-run, as a client that goes away.
    with socket.create_connection((url.hostname, url.port)) as connection:
        connection.sendall(head.encode() + body)
        deadline = time.monotonic() + 60
        while not Sandbox.list(metadata=tagged("left")):
            assert time.monotonic() < deadline, "the run's sandbox never appeared"
            time.sleep(0.2)
        time.sleep(1)  # the run is under way
    assert_gone(tagged("left"), within=20)


def test_js_sdk_run(server: Server) -> None:
    if not (JS / "dist" / "index.js").is_file():
        pytest.skip("run scripts/setup.sh")
    script = (
        "import { Sandbox } from './dist/index.js';"
        "const r = await Sandbox.run({ code: 'print(open(\"f\").read()); 2 + 3',"
        " files: { f: new Uint8Array([104, 105]) }, readFiles: ['f'],"
        f" metadata: {{ test_run: '{RUN_ID}', one_shot: 'js' }} }});"
        "console.log(JSON.stringify([r.execution.text, r.execution.logs.stdout, [...r.files.f]]));"
    )
    env = {**os.environ, "INTERPRETER_API_URL": server.url, "INTERPRETER_API_KEY": server.api_key}
    run = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        cwd=JS, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == '["5",["hi\\n"],[104,105]]'
    assert_gone(tagged("js"))
