"""`interpreter volume create|list|rm`: volumes of the service (INTERPRETER_API_URL/KEY)."""

from __future__ import annotations

import argparse
from typing import Any


def create(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    info = Sandbox.create_volume(args.name, size_mb=args.size_mb)
    print(info.id)


def list_volumes(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    for v in Sandbox.list_volumes():
        print(f"{v.id}\t{v.name}\t{v.size_mb} MiB\t{v.created_at.isoformat()}")


def remove(args: argparse.Namespace) -> None:
    from interpreter_sdk import Sandbox

    for volume in args.volumes:
        Sandbox.delete_volume(volume)
        print("deleted", volume)


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    volume = commands.add_parser("volume", help="named persistent storage for sandboxes")
    sub = volume.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("create", help="create an empty volume; prints its id")
    p.add_argument("name", help="its name ([a-z0-9._-], 1-63 characters)")
    p.add_argument("--size-mb", type=int, help="its size in MiB (default: the service's)")
    p.set_defaults(func=create)
    p = sub.add_parser("list", help="volumes")
    p.set_defaults(func=list_volumes)
    p = sub.add_parser("rm", help="destroy volumes and their content (refused while mounted)")
    p.add_argument("volumes", nargs="+", help="names or ids")
    p.set_defaults(func=remove)
