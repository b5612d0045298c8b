"""`interpreter run 'code'` / `interpreter run -- CMD...`: a one-shot run (``Sandbox.run``): a
sandbox for this run only, killed at its end. Files go in with --put, come back with --get."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from interpreter.cli import render
from interpreter.core.errors import InterpreterError
from interpreter_sdk import Sandbox


def run(args: argparse.Namespace) -> None:
    if (args.code is None) == (not args.command):
        raise InterpreterError("give code (interpreter run 'print(1)') or a command after --")
    if args.command and args.language:
        raise InterpreterError("--language is for code, not for a command")
    code = sys.stdin.read() if args.code == "-" else args.code
    cmd = None
    if args.command:
        cmd = args.command[0] if len(args.command) == 1 else shlex.join(args.command)
    result = Sandbox.run(
        code=code,
        cmd=cmd,
        language=args.language,
        files=dict(_put(spec) for spec in args.put or []) or None,
        read_files=args.get or None,
        timeout=args.timeout,
        template=args.template,
        envs=render.pairs(args.env, "--env") or None,
    )
    if args.json:
        render.print_json(result)
    else:
        for path, data in result.files.items():
            local = Path(args.output_dir) / Path(path).name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            render.err.print(f"[dim]file saved:[/] {path} -> {local}")
    if result.command is not None:
        if not args.json:
            render.write_out(result.command.stdout)
            render.write_err(result.command.stderr)
            if result.command.error:
                render.err.print(f"[dim]{result.command.error}[/]")
        sys.exit(render.exit_code_of(result.command.exit_code))
    assert result.execution is not None
    if args.json:
        sys.exit(1 if result.execution.error else 0)
    stem = f"run-{result.sandbox_id}"
    sys.exit(render.show_execution(result.execution, Path(args.output_dir), stem, streamed=False))


def _put(spec: str) -> tuple[str, bytes]:
    """``LOCAL[:REMOTE]``: a local file, written at REMOTE (default: its name in /home/user)."""
    local, sep, remote = spec.partition(":")
    path = Path(local)
    if not path.is_file():
        raise InterpreterError(f"--put {spec}: {local} is not a file")
    return (remote if sep and remote else path.name), path.read_bytes()


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "run",
        help="one-shot: run code (or a command after --) in a new sandbox, killed at the end",
        description=__doc__,
    )
    p.add_argument("code", nargs="?", help="the code (- reads it from stdin)")
    p.add_argument("--language", "-l", help="the code's language (default python)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds it may run (default 60)")
    p.add_argument("--template", "-t", help="the sandbox's template (default code-interpreter)")
    p.add_argument("--env", "-e", action="append", metavar="K=V", help="a variable (repeat)")
    p.add_argument(
        "--put", action="append", metavar="LOCAL[:REMOTE]", help="a file written first (repeat)"
    )
    p.add_argument("--get", action="append", metavar="REMOTE", help="a file read back (repeat)")
    p.add_argument("--output-dir", default=".", help="where --get files and images go (here)")
    p.add_argument("--json", action="store_true", help="the RunResult as JSON, for scripts")
    p.set_defaults(func=run)
