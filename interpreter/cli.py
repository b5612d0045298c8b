"""`interpreter serve | sandbox list|kill | template build|list`."""

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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level)


def template_build(args: argparse.Namespace) -> None:
    from interpreter.runtime import images

    settings = Settings()
    for name in args.names or images.template_names():
        image = images.build(settings, name)
        print(f"{name}: {' + '.join(str(layer) for layer in image.layers)}")


def template_list(args: argparse.Namespace) -> None:
    from interpreter.runtime import images

    for name in images.template_names():
        print(name)


def sandbox_list(args: argparse.Namespace) -> None:
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


def sandbox_kill(args: argparse.Namespace) -> None:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interpreter", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the front end (FastAPI on uvicorn)")
    p.add_argument("--host", help="listen address (INTERPRETER_HOST)")
    p.add_argument("--port", type=int, help="listen port (INTERPRETER_PORT)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=serve)

    sandbox = commands.add_parser("sandbox", help="sandboxes of INTERPRETER_HOME")
    sub = sandbox.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("list", help="live sandboxes")
    p.set_defaults(func=sandbox_list)
    p = sub.add_parser("kill", help="kill sandboxes: processes, mounts, cgroups, files")
    p.add_argument("ids", nargs="*", help="sandbox ids")
    p.add_argument("--all", action="store_true", help="kill every sandbox")
    p.set_defaults(func=sandbox_kill)

    template = commands.add_parser("template", help="sandbox templates (images)")
    sub = template.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("build", help="build templates (cached by their definition's hash)")
    p.add_argument("names", nargs="*", help="templates to build; default: all")
    p.set_defaults(func=template_build)
    p = sub.add_parser("list", help="known templates")
    p.set_defaults(func=template_list)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per gateway call is noise
    try:
        args.func(args)
    except InterpreterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
