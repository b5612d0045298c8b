"""`interpreter sandbox ...`: a running service's sandboxes, through the SDK (the service at
INTERPRETER_API_URL, default the SDK's http://127.0.0.1:49999, with INTERPRETER_API_KEY); with
``--local``, ``list`` and ``kill`` act on INTERPRETER_HOME directly (local admin, no service)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from interpreter.cli import events, render
from interpreter.core.config import Settings
from interpreter.core.errors import InterpreterError
from interpreter_sdk import Sandbox


def connect(sandbox_id: str) -> Sandbox:
    return Sandbox.connect(sandbox_id)  # close() it, not kill(): the sandbox runs on


def sandbox_create(args: argparse.Namespace) -> None:
    sandbox = Sandbox.create(
        template=args.template,
        timeout=args.timeout,
        metadata=render.pairs(args.metadata, "--metadata") or None,
        envs=render.pairs(args.env, "--env") or None,
    )
    sandbox.close()
    if args.json:
        render.print_json(sandbox.info)
    else:
        print(sandbox.sandbox_id)  # alone on stdout: ID=$(interpreter sandbox create)


def sandbox_list(args: argparse.Namespace) -> None:
    if args.local:
        sandbox_list_local(args)
        return
    sandboxes = Sandbox.list(metadata=render.pairs(args.metadata, "--metadata") or None)
    if args.json:
        render.print_json(sandboxes)
    else:
        render.sandbox_table(sandboxes)


def sandbox_info(args: argparse.Namespace) -> None:
    sandbox = connect(args.id)
    sandbox.close()
    if args.json:
        render.print_json(sandbox.info)
    else:
        render.sandbox_details(sandbox.info)


def sandbox_kill(args: argparse.Namespace) -> None:
    if args.local:
        sandbox_kill_local(args)
        return
    if not args.ids and not args.all:
        raise InterpreterError("give the sandboxes' ids, or --all")
    ids = [s.id for s in Sandbox.list()] if args.all else args.ids
    for sandbox_id in ids:
        sandbox = connect(sandbox_id)
        try:
            sandbox.kill()
        finally:
            sandbox.close()
        if not args.json:
            print("killed", sandbox_id)
    if args.json:
        render.print_json({"killed": ids})


def _update(args: argparse.Namespace, change: str) -> None:
    sandbox = connect(args.id)
    try:
        if change == "pause":
            sandbox.pause(memory=args.memory)
        else:
            sandbox.resume(timeout=args.timeout)
    finally:
        sandbox.close()
    if args.json:
        render.print_json(sandbox.info)
    else:
        print(f"{sandbox.sandbox_id} {sandbox.info.state}")


def sandbox_pause(args: argparse.Namespace) -> None:
    _update(args, "pause")


def sandbox_resume(args: argparse.Namespace) -> None:
    _update(args, "resume")


def sandbox_exec(args: argparse.Namespace) -> None:
    if not args.command:
        raise InterpreterError("give the command after --: interpreter sandbox exec ID -- CMD...")
    # One argument is a command line as it is (`exec ID -- 'ls | wc -l'`), several are quoted.
    line = args.command[0] if len(args.command) == 1 else shlex.join(args.command)
    sandbox = connect(args.id)
    try:
        streamed = not args.json
        result = sandbox.commands.run(
            line,
            envs=render.pairs(args.env, "--env") or None,
            cwd=args.cwd,
            user=args.user,
            timeout=args.timeout,
            on_stdout=render.write_out if streamed else None,
            on_stderr=render.write_err if streamed else None,
            check=False,
        )
    finally:
        sandbox.close()
    if args.json:
        render.print_json(result)
    elif result.error:
        render.err.print(f"[dim]{escape(result.error)}[/]")
    sys.exit(render.exit_code_of(result.exit_code))


def sandbox_run(args: argparse.Namespace) -> None:
    code = sys.stdin.read() if args.code == "-" else args.code
    sandbox = connect(args.id)
    try:
        streamed = not args.json
        execution = sandbox.run_code(
            code,
            language=args.language,
            on_stdout=(lambda m: render.write_out(m.text)) if streamed else None,
            on_stderr=(lambda m: render.write_err(m.text)) if streamed else None,
            timeout=args.timeout,
        )
    finally:
        sandbox.close()
    if args.json:
        render.print_json(execution)
        sys.exit(1 if execution.error else 0)
    stem = f"{args.id}-{execution.execution_count or 0}"
    sys.exit(render.show_execution(execution, Path(args.image_dir), stem, streamed=True))


def sandbox_shell(args: argparse.Namespace) -> None:
    from interpreter.cli.shell import interactive_shell

    sandbox = connect(args.id)
    try:
        code = interactive_shell(sandbox, user=args.user)
    finally:
        sandbox.close()
    sys.exit(render.exit_code_of(code))


def sandbox_cp(args: argparse.Namespace) -> None:
    from interpreter.cli import copy

    source, target = copy.remote_of(args.source), copy.remote_of(args.target)
    if target is not None and source is None:
        sandbox = connect(target[0])
        try:
            copied = copy.upload(sandbox, Path(args.source), target[1])
        finally:
            sandbox.close()
    elif source is not None and target is None:
        sandbox = connect(source[0])
        try:
            copied = copy.download(sandbox, source[1], Path(args.target))
        finally:
            sandbox.close()
    else:
        raise InterpreterError("one of SOURCE and TARGET is ID:/path in a sandbox, not both")
    if args.json:
        render.print_json({"copied": copied})
    else:
        for source_path, target_path in copied:
            print(f"{source_path} -> {target_path}")


def sandbox_list_local(args: argparse.Namespace) -> None:
    import asyncio

    from interpreter.service.manager import SandboxManager

    async def run() -> None:
        manager = SandboxManager(Settings())  # not start(): the server's sandboxes are its own
        try:
            for record in manager.list():
                print(record.id, record.template, record.state, record.expires_at.isoformat())
        finally:
            await manager.stop()

    asyncio.run(run())


def sandbox_kill_local(args: argparse.Namespace) -> None:
    import asyncio

    from interpreter.service.manager import SandboxManager

    async def run() -> None:
        manager = SandboxManager(Settings())  # not start(): the server's sandboxes are its own
        try:
            ids = [r.id for r in manager.list()] if args.all else args.ids
            for sandbox_id in ids:
                await manager.kill(sandbox_id)
                print("killed", sandbox_id)
            if args.all:  # and the warm pool's (a running front end boots new ones)
                for sandbox_id in await manager.discard_pooled():
                    print("killed", sandbox_id, "(pooled)")
        finally:
            await manager.stop()

    asyncio.run(run())


def add_parsers(commands: Any) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="sandboxes of the service at INTERPRETER_API_URL (INTERPRETER_API_KEY)",
        description=__doc__,
    )
    sub = sandbox.add_subparsers(required=True, metavar="ACTION")
    scripted = argparse.ArgumentParser(add_help=False)
    scripted.add_argument("--json", action="store_true", help="JSON on stdout, for scripts")

    def verb(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[scripted])
        p.set_defaults(func=func)
        return p

    p = verb("create", sandbox_create, "create a sandbox; prints its id")
    p.add_argument("--template", "-t", help="template (default code-interpreter)")
    p.add_argument("--timeout", type=int, help="lifetime in seconds")
    p.add_argument("--metadata", "-m", action="append", metavar="K=V", help="a tag (repeat)")
    p.add_argument("--env", "-e", action="append", metavar="K=V", help="a variable (repeat)")
    p = verb("list", sandbox_list, "live sandboxes")
    p.add_argument("--metadata", "-m", action="append", metavar="K=V", help="only with this tag")
    p.add_argument("--local", action="store_true", help="INTERPRETER_HOME's, without the service")
    p = verb("info", sandbox_info, "one sandbox")
    p.add_argument("id")
    p = verb("kill", sandbox_kill, "kill sandboxes: processes, mounts, cgroups, files")
    p.add_argument("ids", nargs="*", help="sandbox ids")
    p.add_argument("--all", action="store_true", help="kill every sandbox")
    p.add_argument("--local", action="store_true", help="INTERPRETER_HOME's, without the service")
    p = verb("pause", sandbox_pause, "pause a sandbox (resumed by resume or any use)")
    p.add_argument("id")
    p.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep its processes and memory (default); --no-memory: its files only",
    )
    p = verb("resume", sandbox_resume, "resume a paused sandbox")
    p.add_argument("id")
    p.add_argument("--timeout", type=int, help="its new lifetime in seconds")
    p = verb("exec", sandbox_exec, "run a command (after --), streamed; exits with its code")
    p.add_argument("id")
    p.add_argument("--cwd", help="working directory (default the user's home)")
    p.add_argument("--env", "-e", action="append", metavar="K=V", help="a variable (repeat)")
    p.add_argument("--user", choices=["user", "root"], default="user")
    p.add_argument("--timeout", type=float, help="seconds before it is killed (default none)")
    p = verb("run", sandbox_run, "run code (- reads it from stdin); images saved to files")
    p.add_argument("id")
    p.add_argument("code")
    p.add_argument("--language", "-l", help="python (default), javascript, bash, r, java...")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    p.add_argument("--image-dir", default=".", help="where images are saved (default: here)")
    p = verb("shell", sandbox_shell, "an interactive shell on a terminal in the sandbox")
    p.add_argument("id")
    p.add_argument("--user", choices=["user", "root"], default="user")
    p = verb("cp", sandbox_cp, "copy files or folders: LOCAL ID:/path, or ID:/path LOCAL")
    p.add_argument("source")
    p.add_argument("target")
    p = verb("events", events.sandbox_events, "lifecycle events (kept days after it is gone)")
    events.add_arguments(p)
