"""`interpreter sandbox events ID`: a sandbox's lifecycle events (kept days after it is gone),
through the SDK."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape
from rich.table import Table

from interpreter.cli import render
from interpreter_sdk import LifecycleEvent, Sandbox

PREFIX = "sandbox.lifecycle."


def sandbox_events(args: argparse.Namespace) -> None:
    events = Sandbox.get_events(
        args.id, limit=args.limit, direction="desc" if args.desc else "asc", after=args.after
    )
    if args.json:
        render.print_json(events)
    else:
        event_table(events)


def event_table(events: list[LifecycleEvent]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("SEQ", "TIME", "EVENT", "DETAILS"):
        table.add_column(column)
    for e in events:
        details = " ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in e.data.items()
            if k != "sandbox_metadata"
        )
        when = e.timestamp.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        table.add_row(str(e.seq), when, e.type.removeprefix(PREFIX), escape(details))
    render.out.print(table)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")
    p.add_argument("--limit", type=int, help="events shown (1-1000, default 100)")
    p.add_argument("--desc", action="store_true", help="newest first")
    p.add_argument("--after", type=int, metavar="SEQ", help="those after this event (its SEQ)")
