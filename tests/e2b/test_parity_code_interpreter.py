"""The official E2B code-interpreter SDK where our kernels differ from E2B's and are made to
answer alike: Java's sandbox variables and println chunks, R's last value, a box plot with
matplotlib's old `labels=`, and the in-sandbox :49999/health with the kill-and-restart tests.
The code and the assertions are E2B's own tests' (e2b-dev/code-interpreter python/tests/sync
and js/tests), as noted at each."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2b_code_interpreter import Sandbox
from e2b_code_interpreter.charts import ChartType


@pytest.fixture(scope="module")
def sbx(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata, envs={"TEST_ENV_VAR": "supertest"})
    yield sandbox
    sandbox.kill()


# -- Java: the sandbox's variables as system properties (env_vars/test_java.py) ---------------
def test_java_env_vars_on_sandbox(sbx: Sandbox) -> None:
    result = sbx.run_code('System.getProperty("TEST_ENV_VAR")', language="java")
    assert result.results[0].text.strip() == "supertest"


def test_java_env_vars_per_execution_and_overwrite(sbx: Sandbox) -> None:
    result = sbx.run_code('System.getProperty("FOO")', envs={"FOO": "bar"}, language="java")
    result_empty = sbx.run_code('System.getProperty("FOO", "default")', language="java")
    assert result.results[0].text.strip() == "bar"
    assert result_empty.results[0].text.strip() == "default"

    result = sbx.run_code(
        'System.getProperty("TEST_ENV_VAR")', language="java", envs={"TEST_ENV_VAR": "overwrite"}
    )
    result_global_default = sbx.run_code('System.getProperty("TEST_ENV_VAR")', language="java")
    assert result.results[0].text.strip() == "overwrite"
    assert result_global_default.results[0].text.strip() == "supertest"


def test_java_env_vars_in_a_new_context_and_first_run_overwriting(sbx: Sandbox) -> None:
    # A kernel's first run with the variable overwritten: restored to the sandbox's afterwards.
    context = sbx.create_code_context(language="java")
    try:
        read = 'System.getProperty("TEST_ENV_VAR")'
        first = sbx.run_code(read, context=context, envs={"TEST_ENV_VAR": "overwrite"})
        assert first.results[0].text.strip() == "overwrite"
        assert sbx.run_code(read, context=context).results[0].text.strip() == "supertest"
    finally:
        sbx.remove_code_context(context)


# -- Java: println's chunks, as E2B's JDK 11 kernel sends them (test_default_kernels.py) -------
def test_java_kernel(sbx: Sandbox) -> None:
    execution = sbx.run_code('System.out.println("Hello, World!")', language="java")
    assert execution.logs.stdout[0] == "Hello, World!"
    assert execution.logs.stdout == ["Hello, World!", "\n"]


def test_java_print_without_newline_is_one_chunk(sbx: Sandbox) -> None:
    execution = sbx.run_code('System.out.print("a"); System.err.println("e");', language="java")
    assert execution.logs.stdout == ["a"] and execution.logs.stderr == ["e", "\n"]


def test_other_languages_keep_their_chunks(sbx: Sandbox) -> None:
    assert sbx.run_code("print('Hello, World!')").logs.stdout == ["Hello, World!\n"]
    js = sbx.run_code("console.log('Hello, World!')", language="js")  # test_js_kernel
    assert js.logs.stdout == ["Hello, World!\n"]


# -- R: the last value is display_data, not the cell's result (env_vars/test_r.py) ------------
def test_r_kernel(sbx: Sandbox) -> None:
    execution = sbx.run_code('print("Hello, World!")', language="r")
    assert execution.logs.stdout == ['[1] "Hello, World!"\n']


def test_r_last_value(sbx: Sandbox) -> None:
    execution = sbx.run_code("6*7", language="r")
    assert execution.results[0].text == "[1] 42"
    assert not execution.results[0].is_main_result
    assert execution.text is None  # as E2B's: IRkernel sends display_data


def test_r_env_vars_on_sandbox(sbx: Sandbox) -> None:
    result = sbx.run_code("Sys.getenv('TEST_ENV_VAR')", language="r")
    assert result.results[0].text.strip() == '[1] "supertest"'


# -- A box plot with labels= (js/tests/charts/boxAndWhisker.test.ts) --------------------------
BOX_PLOT = """
import matplotlib.pyplot as plt
import numpy as np

# Sample data
data = {
    'Class A': [85, 90, 78, 92, 88],
    'Class B': [95, 89, 76, 91, 84, 87],
    'Class C': [75, 82, 88, 79, 86]
}

# Create figure and axis
fig, ax = plt.subplots(figsize=(10, 6))

# Customize plot
ax.set_title('Exam Scores Distribution')
ax.set_xlabel('Class')
ax.set_ylabel('Score')

# Set custom colors
ax.boxplot(data.values(), labels=data.keys(), patch_artist=True)

# Add legend
ax.legend()

# Adjust layout and show plot
plt.tight_layout()
plt.show()
"""


def test_box_and_whisker_with_labels(sbx: Sandbox) -> None:
    result = sbx.run_code(BOX_PLOT)
    assert result.error is None, result.error
    chart = result.results[0].chart
    assert chart is not None
    assert chart.type == ChartType.BOX_AND_WHISKER
    assert chart.title == "Exam Scores Distribution"
    assert chart.x_label == "Class" and chart.y_label == "Score"
    assert chart.x_unit is None and chart.y_unit is None
    bars = chart.elements
    assert len(bars) == 3
    assert [bar.label for bar in bars] == ["Class A", "Class B", "Class C"]
    assert [bar.outliers for bar in bars] == [[], [76], []]
    assert [bar.min for bar in bars] == [78, 84, 75]
    assert [bar.first_quartile for bar in bars] == [85, 84.75, 79]
    assert [bar.median for bar in bars] == [88, 88, 82]
    assert [bar.third_quartile for bar in bars] == [90, 90.5, 86]
    assert [bar.max for bar in bars] == [92, 95, 88]
    # As matplotlib 3.10 (E2B's) does: deprecated, said once on stderr.
    assert "'labels' parameter of boxplot() has been renamed" in "".join(result.logs.stderr)


def test_pyplot_box_plot_with_labels(sbx: Sandbox) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.boxplot([[1, 2, 3], [4, 5, 6]], labels=['x', 'y'])\n"
        "[t.get_text() for t in plt.gca().get_xticklabels()]"
    )
    result = sbx.run_code(code)
    assert result.error is None, result.error
    assert result.text == "['x', 'y']"


# -- In-sandbox :49999/health; Jupyter and the code-interpreter server killed ------------------
# (test_supervision.py, the newest; test_systemd.py: the kill may fail, then one run at once)
def wait_for_health(sandbox: Sandbox, max_retries: int = 10, interval_ms: int = 100) -> bool:
    for _ in range(max_retries):
        try:
            result = sandbox.commands.run(
                'curl -s -o /dev/null -w "%{http_code}" http://0.0.0.0:49999/health'
            )
            if result.stdout.strip() == "200":
                return True
        except Exception:
            pass
        time.sleep(interval_ms / 1000)
    return False


def wait_for_working_sandbox(
    sandbox: Sandbox, max_retries: int = 60, interval_ms: int = 500
) -> bool:
    for _ in range(max_retries):
        try:
            result = sandbox.run_code("x = 1; x")
            if result.text == "1":
                return True
        except Exception:
            pass
        time.sleep(interval_ms / 1000)
    return False


@pytest.fixture
def fresh(e2b_metadata: dict[str, str]) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(metadata=e2b_metadata)
    yield sandbox
    sandbox.kill()


def test_health_inside_the_sandbox(sbx: Sandbox) -> None:
    assert wait_for_health(sbx)
    answer = sbx.commands.run("curl -s -i http://localhost:49999/health")
    assert answer.stdout.startswith("HTTP/1.1 200")
    assert "application/json" in answer.stdout and answer.stdout.endswith('\r\n\r\n"OK"')


def test_restart_after_jupyter_kill(fresh: Sandbox) -> None:
    assert wait_for_health(fresh)
    assert fresh.run_code("y = 2; y").text == "2"
    started = time.monotonic()
    fresh.commands.run("pkill -9 -f '[j]upyter-server'", user="root")  # exits 1 if none matched
    assert wait_for_working_sandbox(fresh)
    assert time.monotonic() - started < 15

    # test_systemd.py's form of it: then one run, at once, must work.
    try:
        fresh.commands.run("kill -9 $(pgrep -f 'jupyter server')", user="root")
    except Exception:
        pass
    assert wait_for_health(fresh, 60, 500)
    result = fresh.run_code("x = 1; x")
    assert result.text == "1"


def test_restart_after_code_interpreter_kill(fresh: Sandbox) -> None:
    assert wait_for_health(fresh)
    fresh.commands.run("pkill -9 -f '[u]vicorn main:app'", user="root")
    assert wait_for_working_sandbox(fresh)
    assert wait_for_health(fresh)  # back within a second

    try:
        fresh.commands.run("kill -9 $(pgrep -f 'uvicorn main:app')", user="root")
    except Exception:
        pass
    assert wait_for_health(fresh, 60, 500)
    result = fresh.run_code("x = 1; x")
    assert result.text == "1"


def test_a_run_right_after_the_jupyter_kill_works(fresh: Sandbox) -> None:
    # The host may send it before it noticed the channel close: it runs in the new kernel.
    fresh.run_code("kept = 1")
    fresh.commands.run("pkill -9 -f '[j]upyter-server'", user="root")
    result = fresh.run_code("x = 1; x")
    assert result.text == "1" and result.error is None
    assert "earlier variables are lost" in "".join(result.logs.stderr)
    assert fresh.run_code("'kept' in dir()").text == "False"

    fresh.commands.run("pkill -9 -f '[j]upyter-server'", user="root")
    result = fresh.run_code("import os; os.environ['A']", envs={"A": "b"})
    assert result.text == "b" and result.error is None
    # What the dead gateway's kernels were is gone with it (the supervisor killed them).
    listing = fresh.commands.run("ps -eo args", user="root").stdout
    assert listing.count("ipykernel_launcher") == 1
