"""Languages: their kernels and the few snippets the service runs on a user's behalf.

Values are passed as JSON literals (valid in each of these languages), never pasted raw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from interpreter.core.errors import UnsupportedLanguageError


@dataclass(frozen=True)
class Language:
    name: str
    kernel: str
    chdir: str  # format with {path}: a JSON string literal
    set_env: str  # format with {env}: a JSON object literal of str -> str
    restore_env: str  # undoes the last set_env


LANGUAGES = {
    "python": Language(
        name="python",
        kernel="python3",
        chdir="__import__('os').chdir({path})",
        set_env="__import__('interpreter_kernel').set_env({env})",
        restore_env="__import__('interpreter_kernel').restore_env()",
    ),
}
ALIASES = {"py": "python", "python3": "python"}


def resolve(language: str | None) -> Language:
    key = (language or "python").strip().lower()
    key = ALIASES.get(key, key)
    try:
        return LANGUAGES[key]
    except KeyError:
        raise UnsupportedLanguageError(
            f"unsupported language {language!r}; supported: {', '.join(sorted(LANGUAGES))}"
        ) from None


def chdir_code(language: Language, path: str) -> str:
    return language.chdir.format(path=json.dumps(path))


def set_env_code(language: Language, env: dict[str, str]) -> str:
    return language.set_env.format(env=json.dumps(env))
