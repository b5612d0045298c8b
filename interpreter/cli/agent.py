"""`interpreter agent configure | launch | list | invoke`: an agent project (a Python file with
``AgentRuntimeApp`` and ``@app.entrypoint``) deployed as a template and invoked in sessions.

``configure`` detects the entry file and the dependency file (requirements.txt or
pyproject.toml) and writes ``.interpreter-agent/Dockerfile`` and ``.interpreter-agent.yaml``
(flat YAML: one key and a JSON value per line). ``launch`` packs the SDK's ``agent_runtime``
module into ``.interpreter-agent/sdk`` (our SDK is not on PyPI; that module needs only the
standard library, so the template's Python runs it from ``PYTHONPATH``), builds the template
``agent-<name>-v<version>`` with the agent's server as its start command and its ``/ping`` as
its ready command, registers ``agent_<name>_v<version>`` and prints that id.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from interpreter.core.errors import InterpreterError

CONFIG = ".interpreter-agent.yaml"
BUILD_FOLDER = ".interpreter-agent"
SDK_FOLDER = f"{BUILD_FOLDER}/sdk"
SDK_INSIDE = "/opt/interpreter-agent/sdk"
APP_INSIDE = "/home/user/agent"
BASES = ("code-interpreter", "base")  # the built-in templates a Dockerfile may start FROM
PREFERRED = ("agent.py", "main.py", "app.py")
READY_CMD = (
    "python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8080/ping', timeout=2)\""
)
SDK_INIT = '"""interpreter_sdk\'s agent runtime alone (packed by `interpreter agent launch`)."""\n'


def _looks_like_agent(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return "AgentRuntimeApp" in text and ".entrypoint" in text


def find_entrypoint(folder: Path) -> tuple[Path | None, list[Path]]:
    """The agent's entry file (None: none found) and the files looked in."""
    looked = sorted(p for p in folder.glob("*.py") if p.is_file())
    looked += sorted(p for p in folder.glob("src/*.py") if p.is_file())
    found = [p for p in looked if _looks_like_agent(p)]
    for name in PREFERRED:
        for path in found:
            if path.name == name:
                return path, looked
    return (found[0] if found else None), looked


def default_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")[:40]
    return name or "agent"


def dockerfile(base: str, entry: str, dependencies: str | None) -> str:
    lines = [
        "# Written by `interpreter agent configure`: the agent's template, built by",
        "# `interpreter agent launch` (its start command serves the agent on :8080).",
        f"FROM {base}",
        f"ENV PYTHONPATH={SDK_INSIDE} PYTHONUNBUFFERED=1",
        f"COPY {SDK_FOLDER}/ {SDK_INSIDE}/",
        f"COPY . {APP_INSIDE}/",
    ]
    if dependencies == "requirements.txt":
        lines.append(f"RUN pip install --no-cache-dir -r {APP_INSIDE}/requirements.txt")
    elif dependencies == "pyproject.toml":
        lines.append(f"RUN pip install --no-cache-dir {APP_INSIDE}")
    lines += [
        f"RUN chown -R user {APP_INSIDE}",
        f"WORKDIR {APP_INSIDE}",
        "USER user",
        f"CMD {json.dumps(['python3', entry])}",
        "",
    ]
    return "\n".join(lines)


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in config.items()))


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG
    if not path.is_file():
        raise InterpreterError(f"no {path}: run `interpreter agent configure` first")
    config: dict[str, Any] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        try:
            config[key.strip()] = json.loads(value.strip())
        except ValueError:
            if not sep:
                raise InterpreterError(f"{path}:{number}: not `key: value`") from None
            config[key.strip()] = value.strip()
    return config


def configure(args: argparse.Namespace) -> None:
    folder = Path(args.path)
    if args.entrypoint:
        entry = folder / args.entrypoint
        if not entry.is_file():
            raise InterpreterError(f"--entrypoint {entry}: no such file")
        if not _looks_like_agent(entry):
            raise InterpreterError(
                f"{entry} has no agent: expected `app = AgentRuntimeApp()` and a function "
                "decorated with `@app.entrypoint` (from interpreter_sdk.agent_runtime)"
            )
    else:
        found, looked = find_entrypoint(folder)
        if found is None:
            names = ", ".join(str(p) for p in looked) or f"no .py files in {folder}"
            raise InterpreterError(
                f"no agent entrypoint found (looked in: {names}): expected a .py file with "
                "`app = AgentRuntimeApp()` and a function decorated with `@app.entrypoint` "
                "(from interpreter_sdk.agent_runtime); or give --entrypoint FILE"
            )
        entry = found
    name = args.name or default_name(folder)
    if args.name is None and sys.stdin.isatty():
        name = input(f"agent name [{name}]: ").strip() or name
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
        raise InterpreterError(f"agent name {name!r}: use 1-40 characters of [a-z0-9-]")
    if args.base not in BASES:
        raise InterpreterError(f"--base: one of {', '.join(BASES)}")
    dependencies = next(
        (n for n in ("requirements.txt", "pyproject.toml") if (folder / n).is_file()), None
    )
    relative = entry.resolve().relative_to(folder.resolve()).as_posix()
    (folder / BUILD_FOLDER).mkdir(exist_ok=True)
    (folder / BUILD_FOLDER / "Dockerfile").write_text(dockerfile(args.base, relative, dependencies))
    config = {
        "name": name, "entrypoint": relative, "dependencies": dependencies, "base": args.base,
        "start_cmd": shlex.join(["python3", relative]), "ready_cmd": READY_CMD,
    }  # fmt: skip
    write_config(folder / CONFIG, config)
    print(f"agent {name}: entrypoint {relative}, dependencies {dependencies or 'none'}")
    print(f"wrote {folder / CONFIG} and {folder / BUILD_FOLDER / 'Dockerfile'}")


def pack_sdk(folder: Path) -> None:
    """The SDK's agent runtime module, fresh, where the Dockerfile COPYs it from."""
    from interpreter_sdk import agent_runtime

    package = folder / SDK_FOLDER / "interpreter_sdk"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SDK_INIT)
    source = Path(agent_runtime.__file__ or "").read_text()
    (package / "agent_runtime.py").write_text(source)


def launch(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.markup import escape

    from interpreter_sdk import AgentRuntimeClient, TemplateBuildError, Templates

    folder = Path(args.path)
    config = read_config(folder)
    name = str(config["name"])
    console = Console(stderr=True, highlight=False)
    pack_sdk(folder)
    with AgentRuntimeClient() as client:
        versions = [a.version for a in client.list_agent_runtimes() if a.name == name]
        version = max(versions, default=0) + 1
        template = f"agent-{name}-v{version}"

        def show(entry: Any) -> None:
            console.print(f"[dim]{entry.step or '':>8}[/] {escape(entry.message)}")

        try:
            with Templates() as templates:
                templates.build(
                    template, folder / BUILD_FOLDER / "Dockerfile", folder,
                    start_cmd=str(config["start_cmd"]), ready_cmd=str(config["ready_cmd"]),
                    on_log=show if not args.quiet else None,
                )  # fmt: skip
        except TemplateBuildError as exc:
            raise InterpreterError(str(exc)) from None
        agent = client.register_agent_runtime(name, template, version)
    config["agent_id"] = agent.id
    write_config(folder / CONFIG, config)
    console.print(f"agent {agent.id} launched (template {template})")
    print(agent.id)


def list_agents(args: argparse.Namespace) -> None:
    from interpreter_sdk import AgentRuntimeClient

    with AgentRuntimeClient() as client:
        for agent in client.list_agent_runtimes():
            print(f"{agent.id}\t{agent.template}\t{agent.created_at.isoformat()}")


def invoke(args: argparse.Namespace) -> None:
    from interpreter_sdk import AgentRuntimeClient

    agent_id = args.id
    if agent_id is None:
        config = read_config(Path(args.path))
        agent_id = config.get("agent_id") or f"agent_{config['name']}"
    try:
        json.loads(args.payload)
    except ValueError as exc:
        raise InterpreterError(f"the payload is not JSON: {exc}") from None
    with AgentRuntimeClient() as client:
        answer = client.invoke_agent_runtime(
            agentId=agent_id, payload=args.payload.encode(), runtimeSessionId=args.session_id,
            timeout=args.timeout,
        )  # fmt: skip
        print(f"session {answer['runtimeSessionId']}", file=sys.stderr)
        response = answer["response"]
        if answer["contentType"].startswith("text/event-stream"):
            for item in response:
                print(item if isinstance(item, str) else json.dumps(item), flush=True)
        else:
            print(json.dumps(response))


def add_parser(commands: Any) -> None:
    agent = commands.add_parser("agent", help="agents deployed as templates, invoked in sessions")
    sub = agent.add_subparsers(required=True, metavar="ACTION")
    p = sub.add_parser("configure", help="detect the entry file, write the Dockerfile and config")
    p.add_argument("--path", default=".", help="the agent project (default: here)")
    p.add_argument("--name", "-n", help="the agent's name (default: the folder's)")
    p.add_argument("--entrypoint", "-e", help="the entry file (default: detected)")
    p.add_argument("--base", default="code-interpreter", help="code-interpreter or base")
    p.set_defaults(func=configure)
    p = sub.add_parser("launch", help="build the agent's template, register a new version")
    p.add_argument("--path", default=".", help="the agent project (default: here)")
    p.add_argument("--quiet", "-q", action="store_true", help="no build log")
    p.set_defaults(func=launch)
    p = sub.add_parser("list", help="the agents' versions")
    p.set_defaults(func=list_agents)
    p = sub.add_parser("invoke", help="invoke an agent; prints its answer (streams as it comes)")
    p.add_argument("id", nargs="?", help="agent_<name>_v<version> (default: the last launched)")
    p.add_argument("payload", help="the JSON payload")
    p.add_argument("--session-id", "-s", help="the session (default: a new one)")
    p.add_argument("--timeout", type=float, help="seconds the agent may take to answer")
    p.add_argument("--path", default=".", help="the agent project, for its last launched id")
    p.set_defaults(func=invoke)
