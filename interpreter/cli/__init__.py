"""`interpreter serve | mcp | run | sandbox create|list|info|kill|pause|resume|exec|run|shell|cp
| template init|build|list|delete | snapshot create|list|delete | volume create|list|rm
| agent configure|launch|list|invoke`."""

from __future__ import annotations

import argparse
import logging
import sys

from interpreter.core.config import Settings
from interpreter.core.errors import InterpreterError


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from interpreter.api.app import create_app

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings(**overrides)
    app = create_app(settings)
    # A websocket message is bounded as a request body is (a run socket's run: api/run_socket.py);
    # one over it closes its socket (1009) before it is buffered whole.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ws_max_size=settings.max_body_mb << 20,
    )


def mcp(args: argparse.Namespace) -> None:
    import os

    from interpreter.mcp.conversations import Link
    from interpreter.mcp.stdio import serve_stdio

    # The key from the environment only: a command line is visible to every user (ps).
    if not os.environ.get("INTERPRETER_API_KEY"):
        raise InterpreterError("interpreter mcp needs the service's key: INTERPRETER_API_KEY")
    logging.getLogger("mcp").setLevel(logging.WARNING)  # stderr is the host's log: keep it quiet
    serve_stdio(Link(args.api_url), args.idle_timeout)


INIT_DOCKERFILE = """\
# A template: built by `interpreter template build --name NAME` (steps run in a build sandbox,
# cached), then started and snapshotted: its sandboxes start with the start command running.
FROM code-interpreter
# RUN pip install --no-cache-dir requests
# COPY app/ /home/user/app/
# ENV GREETING=hello
# The start command (or -c): a server, say; --ready-cmd tells when it is ready.
# CMD ["python3", "-m", "http.server", "8000"]
"""


def template_init(args: argparse.Namespace) -> None:
    from pathlib import Path

    path = Path(args.path) / "Dockerfile"
    if path.exists():
        raise InterpreterError(f"{path} exists already")
    path.write_text(INIT_DOCKERFILE)
    print(f"wrote {path}: edit it, then `interpreter template build --name NAME`")


def template_build(args: argparse.Namespace) -> None:
    from interpreter.runtime import images

    builtin = images.template_names()
    if args.names and all(name in builtin for name in args.names) and args.name is None:
        settings = Settings()  # the built-in images: built here, without the service
        for name in args.names:
            image = images.build(settings, name)
            print(f"{name}: {' + '.join(str(layer) for layer in image.layers)}")
        return
    if args.names:
        raise InterpreterError(
            f"built-in templates are {builtin}; to build a Dockerfile give --name NAME"
        )
    _remote_build(args)


def _remote_build(args: argparse.Namespace) -> None:
    from pathlib import Path

    from rich.console import Console
    from rich.markup import escape

    from interpreter_sdk import SandboxError, TemplateBuildError, Templates

    console = Console(stderr=True, highlight=False)
    folder = Path(args.path)
    dockerfile = Path(args.file) if args.file else folder / "Dockerfile"
    if not dockerfile.is_file():
        raise InterpreterError(f"no Dockerfile at {dockerfile} (`interpreter template init`)")
    name = args.name or folder.resolve().name.lower()
    styles = {"error": "red", "warn": "yellow", "debug": "dim"}

    def show(entry: object) -> None:
        level, message, step = (getattr(entry, k) for k in ("level", "message", "step"))
        console.print(f"[dim]{step or '':>8}[/] {escape(message)}", style=styles.get(level))

    try:
        with Templates() as templates:
            build = templates.build(
                name, dockerfile, folder, start_cmd=args.start_cmd, ready_cmd=args.ready_cmd,
                cpu=args.cpu, memory_mb=args.memory_mb, on_log=show,
            )  # fmt: skip
    except TemplateBuildError as exc:
        raise InterpreterError(str(exc)) from None
    except SandboxError as exc:
        raise InterpreterError(f"the service refused the build: {exc}") from None
    console.print(
        f"template {name} built: {build.built_steps} steps run, {build.cached_steps} cached "
        f"(build {build.id})"
    )
    print(name)


def template_list(args: argparse.Namespace) -> None:
    from interpreter_sdk import SandboxError, Templates

    try:
        with Templates() as templates:
            for info in templates.list():
                kind = "built-in" if info.builtin else (info.status or "-")
                tags = ",".join(sorted(t for t in info.tags if t != "default"))
                print(f"{info.name}\t{kind}\t{tags}")
    except SandboxError:  # no service: the built-in definitions
        from interpreter.runtime import images

        for name in images.template_names():
            print(f"{name}\tbuilt-in")


def template_delete(args: argparse.Namespace) -> None:
    from interpreter_sdk import Templates

    with Templates() as templates:
        for name in args.names:
            templates.delete(name)
            print("deleted", name)


def snapshot_create(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    sandbox = Sandbox.connect(args.sandbox)  # not `with`: that would kill it at the end
    try:
        info = sandbox.create_snapshot(args.name, memory=not args.files_only)
    finally:
        sandbox.close()
    print(info.id)


def snapshot_list(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    for s in Sandbox.list_snapshots(args.sandbox):
        kind = "memory" if s.memory else "files"
        print(f"{s.id}\t{s.name or '-'}\t{s.sandbox_id}\t{kind}\t{s.created_at.isoformat()}")


def snapshot_delete(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    for snapshot_id in args.ids:
        Sandbox.delete_snapshot(snapshot_id)
        print("deleted", snapshot_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interpreter", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the front end (FastAPI on uvicorn)")
    p.add_argument("--host", help="listen address (INTERPRETER_HOST)")
    p.add_argument("--port", type=int, help="listen port (INTERPRETER_PORT)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=serve)

    p = commands.add_parser(
        "mcp",
        help="an MCP server on stdio (for an agent host), driving the service at "
        "INTERPRETER_API_URL with INTERPRETER_API_KEY",
    )
    p.add_argument("--api-url", help="the service (default: INTERPRETER_API_URL)")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=1800.0,
        help="seconds the conversation's sandbox lives without a call (default 1800)",
    )
    p.set_defaults(func=mcp)

    from interpreter.cli import agent, one_shot, sandbox, volume

    sandbox.add_parsers(commands)
    agent.add_parser(commands)
    one_shot.add_parser(commands)
    volume.add_parser(commands)

    snapshot = commands.add_parser("snapshot", help="snapshots of running sandboxes")
    sub = snapshot.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("create", help="snapshot a running sandbox (it runs on); prints its id")
    p.add_argument("sandbox", help="the sandbox's id")
    p.add_argument("--name", help="a name for it ([a-z0-9._-])")
    p.add_argument("--files-only", action="store_true", help="its files only, not its memory")
    p.set_defaults(func=snapshot_create)
    p = sub.add_parser("list", help="snapshots")
    p.add_argument("--sandbox", help="only this sandbox's")
    p.set_defaults(func=snapshot_list)
    p = sub.add_parser("delete", help="delete snapshots (refused while sandboxes use them)")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=snapshot_delete)

    template = commands.add_parser("template", help="sandbox templates")
    sub = template.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("init", help="write a Dockerfile starting from the default template")
    p.add_argument("--path", default=".", help="folder (default: here)")
    p.set_defaults(func=template_init)
    p = sub.add_parser(
        "build",
        help="build a Dockerfile through the service (INTERPRETER_API_URL/KEY), or built-in "
        "templates here by name (cached by their definition's hash)",
    )
    p.add_argument("names", nargs="*", help="built-in templates to build here")
    p.add_argument("--name", "-n", help="the template's name (default: the folder's)")
    p.add_argument("--path", default=".", help="the build context (default: here)")
    p.add_argument("--file", "-f", help="the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--cmd", "-c", dest="start_cmd", help="start command (default: CMD)")
    p.add_argument("--ready-cmd", help="ready when this exits 0 (default: sleep 20)")
    p.add_argument("--cpu", type=float, help="CPU cores of the build's steps")
    p.add_argument("--memory-mb", type=int, help="memory (MiB) of the build's steps")
    p.set_defaults(func=template_build)
    p = sub.add_parser("list", help="templates (the service's; without it, the built-in ones)")
    p.set_defaults(func=template_list)
    p = sub.add_parser("delete", help="delete templates built through the service")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=template_delete)

    # What follows `--` is a command line (`sandbox exec ID -- ls -l`, `run -- make`), kept
    # apart: argparse would drop the `--` and read the command's options as its own.
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = parser.parse_args(argv)
    args.command = command
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per gateway call is noise
    try:
        args.func(args)
    except Exception as exc:
        # The service's errors, here or through the SDK (verbs that talk to a running one):
        # one line, no traceback.
        from interpreter_sdk import SandboxError

        if not isinstance(exc, InterpreterError | SandboxError):
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def describe(exc: Exception) -> str:
    from interpreter_sdk import ConnectionError

    if isinstance(exc, ConnectionError):
        import os

        url = os.environ.get("INTERPRETER_API_URL") or "http://127.0.0.1:49999"
        return f"cannot reach the service at {url} (INTERPRETER_API_URL): {exc}"
    return str(exc)


if __name__ == "__main__":
    main()
