"""Environment variables a client asks for (sandbox, run, command): checked here, for every way in.

Names are what every shell and kernel can export: letters, digits and '_', not starting with a
digit (a name like ``A=B`` or ``a-b`` would be refused or mangled by some of them). Values may
hold anything but NUL, which no process environment can carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from interpreter.core.errors import InvalidRequestError
from interpreter.core.text import checked_text

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def checked_envs(envs: Mapping[str, str] | None) -> dict[str, str]:
    """``envs`` as a dict, or InvalidRequestError naming the first bad variable."""
    for name, value in (envs or {}).items():
        if not ENV_NAME.fullmatch(name):
            raise InvalidRequestError(
                f"invalid environment variable name {name!r}: use letters, digits and '_', "
                "not starting with a digit"
            )
        if "\0" in value:
            raise InvalidRequestError(f"environment variable {name!r}: its value contains NUL")
        checked_text(f"environment variable {name!r}: its value", value)
    return dict(envs or {})
