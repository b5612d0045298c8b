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
    (r"\bAsyncSandbox\b", "Sandbox"),
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


def generate() -> str:
    text = (HERE / "_async.py").read_text()
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    # Formatted like the rest of the code, so `ruff format` leaves the generated file alone.
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "_sync.py", "-"],
        input=text, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


if __name__ == "__main__":
    target = HERE / "_sync.py"
    if "--check" in sys.argv:
        if target.read_text() != generate():
            sys.exit("_sync.py is out of date: run python sdk/python/unasync.py")
    else:
        target.write_text(generate())
