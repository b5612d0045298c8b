"""notebooks/data_analysis.ipynb, run cell by cell through the SDK (issue #3)."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat

from interpreter_sdk import Sandbox

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "data_analysis.ipynb"


def test_data_analysis_notebook(sandbox: Sandbox) -> None:
    cells = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    runs = [sandbox.run_code(code) for code in cells]
    assert all(run.error is None for run in runs), [run.error for run in runs]
    written, head, described, grouped, plotted = runs

    assert written.logs.stdout == ["rows written: 18\n"]
    assert head.results[0].data["region"][:3] == ["north", "south", "east"]
    assert len(head.results[0].data["units"]) == 5
    assert "<table" in described.results[0].html
    assert set(described.results[0].data) == {"month", "units"}
    totals = grouped.results[0].data
    assert totals["region"] == ["east", "north", "south"]
    total = sandbox.run_code("int(pd.read_csv('/home/user/sales.csv').units.sum())").text
    assert sum(totals["units"]) == int(total)
    (plot,) = plotted.results
    assert base64.b64decode(plot.png).startswith(b"\x89PNG")
    chart = plot.chart
    assert chart["type"] == "bar" and chart["title"] == "Units by region"
    assert chart["y_unit"] == "pcs"
    assert [e["value"] for e in chart["elements"]] == totals["units"]
