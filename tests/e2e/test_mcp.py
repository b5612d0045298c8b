"""The MCP server through the mcp package's own client: over stdio (``interpreter mcp``) and
over streamable HTTP (the front end's /mcp), against the real service (issue #20)."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from interpreter_sdk import AsyncSandbox, NotFoundError, Sandbox, tools

from ..conftest import REPO, Server

Session = Callable[[Server], AbstractAsyncContextManager[ClientSession]]
TOOLS = {
    "run_code", "run_command", "create_sandbox", "list_sandboxes", "kill_sandbox",
    "read_file", "write_file", "list_files", "download_url", "upload_url",
}  # fmt: skip
STARTED = re.compile(r"started sandbox (\S+) for this conversation")


@asynccontextmanager
async def stdio_session(server: Server, *options: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "interpreter.cli", "mcp", *options],
        env={"INTERPRETER_API_URL": server.url, "INTERPRETER_API_KEY": server.api_key},
        cwd=REPO,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(server: Server, key: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(server.url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


TRANSPORTS = pytest.mark.parametrize(
    "connect", [stdio_session, http_session], ids=["stdio", "http"]
)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario)


async def started_sandbox(session: ClientSession) -> str:
    """The conversation's own sandbox, started by a first call."""
    result = await session.call_tool("run_code", {"code": "started = True"})
    found = STARTED.search(text_of(result))
    assert found, text_of(result)
    return found.group(1)


def gone(sandbox_id: str) -> bool:
    try:
        Sandbox.connect(sandbox_id).close()
    except NotFoundError:
        return True
    return False


@TRANSPORTS
def test_tools_are_listed_with_schemas_for_models(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(listed) == TOOLS
            run_code = listed["run_code"]
            assert run_code.input_schema["required"] == ["code"]
            assert "javascript" in run_code.input_schema["properties"]["language"]["enum"]
            assert {"sandbox", "context", "timeout"} <= set(run_code.input_schema["properties"])
            description = run_code.description or ""
            assert "python" in description and len(description) < 800
            assert (
                listed["read_file"].annotations and listed["read_file"].annotations.read_only_hint
            )

    run(scenario)


@TRANSPORTS
def test_code_prints_plots_and_keeps_its_variables(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            first = await session.call_tool("run_code", {"code": "x = 41\nprint('hello')"})
            assert not first.is_error and "[stdout]\nhello" in text_of(first)
            assert STARTED.search(text_of(first))
            code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
            plot = await session.call_tool("run_code", {"code": code})
            images = [c for c in plot.content if isinstance(c, types.ImageContent)]
            assert len(images) == 1 and images[0].mime_type == "image/png"
            assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
            again = await session.call_tool("run_code", {"code": "x + 1"})
            assert text_of(again) == "[result]\n42"  # same sandbox, no note
            table = await session.call_tool(
                "run_code",
                {"code": "import pandas as pd\npd.DataFrame({'name': ['ada'], 'n': [7]})"},
            )
            assert "name" in text_of(table) and "ada" in text_of(table)
            js = await session.call_tool(
                "run_code", {"code": "console.log(6 * 7)", "language": "javascript"}
            )
            assert "42" in text_of(js)

    run(scenario)


@TRANSPORTS
def test_code_that_raises_is_a_tool_error(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            result = await session.call_tool("run_code", {"code": "print('before')\n1 / 0"})
            assert result.is_error
            text = text_of(result)
            assert "[stdout]\nbefore" in text and "ZeroDivisionError: division by zero" in text
            assert "\x1b[" not in text  # no terminal colours for a model
            slow = await session.call_tool(
                "run_code",
                {"code": "print('tick', flush=True)\nimport time\ntime.sleep(30)", "timeout": 2},
            )
            assert slow.is_error and "[timeout]" in text_of(slow) and "tick" in text_of(slow)
            after = await session.call_tool("run_code", {"code": "'still here'"})
            assert not after.is_error and "still here" in text_of(after)

    run(scenario)


@TRANSPORTS
def test_bad_calls_are_invalid_params_naming_the_field(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            for name, arguments, field in [
                ("run_code", {"language": "python"}, "code"),
                ("run_code", {"code": "1", "language": "cobol"}, "language"),
                ("run_code", {"code": "1", "timeout": "soon"}, "timeout"),
                ("read_file", {"path": "a", "mode": "rb"}, "mode"),
                ("teleport", {}, "name"),
            ]:
                with pytest.raises(MCPError) as caught:
                    await session.call_tool(name, arguments)
                assert caught.value.code == types.INVALID_PARAMS, (name, arguments)
                assert caught.value.data == {"field": field}
                assert field in caught.value.message or name == "teleport"

    run(scenario)


@TRANSPORTS
def test_conversations_have_sandboxes_of_their_own(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as one, connect(server) as two:
            await one.call_tool("run_code", {"code": "secret = 'one'"})
            other = await two.call_tool("run_code", {"code": "secret"})
            assert other.is_error and "NameError" in text_of(other)
            mine = await one.call_tool("run_code", {"code": "secret"})
            assert text_of(mine) == "[result]\none"

    run(scenario)


@TRANSPORTS
def test_a_session_that_ends_kills_its_sandboxes(server: Server, connect: Session) -> None:
    async def scenario() -> list[str]:
        async with connect(server) as session:
            own = await started_sandbox(session)
            made = await session.call_tool("create_sandbox", {})
            extra = re.search(r"created sandbox (\S+)", text_of(made))
            assert extra, text_of(made)
            listed = text_of(await session.call_tool("list_sandboxes", {}))
            assert (
                own in listed and extra.group(1) in listed and "(this conversation's own)" in listed
            )
            return [own, extra.group(1)]

    made: list[str] = []

    async def capture() -> None:
        made.extend(await scenario())

    run(capture)
    for _ in range(100):  # the stdio server kills them as its process ends
        if all(gone(sandbox_id) for sandbox_id in made):
            break
        anyio.run(anyio.sleep, 0.1)
    assert all(gone(sandbox_id) for sandbox_id in made)


@TRANSPORTS
def test_a_killed_sandbox_is_replaced_and_the_answer_says_so(
    server: Server, connect: Session
) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            first = await started_sandbox(session)
            Sandbox.connect(first).kill()  # behind the conversation's back
            result = await session.call_tool("run_code", {"code": "'started' in globals()"})
            text = text_of(result)
            assert f"sandbox {first} is gone (killed or expired)" in text, text
            assert text.endswith("[result]\nFalse")
            killed = await session.call_tool("kill_sandbox", {})
            assert "killed sandbox" in text_of(killed)
            result = await session.call_tool("run_code", {"code": "1"})
            assert "is gone" in text_of(result) and text_of(result).endswith("[result]\n1")

    run(scenario)


def test_an_unused_sandbox_expires_and_the_next_call_says_so(server: Server) -> None:
    async def scenario() -> None:
        async with stdio_session(server, "--idle-timeout", "2") as session:
            first = await started_sandbox(session)
            slow = await session.call_tool("run_code", {"code": "import time\ntime.sleep(3)\n7"})
            assert text_of(slow) == "[result]\n7"  # lives as long as a call runs...
            await anyio.sleep(4)  # ...then 2 s more
            assert gone(first)
            result = await session.call_tool("run_code", {"code": "'started' in globals()"})
            assert f"sandbox {first} is gone" in text_of(result)
            assert text_of(result).endswith("[result]\nFalse")

    run(scenario)


@TRANSPORTS
def test_long_output_is_cut_and_kept_whole_in_a_file(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            result = await session.call_tool(
                "run_code", {"code": "for i in range(20000): print('line', i)"}
            )
            text = text_of(result)
            assert "line 0\n" in text and text.endswith("line 19999")
            marker = re.search(r"output truncated: ([\d,]+) characters cut; the whole output "
                               r"is in the file (\S+) \.\.\.", text)  # fmt: skip
            assert marker, text[:500]
            assert len(text) < 25_000
            count = await session.call_tool("run_command", {"command": f"wc -l < {marker[2]}"})
            assert text_of(count).endswith("\n20000")  # the [stdout] label and every line

    run(scenario)


@TRANSPORTS
def test_files_commands_and_urls(server: Server, connect: Session) -> None:
    async def scenario() -> None:
        async with connect(server) as session:
            wrote = await session.call_tool(
                "write_file", {"path": "data/notes.txt", "content": "hello file\n"}
            )
            assert "wrote /home/user/data/notes.txt (11 bytes)" in text_of(wrote)
            read = await session.call_tool("read_file", {"path": "data/notes.txt"})
            assert text_of(read).endswith("hello file\n")
            listed = await session.call_tool("list_files", {"path": "data"})
            assert "file  /home/user/data/notes.txt  11 bytes" in text_of(listed)
            command = await session.call_tool(
                "run_command", {"command": "cat data/notes.txt; id -un"}
            )
            assert "exit code 0" in text_of(command) and "hello file\nuser" in text_of(command)
            failed = await session.call_tool("run_command", {"command": "exit 3"})
            assert failed.is_error and "exit code 3" in text_of(failed)
            missing = await session.call_tool("read_file", {"path": "nope.txt"})
            assert missing.is_error and "NotFoundError" in text_of(missing)
            await session.call_tool(
                "run_code",
                {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('p.png')"},
            )
            image = await session.call_tool("read_file", {"path": "p.png"})
            assert [c.mime_type for c in image.content if isinstance(c, types.ImageContent)] == [
                "image/png"
            ]
            url = re.search(r"https?://\S+", text_of(await session.call_tool(
                "download_url", {"path": "data/notes.txt"})))  # fmt: skip
            assert url and url[0].startswith(server.url)
            assert httpx.get(url[0]).text == "hello file\n"  # no key needed
            url = re.search(r"^https?://\S+$", text_of(await session.call_tool(
                "upload_url", {"path": "up.txt"})), re.M)  # fmt: skip
            assert url and httpx.put(url[0], content=b"uploaded").is_success
            assert text_of(await session.call_tool("read_file", {"path": "up.txt"})) == "uploaded"
            # The same files as resources.
            templates = await session.list_resource_templates()
            assert templates.resource_templates[0].uri_template.startswith("sandbox://")
            resources = {r.name: r.uri for r in (await session.list_resources()).resources}
            uri = resources["/home/user/data/notes.txt"]
            contents = (await session.read_resource(uri)).contents
            assert isinstance(contents[0], types.TextResourceContents)
            assert contents[0].text == "hello file\n"

    run(scenario)


def test_mcp_over_http_wants_the_key_as_a_bearer_token(server: Server) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}}  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in [
        {},
        {"X-API-Key": server.api_key},  # the native API's header is not what MCP hosts send
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {server.api_key}"},
    ]:
        response = httpx.post(server.url + "/mcp", json=body, headers={**accept, **headers})
        assert response.status_code == 401, headers
        assert response.json()["error"]["type"] == "AuthenticationError"
        assert response.headers["www-authenticate"].startswith("Bearer")
    ok = httpx.post(
        server.url + "/mcp", json=body,
        headers={**accept, "Authorization": f"Bearer {server.api_key}"},
    )  # fmt: skip
    assert ok.status_code == 200 and "mcp-session-id" in ok.headers
    httpx.delete(
        server.url + "/mcp",
        headers={"Authorization": f"Bearer {server.api_key}",
                 "mcp-session-id": ok.headers["mcp-session-id"]},
    )  # fmt: skip

    async def wrong_key() -> None:
        async with http_session(server, key="wrong"):
            pass

    with pytest.raises(Exception):  # noqa: B017 - the client's own error for a 401
        run(wrong_key)


def test_a_stateless_request_must_name_its_sandbox(server: Server) -> None:
    """Protocol 2026-07-28 has no sessions: no conversation, so no sandbox of its own."""
    from mcp import Client

    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            transport = streamable_http_client(server.url + "/mcp", http_client=http)
            async with Client(transport, mode="2026-07-28") as client:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("run_code", {"code": "1"})
                assert caught.value.code == types.INVALID_PARAMS
                assert caught.value.data == {"field": "sandbox"}
                made = await client.call_tool("create_sandbox", {})
                sandbox_id = re.search(r"created sandbox (\S+)", text_of(made))
                assert sandbox_id and f'pass sandbox="{sandbox_id[1]}"' in text_of(made)
                await client.call_tool("run_code", {"code": "z = 5", "sandbox": sandbox_id[1]})
                z = await client.call_tool("run_code", {"code": "z", "sandbox": sandbox_id[1]})
                assert text_of(z) == "[result]\n5"
                await client.call_tool("kill_sandbox", {"sandbox": sandbox_id[1]})
                assert gone(sandbox_id[1])

    run(scenario)


# -- interpreter_sdk.tools: the same answers for a host that drives the model itself ------------


def test_sdk_tool_handles_anthropic_and_openai_calls(sandbox: Sandbox) -> None:
    plot = "import matplotlib.pyplot as plt\nprint('hi')\nplt.plot([1, 2])\nplt.show()\n6 * 7"
    call = {"type": "tool_use", "id": "toolu_1", "name": "run_code", "input": {"code": plot}}
    block = tools.handle(call, sandbox).anthropic()
    assert block["tool_use_id"] == "toolu_1" and block["is_error"] is False
    assert block["content"][0]["text"] == (
        "[stdout]\nhi\n[result]\nimage 1 (image/png)\n[result]\n42"
    )
    assert block["content"][1]["source"]["media_type"] == "image/png"
    assert base64.b64decode(block["content"][1]["source"]["data"]).startswith(b"\x89PNG")

    arguments = json.dumps({"code": "print('x' * 50000)"})
    flood = {"id": "call_1", "type": "function",
             "function": {"name": "run_code", "arguments": arguments}}  # fmt: skip
    messages = tools.handle(flood, sandbox, budget=2000).openai()
    assert messages[0]["role"] == "tool" and messages[0]["tool_call_id"] == "call_1"
    text = messages[0]["content"]
    assert "output truncated" in text and len(text) < 2300
    saved = re.search(r"in the file (\S+) \.\.\.", text)
    assert saved and sandbox.files.read(saved[1]) == "[stdout]\n" + "x" * 50000

    raised = tools.handle({**call, "input": {"code": "1 / 0"}}, sandbox)
    assert raised.is_error and "ZeroDivisionError: division by zero" in raised.text
    wrong = tools.handle({**call, "input": {"code": "1", "language": "cobol"}}, sandbox)
    assert wrong.is_error and "language" in wrong.text

    async def with_async() -> None:
        again = await AsyncSandbox.connect(sandbox.sandbox_id)
        try:
            answer = await tools.handle_async({**call, "input": {"code": "6 * 7"}}, again)
            assert answer.text == "[result]\n42" and answer.call_id == "toolu_1"
            slow = {"code": "import time\nprint('a', flush=True)\ntime.sleep(20)", "timeout": 2}
            timed_out = await tools.handle_async({**call, "input": slow}, again)
            assert timed_out.is_error and timed_out.text.startswith("[timeout]")
            assert "[stdout]\na" in timed_out.text
        finally:
            await again.close()  # not a kill: the fixture's sandbox

    run(with_async)
