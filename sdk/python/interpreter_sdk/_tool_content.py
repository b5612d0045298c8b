"""What a model reads back from a tool: an Execution (or any text) turned into labelled text
and images, cut to a budget with a marker, and shaped as OpenAI's or Anthropic's tool result.

No IO here: ``tools`` saves what is cut to a file in the sandbox and says where in the marker.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from interpreter_sdk._models import Execution, Result

DEFAULT_BUDGET = 20_000  # characters of text one tool result may hold
MAX_IMAGES = 8  # images one tool result may carry; more are named, not attached
NO_OUTPUT = "(no output)"
OVERFLOW_DIR = "/tmp/tool-output"  # where the whole of a cut output is saved, in the sandbox
# What OpenAI's and Anthropic's APIs take as an image (not SVG: MCP content can carry it).
RASTER = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# CSI and OSC sequences: IPython colours its tracebacks, which a model reads as noise.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass
class Image:
    media_type: str  # image/png, image/jpeg or image/svg+xml
    data: str  # base64


@dataclass
class ToolOutput:
    """A tool's answer for a model: text, images, and whether it is an error (the code raised,
    timed out, or the call could not be run). ``anthropic()`` / ``openai()`` shape it."""

    text: str
    images: list[Image] = field(default_factory=list)
    is_error: bool = False
    call_id: str | None = None  # the tool call's id, which the API wants back

    def anthropic(self) -> dict[str, Any]:
        """A ``tool_result`` content block for the next user message (Anthropic Messages)."""
        content: list[dict[str, Any]] = [{"type": "text", "text": self._text_for(RASTER)}]
        for image in self.images:
            if image.media_type in RASTER:
                source = {"type": "base64", "media_type": image.media_type, "data": image.data}
                content.append({"type": "image", "source": source})
        return {
            "type": "tool_result",
            "tool_use_id": self.call_id,
            "content": content,
            "is_error": self.is_error,
        }

    def openai(self) -> list[dict[str, Any]]:
        """Messages to append (OpenAI Chat Completions): the ``tool`` message, and, when there
        are images, a ``user`` message carrying them (a tool message takes text only)."""
        messages: list[dict[str, Any]] = [
            {"role": "tool", "tool_call_id": self.call_id, "content": self._text_for(RASTER)}
        ]
        images = [i for i in self.images if i.media_type in RASTER]
        if images:
            parts: list[dict[str, Any]] = [
                {"type": "text", "text": f"The images of tool call {self.call_id}:"}
            ]
            for image in images:
                url = f"data:{image.media_type};base64,{image.data}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
            messages.append({"role": "user", "content": parts})
        return messages

    def _text_for(self, accepted: frozenset[str]) -> str:
        left_out = [i.media_type for i in self.images if i.media_type not in accepted]
        if not left_out:
            return self.text
        return self.text + f"\n[not attached: {', '.join(left_out)} (the API takes raster images)]"


def render_execution(execution: Execution) -> tuple[str, list[Image]]:
    """The whole text of a run, in sections (``[stdout]``, ``[stderr]``, ``[result]``,
    ``[error]``), and its images; nothing cut yet."""
    sections: list[str] = []
    stdout, stderr = "".join(execution.logs.stdout), "".join(execution.logs.stderr)
    if stdout:
        sections.append("[stdout]\n" + strip_ansi(stdout).rstrip("\n"))
    if stderr:
        sections.append("[stderr]\n" + strip_ansi(stderr).rstrip("\n"))
    images: list[Image] = []
    for result in execution.results:
        shown = _images_of(result)
        if shown and len(images) < MAX_IMAGES:
            taken = shown[: MAX_IMAGES - len(images)]
            first = len(images) + 1
            names = ", ".join(f"image {first + n} ({i.media_type})" for n, i in enumerate(taken))
            images.extend(taken)
            sections.append(f"[result]\n{names}")
        elif shown:
            sections.append(f"[result]\nan image ({shown[0].media_type}): not attached, too many")
        else:
            text = _text_of(result)
            if text:
                sections.append("[result]\n" + text)
    if execution.error is not None:
        error = execution.error
        headline, detail = f"{error.name}: {error.value}", strip_ansi(error.traceback).strip()
        if headline not in detail:  # IPython's traceback ends with it; other kernels' may not
            detail = f"{headline}\n{detail}".strip()
        sections.append("[error]\n" + detail)
    return "\n".join(sections) or NO_OUTPUT, images


def _images_of(result: Result) -> list[Image]:
    images = []
    if result.png:
        images.append(Image("image/png", result.png))
    if result.jpeg:
        images.append(Image("image/jpeg", result.jpeg))
    if result.svg and not images:  # a figure given as both: the raster one is enough
        svg = base64.b64encode(result.svg.encode()).decode()
        images.append(Image("image/svg+xml", svg))
    return images


def _text_of(result: Result) -> str:
    # A DataFrame's markdown or text table reads better than its HTML.
    for value in (result.markdown, result.text, result.latex):
        if value:
            return strip_ansi(value).rstrip("\n")
    if result.json is not None:
        return str(result.json)
    return result.html or ""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def overflow_path(kind: str) -> str:
    """A new file in the sandbox for the whole of a cut output."""
    return f"{OVERFLOW_DIR}/{kind}-{secrets.token_hex(4)}.txt"


def truncate(text: str, budget: int, where: str) -> str:
    """``text`` if it fits ``budget`` characters, else its head and tail with a marker between
    them that says how much was cut and ``where`` the rest is."""
    if len(text) <= budget:
        return text
    tail = budget // 4  # an error and its traceback come last
    head = budget - tail
    start = len(text) - tail
    # Cut between lines when one ends near the cut.
    head = next((i + 1 for i in [text.rfind("\n", head - 200, head)] if i >= 0), head)
    start = next((i + 1 for i in [text.find("\n", start, start + 200)] if i >= 0), start)
    marker = f"[... output truncated: {start - head:,} characters cut; {where} ...]"
    return f"{text[:head].rstrip(chr(10))}\n{marker}\n{text[start:]}"
