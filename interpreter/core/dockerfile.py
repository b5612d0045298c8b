"""A Dockerfile, read into a ``TemplateSpec`` (no Docker engine: each step runs in a build
sandbox). Syntax (continuations, comments, JSON forms, line numbers) is dockerfile-parse's;
what the instructions mean is here.

Supported: one ``FROM`` (a template of this service), ``RUN``, ``COPY`` / ``ADD`` of local
sources (``--chown``, ``--chmod``), ``ENV``, ``ARG`` (substituted where it is used, in every
later instruction), ``WORKDIR``, ``USER``, ``CMD`` / ``ENTRYPOINT`` (the start command, unless
the build names one). Ignored, with a warning: ``EXPOSE``, ``LABEL``, ``MAINTAINER``,
``VOLUME``, ``STOPSIGNAL``, ``HEALTHCHECK``, ``SHELL``, ``ONBUILD``. Anything else, a second
``FROM`` (multi-stage), ``COPY --from`` or ``ADD`` of a URL is a 400 naming the line.

As E2B's own Dockerfile reader does: the steps run as root in ``/`` (Docker's defaults), and
the template's sandboxes (its start command, their commands) as ``user`` in ``/home/user``
unless the Dockerfile has a ``USER`` / ``WORKDIR``.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser

from interpreter.core.errors import DockerfileError, InvalidRequestError
from interpreter.core.templates import Step, TemplateSpec

IGNORED = {"EXPOSE", "LABEL", "MAINTAINER", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
           "ONBUILD"}  # fmt: skip
MAX_DOCKERFILE = 1 << 20
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class Parsed:
    spec: TemplateSpec
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # every COPY source, as written


def parse(text: str, files_hash: str | None, build_args: dict[str, str] | None = None) -> Parsed:
    """The spec of a Dockerfile whose COPY sources are in the archive ``files_hash`` (the
    build context); ``build_args`` override ``ARG`` defaults."""
    if len(text) > MAX_DOCKERFILE:
        raise DockerfileError(f"the Dockerfile is larger than {MAX_DOCKERFILE} bytes")
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    overrides = dict(build_args or {})
    args: dict[str, str] = {}
    base: str | None = None
    steps: list[Step] = []
    start: str | None = None
    warnings: list[str] = []
    sources: list[str] = []
    for item in parser.structure:
        instruction, line = item["instruction"].upper(), item["startline"] + 1
        value: str = item["value"]
        where = f"line {line} ({instruction})"
        if instruction == "COMMENT":
            continue
        if instruction == "ARG":
            name, eq, default = value.strip().partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise DockerfileError(f"{where}: {name!r} is not a variable name")
            args[name] = overrides.get(name, _unquote(default) if eq else "")
            continue
        if base is None and instruction != "FROM":
            raise DockerfileError(f"{where}: the Dockerfile must start with FROM")
        value = _substitute(value, args)
        if instruction == "FROM":
            if base is not None:
                raise DockerfileError(f"{where}: multi-stage builds are not supported")
            words = value.split()
            if len(words) != 1:
                raise DockerfileError(f"{where}: FROM takes one template name (no AS, --platform)")
            base = words[0]
        elif instruction == "RUN":
            steps.append(Step(type="RUN", args=[_command(value, where)]))
        elif instruction in ("COPY", "ADD"):
            for step in _copies(value, where, files_hash):
                sources.append(step.args[0])
                steps.append(step)
        elif instruction == "ENV":
            steps.append(Step(type="ENV", args=_env_pairs(value, where)))
        elif instruction == "WORKDIR":
            steps.append(Step(type="WORKDIR", args=[_one(value, where)]))
        elif instruction == "USER":
            steps.append(Step(type="USER", args=[_one(value, where)]))
        elif instruction in ("CMD", "ENTRYPOINT"):
            start = _command(value, where)
        elif instruction in IGNORED:
            warnings.append(f"{where}: ignored")
        else:
            raise DockerfileError(f"{where}: unknown instruction")
    if base is None:
        raise DockerfileError("the Dockerfile has no FROM")
    # As E2B's parser: a Dockerfile's steps run as root in / (Docker's defaults), and its
    # sandboxes as `user` in its home unless the Dockerfile said otherwise.
    kinds = {step.type for step in steps}
    steps = [Step(type="USER", args=["root"]), Step(type="WORKDIR", args=["/"]), *steps]
    if "USER" not in kinds:
        steps.append(Step(type="USER", args=["user"]))
    if "WORKDIR" not in kinds:
        steps.append(Step(type="WORKDIR", args=["/home/user"]))
    spec = TemplateSpec(base=base, steps=steps, start_cmd=start)
    try:
        spec.checked()
    except InvalidRequestError as exc:
        raise DockerfileError(str(exc)) from None
    return Parsed(spec, warnings, sources)


def _substitute(value: str, args: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name not in args:
            return match.group(0)  # the shell's (or the environment's) at run time
        return args[name] or (match.group(2) or "")

    return VARIABLE.sub(one, value)


def _json_form(value: str) -> list[str] | None:
    if not value.lstrip().startswith("["):
        return None
    try:
        words = json.loads(value)
    except ValueError:
        return None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        return None
    return words


def _command(value: str, where: str) -> str:
    words = _json_form(value)
    command = shlex.join(words) if words is not None else value.strip()
    if not command:
        raise DockerfileError(f"{where}: no command")
    return command


def _one(value: str, where: str) -> str:
    value = _unquote(value.strip())
    if not value:
        raise DockerfileError(f"{where}: takes one value")
    return value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _env_pairs(value: str, where: str) -> list[str]:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise DockerfileError(f"{where}: {exc}") from None
    if words and "=" not in words[0]:  # the old form: ENV KEY the value
        return [words[0], value.strip()[len(words[0]) :].strip()]
    pairs: list[str] = []
    for word in words:
        key, eq, val = word.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise DockerfileError(f"{where}: {word!r} is not KEY=value")
        pairs += [key, val]
    if not pairs:
        raise DockerfileError(f"{where}: no variables")
    return pairs


def _copies(value: str, where: str, files_hash: str | None) -> list[Step]:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise DockerfileError(f"{where}: {exc}") from None
    owner = mode = None
    while words and words[0].startswith("--"):
        flag, _, setting = words.pop(0)[2:].partition("=")
        if flag == "chown" and setting:
            owner = setting
        elif flag == "chmod" and re.fullmatch(r"[0-7]{3,4}", setting):
            mode = setting
        elif flag == "from":
            raise DockerfileError(f"{where}: COPY --from (multi-stage) is not supported")
        else:
            raise DockerfileError(f"{where}: unknown flag --{flag}")
    if words and _json_form(" ".join(words)) is not None:
        words = _json_form(" ".join(words)) or []
    if len(words) < 2:
        raise DockerfileError(f"{where}: takes at least one source and a destination")
    *srcs, dest = words
    if len(srcs) > 1 and not dest.endswith("/"):
        raise DockerfileError(f"{where}: with several sources the destination must end in /")
    if files_hash is None:
        raise DockerfileError(f"{where}: copies files, but the build has no context")
    steps = []
    for src in srcs:
        if re.match(r"^[a-z]+://", src):
            raise DockerfileError(f"{where}: sources are files of the build context, not URLs")
        checked = context_path(src, where)
        args = [checked, dest, owner or "", mode or ""]
        while args and not args[-1]:
            args.pop()
        steps.append(Step(type="COPY", args=args, files_hash=files_hash))
    return steps


def context_path(src: str, where: str = "COPY") -> str:
    """A source inside the build context: relative, without ``..`` (no way out of it)."""
    normal = posixpath.normpath(src)
    if src.startswith("/") or normal == ".." or normal.startswith("../"):
        raise InvalidRequestError(f"{where}: {src!r} is outside the build context")
    return normal
