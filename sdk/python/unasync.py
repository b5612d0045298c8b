"""Generate interpreter_sdk/_sync.py from _async.py (run with --check in CI)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "interpreter_sdk"
RULES = [
    (r'"""AsyncSandbox: the asyncio twin of Sandbox \(same names, same signatures\)."""',
     '"""Sandbox: the blocking twin. GENERATED from _async.py by unasync.py: do not edit."""'),
    (r'"""AsyncFiles: files inside a sandbox \(``sandbox.files``\), the asyncio twin of Files."""',
     '"""Files: files inside a sandbox. GENERATED from _files_async.py: do not edit."""'),
    (r'"""AsyncCommands and AsyncPty: processes inside a sandbox, the asyncio twins."""',
     '"""Commands and Pty. GENERATED from _commands_async.py: do not edit."""'),
    (r'"""AsyncAgentRuntimeClient: agents invoked in sessions, the asyncio twin\.',
     '"""AgentRuntimeClient: agents in sessions. GENERATED from _agents_async.py: do not edit.'),
    (r"\bAsyncAgentRuntimeClient\b", "AgentRuntimeClient"),
    (r"\bAsyncCommandHandle\b", "CommandHandle"),
    (r"\bAsyncCommands\b", "Commands"),
    (r"\bAsyncPty\b", "Pty"),
    (r"_commands_async\b", "_commands_sync"),
    (r"\n\s*if inspect\.isawaitable\(outcome\):\n\s*outcome\n", "\n"),
    (r"outcome = output\.feed\(line\)", "output.feed(line)"),
    (r"\bAsyncSandbox\b", "Sandbox"),
    (r"\bAsyncFiles\b", "Files"),
    (r"\bAsyncWatchHandle\b", "WatchHandle"),
    (r"await anext\(", "next("),
    (r"_files_async\b", "_files_sync"),
    (r"_runs_async\b", "_runs_sync"),
    (r"\baclosing\b", "closing"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"_base\.as_async\((.*)\)$", r"\1"),
    (r"\bAsyncClient\b", "Client"),
    (r"async def ", "def "),
    (r"async with ", "with "),
    (r"async for ", "for "),
    (r"await ", ""),
    (r"\baread\b", "read"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\baclose\b", "close"),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"^import inspect\n", ""),
    (r"\n\s*if inspect\.isawaitable\(outcome\):\n\s*outcome\n", "\n"),
    (r"outcome = builder\.feed\(line\)", "builder.feed(line)"),
    (r"Make one with ``Sandbox\.create\(\)``", "Make one with ``Sandbox.create()``"),
]  # fmt: skip


TWINS = {
    "_async.py": "_sync.py",
    "_files_async.py": "_files_sync.py",
    "_commands_async.py": "_commands_sync.py",
    "_agents_async.py": "_agents_sync.py",
}


def generate(source: str) -> str:
    text = (HERE / source).read_text()
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    # Formatted like the rest of the code, so `ruff format` leaves the generated file alone.
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "_sync.py", "-"],
        input=text, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


if __name__ == "__main__":
    for source, target in TWINS.items():
        if "--check" in sys.argv:
            if (HERE / target).read_text() != generate(source):
                sys.exit(f"{target} is out of date: run python sdk/python/unasync.py")
        else:
            (HERE / target).write_text(generate(source))
