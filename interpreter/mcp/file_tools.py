"""The MCP tools for a sandbox's files: read (text, or an image as image content), write, list,
and signed URLs to move big files in and out without going through the model."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit, urlunsplit

from interpreter.mcp.tools import SANDBOX, Call, ToolSpec, noted, schema
from interpreter_sdk import AsyncSandbox, EntryInfo
from interpreter_sdk.tools import Image as ImageData
from interpreter_sdk.tools import ToolOutput, truncate

MAX_READ_BYTES = 8 << 20  # larger files: download_url, or run_command (head, sed) for parts
MAX_ENTRIES = 500  # of one list_files answer
DEFAULT_URL_LIFETIME = 3600  # seconds
# Magic bytes -> the image types a model can be shown.
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}

PATH = {
    "type": "string",
    "minLength": 1,
    "description": "Path in the sandbox; relative ones are in /home/user.",
}


def image_type(data: bytes, path: str) -> str | None:
    for magic, media_type in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if path.lower().endswith(".svg"):
        return "image/svg+xml"
    return None


async def read_file(call: Call) -> ToolOutput:
    path = str(call.arguments["path"])

    async def read(sandbox: AsyncSandbox) -> ToolOutput:
        info = await sandbox.files.get_info(path)
        if (info.target_type or info.type) == "dir":
            return ToolOutput(f"{path} is a folder: list it with list_files", is_error=True)
        if info.size > MAX_READ_BYTES:
            return ToolOutput(
                f"{path} has {info.size:,} bytes, more than read_file takes "
                f"({MAX_READ_BYTES:,}): fetch it with download_url, or read parts of it with "
                "run_command (head, sed -n, grep)",
                is_error=True,
            )
        data = await sandbox.files.read_bytes(path)
        kind = image_type(data, path)
        if kind is not None:
            shown = ImageData(kind, base64.b64encode(data).decode())
            return ToolOutput(f"{path}: {kind}, {len(data):,} bytes", [shown])
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return ToolOutput(
                f"{path} is a binary file of {len(data):,} bytes: inspect it with run_command "
                "(file, xxd | head) or fetch it with download_url"
            )
        where = f"the file has {len(text):,} characters: read parts with run_command (sed -n)"
        return ToolOutput(truncate(text, call.budget, where) if text else "(empty file)")

    output, notes = await call.conversation.use(call.sandbox_id(), read)
    return noted(output, notes)


async def write_file(call: Call) -> ToolOutput:
    path, content = str(call.arguments["path"]), str(call.arguments["content"])

    async def write(sandbox: AsyncSandbox) -> EntryInfo:
        return await sandbox.files.write(path, content)

    entry, notes = await call.conversation.use(call.sandbox_id(), write)
    return noted(ToolOutput(f"wrote {entry.path} ({entry.size:,} bytes)"), notes)


async def list_files(call: Call) -> ToolOutput:
    path, depth = str(call.arguments.get("path", ".")), int(call.arguments.get("depth", 1))

    async def listing(sandbox: AsyncSandbox) -> list[EntryInfo]:
        return await sandbox.files.list(path, depth=depth)

    entries, notes = await call.conversation.use(call.sandbox_id(), listing)
    lines = [_line(entry) for entry in entries[:MAX_ENTRIES]]
    if len(entries) > MAX_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_ENTRIES} more entries: list a subfolder]")
    text = "\n".join(lines) or f"{path} is empty"
    where = "list a subfolder, or use a smaller depth"
    return noted(ToolOutput(truncate(text, call.budget, where)), notes)


def _line(entry: EntryInfo) -> str:
    if entry.type == "dir":
        return f"dir   {entry.path}/"
    if entry.type == "symlink":
        return f"link  {entry.path} -> {entry.symlink_target}"
    return f"file  {entry.path}  {entry.size:,} bytes"


async def download_url(call: Call) -> ToolOutput:
    return await _signed_url(call, "download")


async def upload_url(call: Call) -> ToolOutput:
    return await _signed_url(call, "upload")


async def _signed_url(call: Call, direction: str) -> ToolOutput:
    path = str(call.arguments["path"])
    lifetime = int(call.arguments.get("expires_in", DEFAULT_URL_LIFETIME))

    async def sign(sandbox: AsyncSandbox) -> str:
        files = sandbox.files
        make = files.download_url if direction == "download" else files.upload_url
        return await make(path, expires_in=lifetime)

    url, notes = await call.conversation.use(call.sandbox_id(), sign)
    url = public(url, call.origin)
    if direction == "download":
        text = f"GET this URL to download {path} (no key needed; valid {lifetime} s):\n{url}"
    else:
        text = (
            f"PUT the file's bytes to this URL to write {path} (no key needed; valid {lifetime} "
            f"s), e.g. curl -T FILE '{url}':\n{url}"
        )
    return noted(ToolOutput(text), notes)


def public(url: str, origin: str | None) -> str:
    """``url`` on the origin the client reached: served from the front end, the tools call it
    over loopback, and the service signs URLs for the address it was called on."""
    if origin is None:
        return url
    parts, reached = urlsplit(url), urlsplit(origin)
    return urlunsplit((reached.scheme, reached.netloc, parts.path, parts.query, ""))


URL_SCHEMA = schema(
    {
        "path": PATH,
        "expires_in": {
            "type": "integer",
            "minimum": 1,
            "maximum": 7 * 24 * 3600,
            "description": f"Seconds the URL is valid (default {DEFAULT_URL_LIFETIME}).",
        },
        "sandbox": SANDBOX,
    },
    ("path",),
)

FILE_TOOLS = [
    ToolSpec(
        "read_file",
        "Read a file of the sandbox: text (long text is cut; read parts with run_command), or "
        f"an image (PNG, JPEG, GIF, WebP, SVG) shown as an image. At most {MAX_READ_BYTES >> 20} "
        "MiB; larger files: download_url.",
        schema({"path": PATH, "sandbox": SANDBOX}, ("path",)),
        read_file,
        read_only=True,
    ),
    ToolSpec(
        "write_file",
        "Write text to a file of the sandbox (made with its folders, replaced if it exists). "
        "For large or binary files use upload_url.",
        schema(
            {"path": PATH, "content": {"type": "string"}, "sandbox": SANDBOX}, ("path", "content")
        ),
        write_file,
    ),
    ToolSpec(
        "list_files",
        "List a folder of the sandbox (default /home/user): each entry's type, path and size.",
        schema(
            {
                "path": {**PATH, "description": "The folder (default: /home/user)."},
                "depth": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Levels."},
                "sandbox": SANDBOX,
            }
        ),
        list_files,
        read_only=True,
    ),
    ToolSpec(
        "download_url",
        "A URL that downloads a file of the sandbox without the API key (for the user, a "
        "browser or curl): big or binary results without passing them through the model.",
        URL_SCHEMA,
        download_url,
        read_only=True,
    ),
    ToolSpec(
        "upload_url",
        "A URL that writes a file of the sandbox when its content is PUT to it, without the API "
        "key: for the user to upload data (curl -T FILE URL).",
        URL_SCHEMA,
        upload_url,
    ),
]
