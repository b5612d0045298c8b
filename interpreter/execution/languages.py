"""Languages: their kernels and the few snippets the service runs on a user's behalf.

Values enter snippets only through each language's quoting function (JSON string literals are
valid in Python, JavaScript, R and Java; bash gets shlex quoting): never pasted raw.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from interpreter.core.errors import UnsupportedLanguageError

DEFAULT_CWD = "/home/user"  # where code runs unless its context says otherwise

Env = dict[str, str]


@dataclass(frozen=True)
class Language:
    name: str
    kernel: str  # kernelspec name inside the image
    chdir: Callable[[str], str]
    set_env: Callable[[Env], str]
    restore_env: Callable[[Env], str]
    # Some kernels publish "idle" before their last output: keep listening this long after it.
    settle_seconds: float = 0.0
    # Sets sandbox-wide variables for good in a running kernel (a sandbox from the warm pool
    # gets its variables after its kernel started); None: the language cannot.
    export_env: Callable[[Env], str] | None = None
    # New seeds for the random generators of a running kernel (kernels restored from one
    # snapshot start with the same generator state).
    reseed: str | None = None
    # The kernel reads the sandbox's variables where its process environment does not show them
    # (Java: system properties): export_env gives them to each new kernel as it is prepared.
    env_at_start: bool = False
    # How the text of one stream message is cut into the chunks E2B's kernel sends (logs.stdout
    # and logs.stderr are lists of them); None: as it came.
    chunks: Callable[[str], list[str]] | None = None


def _q(value: str) -> str:
    return json.dumps(value)


def _python() -> Language:
    helper = "__import__('interpreter_kernel')"
    return Language(
        name="python",
        kernel="python3",
        chdir=lambda path: f"__import__('os').chdir({_q(path)})",
        set_env=lambda env: f"{helper}.set_env({json.dumps(env)})",
        restore_env=lambda env: f"{helper}.restore_env()",
        export_env=lambda env: f"__import__('os').environ.update({json.dumps(env)})",
        # A CRIU restore keeps the pid, so neither OpenSSL's fork check nor tempfile's notices
        # the clone: its DRBG gets fresh entropy mixed in (its per-thread DRBGs reseed from it
        # on their next draw) and tempfile a new name sequence. numpy's default_rng, secrets,
        # os.urandom and uuid4 draw from the kernel: fresh already. numpy's legacy generator
        # only if imported: an image may have no numpy, and one imported later seeds itself.
        reseed=(
            "__import__('random').seed(); "
            "(lambda r: r is None or r.seed())(__import__('sys').modules.get('numpy.random')); "
            "__import__('tempfile')._name_sequence = None; "
            "__import__('ssl').RAND_add(__import__('os').urandom(32), 32.0)"
        ),
    )


def _deno(name: str) -> Language:
    return Language(
        name=name,
        kernel="deno",
        chdir=lambda path: f"Deno.chdir({_q(path)});",
        set_env=lambda env: (
            f"{{ const e = {json.dumps(env)}; globalThis.__interpEnv = Object.fromEntries("
            "Object.keys(e).map((k) => [k, Deno.env.get(k)])); "
            "for (const [k, v] of Object.entries(e)) Deno.env.set(k, v); }"
        ),
        restore_env=lambda env: (
            "for (const [k, v] of Object.entries(globalThis.__interpEnv ?? {})) "
            "{ if (v === undefined) Deno.env.delete(k); else Deno.env.set(k, v); }"
        ),
        settle_seconds=0.01,
        export_env=lambda env: (
            f"for (const [k, v] of Object.entries({json.dumps(env)})) Deno.env.set(k, v);"
        ),
    )


def _bash() -> Language:
    return Language(
        name="bash",
        kernel="bash",
        chdir=lambda path: f"cd {shlex.quote(path)}",
        set_env=lambda env: (
            "__interp_env=$(export -p); export "
            + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        ),
        restore_env=lambda env: (
            "unset " + " ".join(env) + '; eval "$__interp_env"; unset __interp_env'
        ),
        export_env=lambda env: (
            "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        ),
    )


def _r() -> Language:
    return Language(
        name="r",
        kernel="ir",
        chdir=lambda path: f"invisible(setwd({_q(path)}))",
        set_env=lambda env: (
            f".interp_env <- Sys.getenv(c({', '.join(map(_q, env))}), unset = NA, names = TRUE); "
            f"invisible(do.call(Sys.setenv, as.list(c({_pairs(env)}))))"
        ),
        restore_env=lambda env: (
            "for (.k in names(.interp_env)) if (is.na(.interp_env[[.k]])) "
            "Sys.unsetenv(.k) else do.call(Sys.setenv, setNames(list(.interp_env[[.k]]), .k)); "
            "rm(.interp_env, .k)"
        ),
        export_env=lambda env: f"invisible(do.call(Sys.setenv, as.list(c({_pairs(env)}))))",
    )


def _println_chunks(text: str) -> list[str]:
    # E2B's Java kernel runs on JDK 11, whose println(x) is print(x) then newLine(), each
    # flushed into a message of its own: "Hello" and "\n". JDK 17's (ours) writes the line at
    # once, in one message.
    if len(text) > 1 and text.endswith("\n"):
        return [text[:-1], "\n"]
    return [text]


def _java() -> Language:
    # Java cannot change its process environment: like E2B, per-run values and the sandbox's
    # are system properties.
    def export(env: Env) -> str:
        return "".join(f"System.setProperty({_q(k)}, {_q(v)});\n" for k, v in env.items())

    return Language(
        name="java",
        kernel="java",
        chdir=lambda path: f'System.setProperty("user.dir", {_q(path)});',
        set_env=lambda env: (
            "var __interpEnv = new java.util.HashMap<String, String>();\n"
            + "".join(
                f"__interpEnv.put({_q(k)}, System.getProperty({_q(k)})); "
                f"System.setProperty({_q(k)}, {_q(v)});\n"
                for k, v in env.items()
            )
        ),
        restore_env=lambda env: (
            "__interpEnv.forEach((k, v) -> { if (v == null) System.clearProperty(k); "
            "else System.setProperty(k, v); });"
        ),
        export_env=export,
        env_at_start=True,
        chunks=_println_chunks,
    )


def _pairs(env: Env) -> str:
    return ", ".join(f"{_q(k)} = {_q(v)}" for k, v in env.items())


LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (_python(), _deno("javascript"), _deno("typescript"), _bash(), _r(), _java())
}
ALIASES = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript",
           "sh": "bash", "shell": "bash"}  # fmt: skip


def resolve(language: str | None) -> Language:
    key = (language or "python").strip().lower()
    key = ALIASES.get(key, key)
    try:
        return LANGUAGES[key]
    except KeyError:
        raise UnsupportedLanguageError(
            f"unsupported language {language!r}; supported: {', '.join(LANGUAGES)}"
        ) from None
