"""Every language of the default image (issue #3): result, stdout, error, env var, cwd."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from interpreter_sdk import Sandbox


@dataclass
class Case:
    language: str
    expression: str  # evaluates to 2
    expected: str  # the text of its result
    prints: str  # prints "hi"
    raises: str  # raises with message "boom"
    reads_env: str  # reads the variable GREETING
    reads_cwd: str  # shows the working directory


CASES = [
    Case("python", "1 + 1", "2", "print('hi')", "raise ValueError('boom')",
         "import os\nos.environ.get('GREETING', 'unset')", "import os\nos.getcwd()"),
    Case("javascript", "1 + 1", "2", "console.log('hi')", "throw new Error('boom')",
         "Deno.env.get('GREETING') ?? 'unset'", "Deno.cwd()"),
    Case("typescript", "const n: number = 1;\nn + 1", "2", "console.log('hi')",
         "throw new Error('boom')", "process.env.GREETING ?? 'unset'", "process.cwd()"),
    Case("bash", "echo $((1 + 1))", "2", "echo hi", "echo boom >&2; false",
         'echo "${GREETING:-unset}"', "pwd"),
    Case("r", "1 + 1", "[1] 2", "cat('hi\\n')", "stop('boom')",
         "cat(Sys.getenv('GREETING', 'unset'), '\\n')", "cat(getwd(), '\\n')"),
    Case("java", "1 + 1", "2", 'System.out.println("hi");',
         'throw new RuntimeException("boom");',
         'System.out.println(System.getProperty("GREETING", "unset"));',
         'System.out.println(System.getProperty("user.dir"));'),
]  # fmt: skip
IDS = [c.language for c in CASES]


@pytest.fixture(scope="module")
def polyglot(server) -> Sandbox:  # type: ignore[no-untyped-def]
    from ..conftest import RUN_ID

    sbx = Sandbox.create(metadata={"test_run": RUN_ID}, memory_mb=3072, timeout=900)
    yield sbx
    sbx.kill()
    sbx.close()


def output(execution) -> str:  # type: ignore[no-untyped-def]
    texts = [r.text for r in execution.results if r.text] + execution.logs.stdout
    return "".join(texts).strip()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_expression(polyglot: Sandbox, case: Case) -> None:
    execution = polyglot.run_code(case.expression, language=case.language, timeout=120)
    assert execution.error is None, execution.error
    assert output(execution) == case.expected


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_stdout_streams(polyglot: Sandbox, case: Case) -> None:
    seen: list[str] = []
    execution = polyglot.run_code(
        case.prints, language=case.language, on_stdout=lambda m: seen.append(m.text)
    )
    assert "".join(seen).strip() == "hi"
    assert "".join(execution.logs.stdout).strip() == "hi"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_error(polyglot: Sandbox, case: Case) -> None:
    execution = polyglot.run_code(case.raises, language=case.language)
    assert execution.error is not None and execution.error.name
    # bash runs on a terminal: its stderr arrives merged into stdout.
    assert "boom" in execution.error.value + execution.error.traceback + "".join(
        execution.logs.stderr + execution.logs.stdout
    )
    # The context still works after an error.
    assert output(polyglot.run_code(case.expression, language=case.language)) == case.expected


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_per_run_env_var_is_set_then_restored(polyglot: Sandbox, case: Case) -> None:
    with_env = polyglot.run_code(case.reads_env, language=case.language, envs={"GREETING": "hey"})
    assert output(with_env) == "hey"
    assert output(polyglot.run_code(case.reads_env, language=case.language)) == "unset"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_context_cwd(polyglot: Sandbox, case: Case) -> None:
    context = polyglot.create_code_context(language=case.language, cwd="/tmp")
    try:
        assert output(polyglot.run_code(case.reads_cwd, context=context)) == "/tmp"
    finally:
        polyglot.remove_code_context(context)


@pytest.mark.parametrize("language", ["javascript", "typescript"])
def test_top_level_await_and_esm_imports(polyglot: Sandbox, language: str) -> None:
    execution = polyglot.run_code(
        'import { join } from "node:path";\n'
        "const v = await Promise.resolve(21);\n"
        'join("a", String(v * 2))',
        language=language,
    )
    assert execution.error is None, execution.error
    assert output(execution) == "a/42"


@pytest.mark.parametrize("alias, language", [("js", "javascript"), ("ts", "typescript")])
def test_aliases(polyglot: Sandbox, alias: str, language: str) -> None:
    assert output(polyglot.run_code("1 + 1", language=alias)) == "2"


def test_default_contexts_are_listed_and_kernels_start_lazily(sandbox: Sandbox) -> None:
    languages = [c.language for c in sandbox.list_code_contexts()]
    assert languages == ["python", "javascript"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_timeout_interrupts_every_language(polyglot: Sandbox, case: Case) -> None:
    loops = {
        "python": "while True: pass",
        "javascript": "while (true) {}",
        "typescript": "while (true) {}",
        "bash": "while true; do :; done",
        "r": "while (TRUE) {}",
        "java": "while (true) {}",
    }
    from interpreter_sdk import ExecutionTimeoutError

    with pytest.raises(ExecutionTimeoutError):
        polyglot.run_code(loops[case.language], language=case.language, timeout=3)
    assert output(polyglot.run_code(case.expression, language=case.language)) == case.expected
