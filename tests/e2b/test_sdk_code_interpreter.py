"""The official E2B code-interpreter SDK (Python, sync and async): run_code in every language,
every result type, charts, errors, contexts, environment variables, interrupts and kills.
One sandbox is shared by the module's Python tests, one by its other languages but Java and one
by Java (every kernel in one sandbox would be at its 1024 MiB: ~970 with the six of them, so a
context more would have one OOM-killed); tests that break their sandbox make their own."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2b import NotFoundException, SandboxException, TimeoutException
from e2b_code_interpreter import AsyncSandbox, Execution, OutputMessage, Sandbox
from e2b_code_interpreter.charts import ChartType

from tests.conftest import Server


def _shared(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata, envs={"SANDBOX_VAR": "from-create"})
    yield sandbox
    sandbox.kill()


sbx = pytest.fixture(scope="module", name="sbx")(_shared)
polyglot = pytest.fixture(scope="module", name="polyglot")(_shared)
java = pytest.fixture(scope="module", name="java")(_shared)


def _sandbox_for(request: pytest.FixtureRequest, language: str) -> Sandbox:
    """The module's sandbox for a language (see the module's docstring)."""
    name = {"python": "sbx", "java": "java"}.get(language, "polyglot")
    sandbox: Sandbox = request.getfixturevalue(name)
    return sandbox


def test_python_output_result_and_count(sbx: Sandbox) -> None:
    seen: list[OutputMessage] = []
    first = sbx.run_code(
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsquare = 7 ** 2\nsquare",
        on_stdout=seen.append,
    )
    assert first.logs.stdout == ["out\n"] and first.logs.stderr == ["err\n"]
    assert first.text == "49" and first.results[0].is_main_result
    assert first.error is None
    assert [m.line for m in seen] == ["out\n"] and seen[0].timestamp
    second = sbx.run_code("square + 1")
    assert second.text == "50"
    assert second.execution_count == first.execution_count + 1  # setup code does not count
    assert sbx.run_code("'quoted'").text == "quoted"  # text/plain quotes are stripped


def test_python_error(sbx: Sandbox) -> None:
    execution = sbx.run_code("print('before')\n1 / 0")
    assert execution.error is not None
    assert execution.error.name == "ZeroDivisionError"
    assert execution.error.value == "division by zero"
    assert "ZeroDivisionError" in execution.error.traceback
    assert execution.logs.stdout == ["before\n"] and execution.results == []
    assert sbx.run_code("1 + 1").text == "2"  # the context is still usable


RICH = r"""
import base64, io
from IPython.display import HTML, JSON, SVG, Image, Javascript, Latex, Markdown, display
from PIL import Image as PILImage
display(HTML("<b>bold</b>"))
display(Markdown("# title"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"/>'))
display(Latex(r"$x^2$"))
display(Javascript("console.log(1)"))
display(JSON({"nested": {"a": 1}}))
display({"application/pdf": base64.b64encode(b"%PDF-1.4").decode()}, raw=True)
display({"text/latex": r"\alpha"}, raw=True)
display({"application/x-custom": {"k": 1}, "text/plain": "custom"}, raw=True)
for fmt in ("PNG", "JPEG"):
    buf = io.BytesIO()
    PILImage.new("RGB", (4, 4), "red").save(buf, format=fmt)
    display(Image(data=buf.getvalue(), format=fmt.lower()))
{"plain": [1, 2]}
"""


def test_every_result_type(sbx: Sandbox) -> None:
    execution = sbx.run_code(RICH)
    assert execution.error is None, execution.error
    results = execution.results
    by_format: dict[str, Any] = {}
    for result in results:
        for fmt in result.formats():
            by_format.setdefault(fmt, result)
    assert by_format["html"].html == "<b>bold</b>"
    assert by_format["markdown"].markdown == "# title"
    assert by_format["svg"].svg.startswith("<svg")
    assert by_format["latex"].latex == "$x^2$"
    assert by_format["javascript"].javascript == "console.log(1)"
    assert by_format["pdf"].pdf == "JVBERi0xLjQ="
    assert by_format["png"].png and by_format["jpeg"].jpeg
    assert by_format["application/x-custom"].extra == {"application/x-custom": {"k": 1}}
    raw_latex = next(r for r in results if r.latex == r"\alpha")
    assert raw_latex.formats() == ["latex"]  # nothing synthesized
    assert results[-1].is_main_result and results[-1].json == {"plain": [1, 2]}
    assert not any(r.is_main_result for r in results[:-1])
    assert any(r.json == {"nested": {"a": 1}} for r in results)
    assert all(r.extra == {} for r in results if "application/x-custom" not in r.formats())


def test_dataframe_data(sbx: Sandbox) -> None:
    execution = sbx.run_code(
        "import pandas as pd\npd.DataFrame({'a': [1, 2, 3], 'b': list('xyz')})"
    )
    (result,) = execution.results
    assert result.data == {"a": [1, 2, 3], "b": ["x", "y", "z"]}
    assert result.html and result.text


CHARTS = """
import matplotlib.pyplot as plt
import numpy as np

fig, ax = plt.subplots()
ax.plot([0, 1, 2], [0, 1, 4], label="squares")
ax.set_title("Line"); ax.set_xlabel("Time (s)"); ax.set_ylabel("Value [m]")
plt.show()

fig, ax = plt.subplots()
ax.scatter([1, 2, 3], [4, 5, 6], label="dots")
ax.set_title("Scatter")
plt.show()

fig, ax = plt.subplots()
ax.bar(["a", "b"], [3, 5], label="bars")
ax.set_title("Bar")
plt.show()

fig, ax = plt.subplots()
ax.pie([1, 3], labels=["one", "three"])
ax.set_title("Pie")
plt.show()

fig, ax = plt.subplots()
scores = {"A": [85, 90, 78, 92, 88], "B": [95, 89, 76, 91, 84, 87], "C": [75, 82, 88, 79, 86]}
ax.boxplot(list(scores.values()), tick_labels=list(scores), patch_artist=True)
ax.set_title("Box")
plt.show()

fig, (left, right) = plt.subplots(1, 2)
fig.suptitle("Super")
left.plot([1, 2], [1, 2]); right.bar(["x"], [1])
plt.show()
"""


def test_charts(sbx: Sandbox) -> None:
    execution = sbx.run_code(CHARTS)
    assert execution.error is None, execution.error
    charts = [r.chart for r in execution.results]
    assert all(r.png for r in execution.results)
    line, scatter, bar, pie, box, superchart = charts
    assert line.type == ChartType.LINE and line.title == "Line"
    assert (line.x_unit, line.y_unit) == ("s", "m")
    assert line.elements[0].label == "squares"
    assert [tuple(p) for p in line.elements[0].points] == [(0, 0), (1, 1), (2, 4)]
    assert scatter.type == ChartType.SCATTER and len(scatter.elements[0].points) == 3
    assert bar.type == ChartType.BAR
    assert [(e.label, e.value) for e in bar.elements] == [("a", 3), ("b", 5)]
    assert pie.type == ChartType.PIE and [e.label for e in pie.elements] == ["one", "three"]
    assert pie.elements[1].angle == pytest.approx(270)
    assert box.type == ChartType.BOX_AND_WHISKER
    assert [e.label for e in box.elements] == ["A", "B", "C"]
    assert box.elements[0].median == pytest.approx(88) and box.elements[0].max == 92
    assert superchart.type == ChartType.SUPERCHART and superchart.title == "Super"
    assert [c.type for c in superchart.elements] == [ChartType.LINE, ChartType.BAR]


LANGUAGES: list[tuple[str, str, list[str], str | None]] = [
    # language, code, stdout, main result text
    ("javascript", "console.log('js'); [1, 2].map((x) => x * 2).join(',')", ["js\n"], "2,4"),
    ("js", "const z = 40; z + 2", [], "42"),
    ("typescript", "const n: number = 21;\nconsole.log(typeof n);\nn * 2", ["number\n"], "42"),
    ("r", 'cat("r\\n"); sum(1:4)', ["r\n"], "[1] 10"),
    ("java", 'System.out.println("java");\n3 * 7', ["java\n"], "21"),
    ("bash", "echo bash; echo $((6 * 7))", ["bash\n42\n"], None),
]


@pytest.mark.parametrize(("language", "code", "stdout", "text"), LANGUAGES)
def test_languages(
    request: pytest.FixtureRequest, language: str, code: str, stdout: list[str], text: str | None
) -> None:
    execution = _sandbox_for(request, language).run_code(code, language=language)
    assert execution.error is None, execution.error
    assert "".join(execution.logs.stdout) == "".join(stdout)
    assert _text(execution) == text


def _text(execution: Execution) -> str | None:
    # IRkernel shows values as display_data, not as the cell's execute_result.
    return execution.results[-1].text if execution.results else None


RICH_ELSEWHERE = [
    ("r", "plot(1:10)", "png"),
    ("r", "data.frame(a = 1:2)", "html"),
    ("javascript", "Deno.jupyter.html`<b>x</b>`", "html"),
    ("typescript", "Deno.jupyter.svg`<svg xmlns='http://www.w3.org/2000/svg'/>`", "svg"),
]


@pytest.mark.parametrize(("language", "code", "fmt"), RICH_ELSEWHERE)
def test_rich_results_in_other_languages(
    request: pytest.FixtureRequest, language: str, code: str, fmt: str
) -> None:
    execution = _sandbox_for(request, language).run_code(code, language=language)
    assert execution.error is None, execution.error
    assert fmt in execution.results[-1].formats()


ERRORS = [
    ("javascript", "throw new TypeError('boom')", "TypeError", "boom"),
    ("r", 'stop("boom")', None, "boom"),
    ("java", 'throw new RuntimeException("boom");', None, "boom"),
]


@pytest.mark.parametrize(("language", "code", "name", "value"), ERRORS)
def test_errors_in_other_languages(
    request: pytest.FixtureRequest, language: str, code: str, name: str | None, value: str
) -> None:
    error = _sandbox_for(request, language).run_code(code, language=language).error
    assert error is not None
    assert name is None or error.name == name
    assert value in error.value + error.traceback


ENV_READS = {
    "python": "import os; os.environ.get('{name}', 'unset')",
    "javascript": "process.env['{name}'] ?? 'unset'",
    "r": 'Sys.getenv("{name}", "unset")',
    "java": 'System.getProperty("{name}", "unset")',
    "bash": "echo ${{{name}:-unset}}",
}


def _read_env(sbx: Sandbox, language: str, name: str, **kwargs: Any) -> str:
    execution = sbx.run_code(ENV_READS[language].format(name=name), language=language, **kwargs)
    assert execution.error is None, execution.error
    value = _text(execution) if language != "bash" else "".join(execution.logs.stdout)
    return (value or "").strip().removeprefix('[1] "').removesuffix('"')


@pytest.mark.parametrize("language", list(ENV_READS))
def test_env_vars_per_run(request: pytest.FixtureRequest, language: str) -> None:
    sandbox = _sandbox_for(request, language)
    assert _read_env(sandbox, language, "RUN_VAR", envs={"RUN_VAR": "per run"}) == "per run"
    assert _read_env(sandbox, language, "RUN_VAR") == "unset"  # only for that run


def test_env_vars_of_the_sandbox(request: pytest.FixtureRequest, sbx: Sandbox) -> None:
    for language in ("python", "javascript", "r", "bash"):
        sandbox = _sandbox_for(request, language)
        assert _read_env(sandbox, language, "SANDBOX_VAR") == "from-create", language
    assert _read_env(sbx, "python", "SANDBOX_VAR", envs={"SANDBOX_VAR": "x"}) == "x"
    assert _read_env(sbx, "python", "SANDBOX_VAR") == "from-create"  # restored


def test_contexts(sbx: Sandbox) -> None:
    assert sbx.run_code("1", language="javascript").text == "1"  # its default context too
    context = sbx.create_code_context(cwd="/tmp")
    assert context.language == "python" and context.cwd == "/tmp"
    assert sbx.run_code("import os; os.getcwd()", context=context).text == "/tmp"
    sbx.run_code("only_here = 1", context=context)
    assert sbx.run_code("'only_here' in dir()").text == "False"  # the default context
    listed = sbx.list_code_contexts()
    assert listed[-1].id == context.id
    assert {"python", "javascript"} <= {c.language for c in listed}

    sbx.restart_code_context(context)
    assert sbx.run_code("'only_here' in dir()", context=context).text == "False"
    assert sbx.run_code("import os; os.getcwd()", context=context).text == "/tmp"

    js = sbx.create_code_context(language="ts")
    assert js.language == "typescript"
    assert sbx.run_code("const k: number = 5; k", context=js).text == "5"

    sbx.remove_code_context(context)
    sbx.remove_code_context(js.id)
    assert context.id not in {c.id for c in sbx.list_code_contexts()}
    with pytest.raises(NotFoundException):
        sbx.run_code("1", context=context)
    with pytest.raises(NotFoundException):
        sbx.remove_code_context(context)


def test_bad_requests(server: Server, sbx: Sandbox) -> None:
    with pytest.raises(SandboxException, match="unsupported language"):
        sbx.run_code("1", language="cobol")
    headers = {
        "E2b-Sandbox-Id": sbx.sandbox_id,
        "E2b-Sandbox-Port": "49999",
        "E2B-Traffic-Access-Token": sbx.traffic_access_token or "",
    }
    both = httpx.post(
        server.url + "/execute",
        json={"code": "1", "language": "python", "context_id": "x"},
        headers=headers,
    )
    assert both.status_code == 400
    assert both.text == "Only one of context_id or language can be provided"
    unknown = httpx.post(
        server.url + "/execute", json={"code": "1", "context_id": "nope"}, headers=headers
    )
    assert unknown.status_code == 404 and unknown.text == "Context nope not found"
    # A lone surrogate (JSON's "\ud800"), which no kernel takes: refused, not a dropped stream.
    surrogate = httpx.post(
        server.url + "/execute",
        content=b'{"code": "\\ud800"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 400 and "not valid Unicode" in surrogate.text


def test_stream_lines(server: Server, sbx: Sandbox) -> None:
    """The wire itself: JSON objects, one a line, none blank, end_of_execution last."""
    headers = {
        "E2b-Sandbox-Id": sbx.sandbox_id,
        "E2b-Sandbox-Port": "49999",
        "E2B-Traffic-Access-Token": sbx.traffic_access_token or "",
    }
    response = httpx.post(
        server.url + "/execute",
        json={"code": "print('a')\n1", "language": None, "context_id": None, "env_vars": None},
        headers=headers,
        timeout=60,
    )
    lines = response.text.split("\n")
    assert lines[-1] == "" and all(lines[:-1])
    objects = [json.loads(line) for line in lines[:-1]]
    assert [o["type"] for o in objects] == [
        "number_of_executions",
        "stdout",
        "result",
        "end_of_execution",
    ]
    assert objects[1]["timestamp"] and objects[2] == {
        "type": "result",
        "text": "1",
        "extra": {},
        "is_main_result": True,
    }


def test_keepalive_lines_while_silent(server: Server, sbx: Sandbox) -> None:
    headers = {
        "E2b-Sandbox-Id": sbx.sandbox_id,
        "E2b-Sandbox-Port": "49999",
        "E2B-Traffic-Access-Token": sbx.traffic_access_token or "",
    }
    code = "import time\ntime.sleep(5.5)\nprint('done')"
    with httpx.stream(
        "POST", server.url + "/execute", json={"code": code}, headers=headers, timeout=60
    ) as response:
        types = [json.loads(line)["type"] for line in response.iter_lines()]
    assert "keepalive" in types
    assert types[-2:] == ["stdout", "end_of_execution"]


def test_timeout_interrupts_and_the_next_run_works(sbx: Sandbox) -> None:
    sbx.run_code("kept = 'yes'")
    with pytest.raises(TimeoutException, match="Execution timed out"):
        sbx.run_code("import time\ntime.sleep(60)", timeout=2)
    started = time.monotonic()
    assert sbx.run_code("kept").text == "yes"  # interrupted, not queued behind the sleep
    assert time.monotonic() - started < 10


def test_killed_during_execution(e2b_metadata: dict[str, str]) -> None:
    sandbox = Sandbox.create(metadata=e2b_metadata)
    killer = threading.Timer(1.5, lambda: Sandbox.kill(sandbox.sandbox_id))
    killer.start()
    try:
        with pytest.raises(TimeoutException, match="sandbox was killed"):
            sandbox.run_code("import time\ntime.sleep(60)")
    finally:
        killer.join()
        sandbox.kill()


def test_async_sdk(sbx: Sandbox) -> None:
    async def scenario() -> None:
        sandbox = await AsyncSandbox.connect(sbx.sandbox_id)
        seen: list[str] = []

        async def on_stdout(message: OutputMessage) -> None:
            seen.append(message.line)

        execution = await sandbox.run_code("print('async')\n6 * 7", on_stdout=on_stdout)
        assert execution.text == "42" and seen == ["async\n"]
        failed = await sandbox.run_code("undefined_name")
        assert failed.error is not None and failed.error.name == "NameError"
        js = await sandbox.run_code("'j' + 's'", language="javascript")
        assert js.text == "js"

        context = await sandbox.create_code_context(language="python")
        await sandbox.run_code("a = 1", context=context)
        assert context.id in {c.id for c in await sandbox.list_code_contexts()}
        await sandbox.remove_code_context(context)
        with pytest.raises(TimeoutException):
            await sandbox.run_code("import time\ntime.sleep(60)", timeout=2)
        env = await sandbox.run_code("import os; os.environ['A']", envs={"A": "b"})
        assert env.text == "b"

    asyncio.run(scenario())
