"""How the CLI's verbs that talk to the service print: text for people (rich), ``--json`` for
scripts (one JSON document on stdout), executions with their images saved to files."""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interpreter.core.errors import InterpreterError
from interpreter_sdk import CellError, Execution, Result, SandboxInfo

# Piped, rich would cut tables to 80 columns: a script gets whole ids (and a terminal its width).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Result formats saved to files, with their extensions (base64 but for svg, which is text).
IMAGES = {"png": "png", "jpeg": "jpg", "svg": "svg", "pdf": "pdf"}


def pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``["k=v", ...]`` (--metadata, --env) as a dict; a one-line error for anything else."""
    found: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InterpreterError(f"{what} {item!r} is not KEY=VALUE")
        found[key] = value
    return found


def plain(value: Any) -> Any:
    """An SDK object as JSON data: dataclasses as objects, times as ISO 8601, bytes as base64."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def print_json(value: Any) -> None:
    print(json.dumps(plain(value), indent=2, ensure_ascii=False))


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def sandbox_table(sandboxes: list[SandboxInfo]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "TEMPLATE", "STATE", "CREATED", "EXPIRES", "METADATA"):
        table.add_column(column)
    for s in sandboxes:
        tags = ",".join(f"{k}={v}" for k, v in sorted(s.metadata.items()))
        table.add_row(s.id, s.template, s.state, _when(s.created_at), _when(s.expires_at), tags)
    out.print(table)


def sandbox_details(info: SandboxInfo) -> None:
    table = Table.grid(padding=(0, 2))
    egress = "on" if info.network.get("enabled") else "off"
    rows = [
        ("id", info.id), ("template", info.template), ("state", info.state),
        ("created", _when(info.created_at)), ("expires", _when(info.expires_at)),
        ("cpu", f"{info.cpu:g} cores"), ("memory", f"{info.memory_mb} MiB"),
        ("disk", f"{info.disk_mb} MiB" if info.disk_mb else "-"), ("egress", egress),
        *((f"metadata.{k}", v) for k, v in sorted(info.metadata.items())),
    ]  # fmt: skip
    for key, value in rows:
        table.add_row(f"[dim]{key}[/]", escape(str(value)))
    out.print(table)


def write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def write_err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def show_error(error: CellError) -> None:
    err.print(escape(error.traceback or f"{error.name}: {error.value}"), style="red")


def show_results(execution: Execution, image_dir: Path, stem: str) -> None:
    """The results as text; images saved as files under ``image_dir``, their paths printed."""
    for number, result in enumerate(execution.results, 1):
        saved = save_images(result, image_dir, f"{stem}-{number}")
        for path in saved:
            out.print(f"[dim]image saved:[/] {escape(str(path))}")
        text = result.text if result.text is not None else result.markdown
        if text is not None and not (saved and text.startswith("<Figure")):
            print(text)
        elif text is None and not saved and result.formats():
            out.print(f"[dim]a result in {', '.join(result.formats())} (see --json)[/]")


def save_images(result: Result, folder: Path, stem: str) -> list[Path]:
    saved = []
    for field, extension in IMAGES.items():
        content = getattr(result, field)
        if content is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.{extension}"
        data = content.encode() if field == "svg" else base64.b64decode(content)
        path.write_bytes(data)
        saved.append(path)
    return saved


def show_execution(execution: Execution, image_dir: Path, stem: str, streamed: bool) -> int:
    """Print an execution (its logs too unless they were streamed); the CLI's exit code."""
    if not streamed:
        write_out("".join(execution.logs.stdout))
        write_err("".join(execution.logs.stderr))
    show_results(execution, image_dir, stem)
    if execution.error is not None:
        show_error(execution.error)
        return 1
    return 0


def exit_code_of(code: int) -> int:
    """A command's exit code as a shell passes it on (killed by signal N: 128 + N)."""
    return 128 - code if code < 0 else min(code, 255)
