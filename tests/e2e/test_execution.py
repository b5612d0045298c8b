"""Running code: state, streaming, errors, rich results (issue #2)."""

from __future__ import annotations

import base64
import time

from interpreter_sdk import OutputMessage, Sandbox


def test_state_persists_between_runs(sandbox: Sandbox) -> None:
    sandbox.run_code("x = 41")
    execution = sandbox.run_code("x + 1")
    assert execution.error is None
    assert execution.text == "42"
    assert execution.execution_count == 2


def test_readme_example(sandbox: Sandbox) -> None:
    ex = sandbox.run_code(
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\nprint(df.a.sum())\ndf"
    )
    assert ex.logs.stdout == ["6\n"]
    assert ex.results[0].html is not None and "<table" in ex.results[0].html
    assert ex.results[0].is_main_result


def test_stdout_streams_before_the_execution_ends(sandbox: Sandbox) -> None:
    arrivals: list[tuple[float, str]] = []

    def on_stdout(msg: OutputMessage) -> None:
        arrivals.append((time.monotonic(), msg.text))

    execution = sandbox.run_code(
        "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second')",
        on_stdout=on_stdout,
    )
    ended = time.monotonic()
    assert [text for _, text in arrivals] == ["first\n", "second\n"]
    assert ended - arrivals[0][0] > 1.5, "the first line must arrive while the cell still runs"
    assert execution.logs.stdout == ["first\n", "second\n"]


def test_stderr_is_separate(sandbox: Sandbox) -> None:
    execution = sandbox.run_code("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert "".join(execution.logs.stdout) == "out\n"
    assert "".join(execution.logs.stderr) == "err\n"


def test_exception_gives_name_value_traceback(sandbox: Sandbox) -> None:
    execution = sandbox.run_code("def f():\n    return 1 / 0\nf()")
    assert execution.error is not None
    assert execution.error.name == "ZeroDivisionError"
    assert execution.error.value == "division by zero"
    assert "f()" in execution.error.traceback and "1 / 0" in execution.error.traceback
    assert execution.results == []


def test_plt_show_gives_a_png(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"
    )
    assert execution.error is None
    pngs = [r.png for r in execution.results if r.png]
    assert len(pngs) == 1
    assert base64.b64decode(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not execution.results[0].is_main_result


def test_dataframe_gives_text_and_html(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'z']})"
    )
    (result,) = execution.results
    assert result.is_main_result
    assert result.text is not None and "a" in result.text and "z" in result.text
    assert result.html is not None and "<table" in result.html
    assert {"text", "html"} <= set(result.formats())


def test_string_result_is_unquoted(sandbox: Sandbox) -> None:
    assert sandbox.run_code("'hello'").text == "hello"


def test_per_run_env_vars_are_restored(sandbox: Sandbox) -> None:
    code = "import os\nos.environ.get('RUN_ONLY', 'unset')"
    assert sandbox.run_code(code, envs={"RUN_ONLY": "yes"}).text == "yes"
    assert sandbox.run_code(code).text == "unset"


def test_contexts_have_their_own_state_and_cwd(sandbox: Sandbox) -> None:
    sandbox.run_code("v = 'default'")
    ctx = sandbox.create_code_context(cwd="/tmp")
    assert ctx.language == "python" and ctx.cwd == "/tmp"
    assert sandbox.run_code("import os\nos.getcwd()", context=ctx).text == "/tmp"
    assert sandbox.run_code("'v' in globals()", context=ctx).text == "False"
    assert sandbox.run_code("v").text == "default"
    ids = [c.id for c in sandbox.list_code_contexts()]
    assert ctx.id in ids and len(ids) == 3  # with the default python and javascript ones
    sandbox.run_code("w = 1", context=ctx)
    sandbox.restart_code_context(ctx)
    assert sandbox.run_code("'w' in globals()", context=ctx).text == "False"
    sandbox.remove_code_context(ctx)
    assert ctx.id not in [c.id for c in sandbox.list_code_contexts()]


def test_a_removed_default_context_is_made_anew(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory()
    sbx.run_code("v = 1")
    (default,) = [c for c in sbx.list_code_contexts() if c.language == "python"]
    sbx.remove_code_context(default)
    # The next run goes to a new default context (not to the removed one the front end knew).
    assert sbx.run_code("'v' in globals()").text == "False"
    (fresh,) = [c for c in sbx.list_code_contexts() if c.language == "python"]
    assert fresh.id != default.id
    assert sbx.run_code("'v' in globals()", language="python").text == "False"


def test_sandbox_env_vars_reach_the_kernel(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sbx = sandbox_factory(envs={"GREETING": "hello"})
    assert sbx.run_code("import os\nos.environ['GREETING']").text == "hello"


def test_runs_as_user_in_home(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import os, getpass\nprint(os.getuid(), getpass.getuser(), os.getcwd())"
    )
    assert execution.logs.stdout == ["1000 user /home/user\n"]
