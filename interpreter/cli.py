"""`interpreter serve | template build | template list`."""

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interpreter", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the front end (FastAPI on uvicorn)")
    p.add_argument("--host", help="listen address (INTERPRETER_HOST)")
    p.add_argument("--port", type=int, help="listen port (INTERPRETER_PORT)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=serve)

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
