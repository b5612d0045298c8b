"""The MCP server: the tools of ``tools`` and ``file_tools`` and the sandboxes' files as
resources, on the ``mcp`` SDK's low-level ``Server``, for any transport (``stdio``, ``http``).

Errors, as MCP wants them: an unknown tool or arguments that do not fit its schema are the
protocol's invalid-params error, naming the field (``data: {"field": ...}``); whatever happens
when the tool runs (the code raised, no such file, the service refused) is a tool result with
``isError``, for the model to read.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from interpreter.mcp.conversations import STDIO, Conversations
from interpreter.mcp.file_tools import FILE_TOOLS, MAX_READ_BYTES
from interpreter.mcp.tools import CODE_TOOLS, Call, ToolSpec
from interpreter_sdk import AsyncSandbox, NotFoundError, SandboxError, ToolCallError
from interpreter_sdk.tools import DEFAULT_BUDGET, ToolOutput, check_arguments

TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in CODE_TOOLS + FILE_TOOLS}
SESSION_HEADER = "mcp-session-id"
FILES_TEMPLATE = "sandbox://{sandbox}/files{+path}"  # RFC 6570 "+": the absolute path as is
MAX_RESOURCES = 200  # files listed as resources, per conversation
INSTRUCTIONS = (
    "Tools to run code and commands in sandboxes (isolated Linux machines with Jupyter "
    "kernels). Each conversation gets its own sandbox at its first call and keeps it: "
    "variables and files persist between calls. Pass `sandbox` to use another one."
)

Context = ServerRequestContext[Conversations, Any]


def build_server(
    conversations: Callable[[], AbstractAsyncContextManager[Conversations]],
    budget: int = DEFAULT_BUDGET,
) -> Server[Conversations]:
    """The server; ``conversations`` is entered as its lifespan: once per connection over
    stdio, once for the whole process over streamable HTTP (which keys them by session)."""

    @asynccontextmanager
    async def lifespan(_: Server[Conversations]) -> AsyncIterator[Conversations]:
        async with conversations() as opened:
            yield opened

    async def list_tools(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(spec) for spec in TOOLS.values()])

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            known = ", ".join(TOOLS)
            raise _invalid(f"unknown tool {params.name!r}; the tools are {known}", "name")
        try:
            arguments = check_arguments(spec.schema, params.arguments or {}, spec.name)
            conversation = await ctx.lifespan_context.get(conversation_key(ctx))
            output = await spec.run(Call(conversation, arguments, origin_of(ctx), budget))
        except ToolCallError as exc:
            raise _invalid(str(exc), exc.field) from None
        except SandboxError as exc:
            output = ToolOutput(f"{type(exc).__name__}: {exc}", is_error=True)
        return _result(output)

    async def list_resource_templates(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            name="sandbox-file",
            uri_template=FILES_TEMPLATE,
            description="A file of a sandbox, by its absolute path",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def list_resources(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        # The files of the conversation's sandboxes (none is started for this).
        conversation = await ctx.lifespan_context.get(conversation_key(ctx))
        resources: list[types.Resource] = []
        for sandbox_id, sandbox in list(conversation.own.items()):
            try:
                entries = await sandbox.files.list("/home/user", depth=2)
            except SandboxError:
                continue  # gone meanwhile
            for entry in entries:
                if entry.type == "file" and len(resources) < MAX_RESOURCES:
                    resources.append(
                        types.Resource(
                            uri=file_uri(sandbox_id, entry.path),
                            name=entry.path,
                            mime_type=mimetypes.guess_type(entry.name)[0],
                            size=entry.size,
                        )
                    )
        return types.ListResourcesResult(resources=resources)

    async def read_resource(
        ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        sandbox_id, path = parse_file_uri(params.uri)
        conversation = await ctx.lifespan_context.get(conversation_key(ctx))

        async def read(sandbox: AsyncSandbox) -> bytes:
            if (await sandbox.files.get_info(path)).size > MAX_READ_BYTES:
                raise _invalid(f"{path} is larger than {MAX_READ_BYTES:,} bytes", "uri")
            return await sandbox.files.read_bytes(path)

        try:
            data, _ = await conversation.use(sandbox_id, read)
        except NotFoundError as exc:
            raise _invalid(f"no such file or sandbox: {exc}", "uri") from None
        mime_type = mimetypes.guess_type(path)[0]
        try:
            text = data.decode()
        except UnicodeDecodeError:
            blob = base64.b64encode(data).decode()
            contents: types.TextResourceContents | types.BlobResourceContents = (
                types.BlobResourceContents(uri=params.uri, mime_type=mime_type, blob=blob)
            )
        else:
            contents = types.TextResourceContents(uri=params.uri, mime_type=mime_type, text=text)
        return types.ReadResourceResult(contents=[contents])

    return Server(
        "interpreter",
        title="Code interpreter",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
    )


def conversation_key(ctx: Context) -> str | None:
    """The conversation a request belongs to: its MCP session; over stdio (no HTTP request)
    the connection's one; None for a request without a session (stateless HTTP)."""
    request = ctx.request
    if request is None:
        return STDIO
    session: str | None = request.headers.get(SESSION_HEADER)
    return session


def origin_of(ctx: Context) -> str | None:
    request = ctx.request
    if request is None:
        return None
    return f"{request.url.scheme}://{request.url.netloc}"


def file_uri(sandbox_id: str, path: str) -> str:
    return f"sandbox://{sandbox_id}/files{quote(path)}"


def parse_file_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "sandbox" or not parts.netloc or not parts.path.startswith("/files/"):
        raise _invalid(f"not a sandbox file: {uri!r} (expected sandbox://ID/files/PATH)", "uri")
    return parts.netloc, unquote(parts.path.removeprefix("/files"))


def _tool(spec: ToolSpec) -> types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=spec.read_only, open_world_hint=False)
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.schema,
        annotations=annotations,
    )


def _result(output: ToolOutput) -> types.CallToolResult:
    content: list[types.ContentBlock] = [types.TextContent(text=output.text)]
    for image in output.images:  # SVG too: MCP hosts decide what they can show
        content.append(types.ImageContent(data=image.data, mime_type=image.media_type))
    return types.CallToolResult(content=content, is_error=output.is_error)


def _invalid(message: str, field: str | None) -> MCPError:
    return MCPError(INVALID_PARAMS, message, {"field": field} if field else None)
