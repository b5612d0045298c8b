"""Every result format, structured data and chart data (issue #3)."""

from __future__ import annotations

import base64

import pytest

from interpreter_sdk import Sandbox


def only(sandbox: Sandbox, code: str):  # type: ignore[no-untyped-def]
    execution = sandbox.run_code(code)
    assert execution.error is None, execution.error
    assert len(execution.results) == 1, execution.results
    return execution.results[0]


@pytest.mark.parametrize(
    "code, field, check",
    [
        ("from IPython.display import Markdown\nMarkdown('# Title')", "markdown", "# Title"),
        ("from IPython.display import SVG\nSVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>')",
         "svg", "<svg"),
        ("from IPython.display import Latex\nLatex('$x^2$')", "latex", "$x^2$"),
        ("from IPython.display import JSON\nJSON({'a': 1})", "json", {"a": 1}),
        ("from IPython.display import Javascript\nJavascript('console.log(1)')", "javascript",
         "console.log(1)"),
        ("from IPython.display import HTML\nHTML('<b>x</b>')", "html", "<b>x</b>"),
        ("[1, 2, 3]", "json", [1, 2, 3]),
    ],
)  # fmt: skip
def test_mime_formats(sandbox: Sandbox, code: str, field: str, check: object) -> None:
    result = only(sandbox, code)
    value = getattr(result, field)
    if isinstance(check, str) and field not in ("json",):
        assert check in value
    else:
        assert value == check
    assert result.is_main_result


def test_display_raw_yields_exactly_the_given_formats(sandbox: Sandbox) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    result = only(
        sandbox,
        "display({'text/latex': r'\\alpha', 'application/pdf': "
        f"'{pdf}', 'application/x-custom': 'c'}}, raw=True)",
    )
    assert result.formats() == ["pdf", "latex", "application/x-custom"]
    assert result.latex == "\\alpha" and result.pdf == pdf
    assert result.extra == {"application/x-custom": "c"}
    assert result.text is None and not result.is_main_result


def test_jpeg_and_pil_images(sandbox: Sandbox) -> None:
    setup = "from PIL import Image\nimg = Image.new('RGB', (4, 4), 'red')\n"
    shown = sandbox.run_code(setup + "img.show()")
    assert shown.results and base64.b64decode(shown.results[0].png).startswith(b"\x89PNG")
    returned = only(sandbox, setup + "img")
    assert base64.b64decode(returned.png).startswith(b"\x89PNG") and returned.is_main_result
    saved = sandbox.run_code(setup + "img.save('/tmp/x.png')")
    assert len(saved.results) == 1 and saved.results[0].png
    jpeg = only(
        sandbox,
        setup + "import io\nfrom IPython.display import Image as I\nb = io.BytesIO()\n"
        "img.save(b, format='JPEG')\nI(data=b.getvalue(), format='jpeg')",
    )
    assert base64.b64decode(jpeg.jpeg).startswith(b"\xff\xd8")


def test_dataframe_data_is_columns_of_lists(sandbox: Sandbox) -> None:
    result = only(
        sandbox,
        "import pandas as pd\npd.DataFrame({'a': [1, 2, 3], 'when': "
        "pd.to_datetime(['2024-01-01', '2024-01-02', '2024-01-03']), 'x': [0.5, None, 1.5]})",
    )
    assert result.data == {
        "a": [1, 2, 3],
        "when": ["2024-01-01T00:00:00", "2024-01-02T00:00:00", "2024-01-03T00:00:00"],
        "x": [0.5, None, 1.5],
    }
    assert result.text and result.html


FIGURE = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"


def chart_of(sandbox: Sandbox, code: str) -> dict:  # type: ignore[type-arg]
    execution = sandbox.run_code(FIGURE + code + "\nplt.show()")
    assert execution.error is None, execution.error
    (result,) = execution.results
    assert result.png and result.chart
    assert not execution.logs.stderr, execution.logs.stderr
    return result.chart  # type: ignore[no-any-return]


def test_line_chart(sandbox: Sandbox) -> None:
    chart = chart_of(
        sandbox,
        "ax.plot([1, 2, 3], [4, 5, 6], label='speed')\nax.set_title('Run')\n"
        "ax.set_xlabel('Time (s)')\nax.set_ylabel('Speed [m/s]')",
    )
    assert chart["type"] == "line" and chart["title"] == "Run"
    assert (chart["x_label"], chart["x_unit"]) == ("Time (s)", "s")
    assert (chart["y_label"], chart["y_unit"]) == ("Speed [m/s]", "m/s")
    assert chart["x_scale"] == "linear" and chart["y_scale"] == "linear"
    assert chart["elements"] == [{"label": "speed", "points": [[1, 4], [2, 5], [3, 6]]}]
    assert len(chart["x_ticks"]) == len(chart["x_tick_labels"]) > 0


def test_scatter_chart(sandbox: Sandbox) -> None:
    chart = chart_of(sandbox, "ax.scatter([1, 2], [3, 4], label='dots')")
    assert chart["type"] == "scatter"
    assert chart["elements"] == [{"label": "dots", "points": [[1, 3], [2, 4]]}]


def test_bar_chart(sandbox: Sandbox) -> None:
    chart = chart_of(sandbox, "ax.bar(['A', 'B'], [3, 5], label='sales')\nax.set_title('Bars')")
    assert chart["type"] == "bar" and chart["title"] == "Bars"
    assert chart["elements"] == [
        {"label": "A", "group": "sales", "value": 3},
        {"label": "B", "group": "sales", "value": 5},
    ]


def test_pie_chart(sandbox: Sandbox) -> None:
    chart = chart_of(sandbox, "ax.pie([1, 3], labels=['x', 'y'])")
    assert chart["type"] == "pie"
    assert [e["label"] for e in chart["elements"]] == ["x", "y"]
    assert [round(e["angle"]) for e in chart["elements"]] == [90, 270]
    assert all(e["radius"] == 1 for e in chart["elements"])


def test_box_and_whisker_chart(sandbox: Sandbox) -> None:
    chart = chart_of(
        sandbox,
        "ax.boxplot([[1, 2, 3, 4, 5, 6, 7, 8, 30], [10, 20, 30, 40, 50]], "
        "tick_labels=['a', 'b'], patch_artist=True)",
    )
    assert chart["type"] == "box_and_whisker"
    assert chart["elements"] == [
        {"label": "a", "min": 1, "first_quartile": 3, "median": 5, "third_quartile": 7,
         "max": 8, "outliers": [30]},
        {"label": "b", "min": 10, "first_quartile": 20, "median": 30, "third_quartile": 40,
         "max": 50, "outliers": []},
    ]  # fmt: skip


def test_superchart(sandbox: Sandbox) -> None:
    execution = sandbox.run_code(
        "import matplotlib.pyplot as plt\nfig, (a, b) = plt.subplots(1, 2)\n"
        "fig.suptitle('Both')\na.plot([1, 2], [1, 2])\nb.bar(['x'], [1])\nplt.show()"
    )
    chart = execution.results[0].chart
    assert chart["type"] == "superchart" and chart["title"] == "Both"
    assert [c["type"] for c in chart["elements"]] == ["line", "bar"]
