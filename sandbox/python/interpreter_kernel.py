"""Inside every Python kernel: formatters for structured results, PIL image display, and the
helpers the service calls silently around user cells (per-run environment variables)."""

from __future__ import annotations

import os
import sys
from typing import Any

_saved: list[dict[str, str | None]] = []


def set_env(env: dict[str, str]) -> None:
    """Set per-execution environment variables, remembering what they were."""
    _saved.append({key: os.environ.get(key) for key in env})
    os.environ.update(env)


def restore_env() -> None:
    """Put back what the last set_env changed."""
    if not _saved:
        return
    for key, value in _saved.pop().items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # pandas.Timestamp, datetime, date
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, float) and value != value:
        return None  # NaN is not JSON
    return value


def dataframe_data(df: Any) -> dict[str, list[Any]]:
    """A DataFrame as E2B's `e2b/data`: columns -> lists, timestamps as ISO strings."""
    return {
        str(column): [_jsonable(v) for v in values]
        for column, values in df.to_dict(orient="list").items()
    }


def figure_chart(figure: Any) -> dict[str, Any]:
    """A matplotlib Figure as E2B's `e2b/chart` (the e2b-charts package defines the format)."""
    import warnings

    from e2b_charts import chart_figure_to_dict

    try:
        with warnings.catch_warnings():  # its serializer warns about numpy ticks: not the user's
            warnings.simplefilter("ignore")
            return chart_figure_to_dict(figure)  # type: ignore[no-any-return]
    except Exception:
        return {}


def register(ip: Any) -> None:
    """Register the formatters on an IPython shell (those of pandas and matplotlib only where
    they are installed: the base template has neither)."""
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName, Unicode

    class DataFormatter(BaseFormatter):  # type: ignore[misc]
        _return_type = (dict,)  # BaseFormatter drops anything but str otherwise
        format_type = Unicode("e2b/data")
        print_method = ObjectName("_repr_e2b_data_")

    class ChartFormatter(BaseFormatter):  # type: ignore[misc]
        _return_type = (dict,)
        format_type = Unicode("e2b/chart")
        print_method = ObjectName("_repr_e2b_chart_")

    formatters = ip.display_formatter.formatters
    formatters["e2b/data"] = DataFormatter(parent=ip.display_formatter)
    formatters["e2b/chart"] = ChartFormatter(parent=ip.display_formatter)
    # As methods, not for_type(): matplotlib's inline backend pops every Figure printer from
    # every formatter when it activates.
    try:
        import pandas

        pandas.DataFrame._repr_e2b_data_ = dataframe_data
    except ImportError:
        pass
    try:
        from matplotlib.figure import Figure

        Figure._repr_e2b_chart_ = figure_chart
    except ImportError:
        pass
    # Plain lists and dicts also as JSON (the `json` field), like E2B's kernels do.
    formatters["application/json"].for_type(list, lambda v: v if _small_json(v) else None)
    formatters["application/json"].for_type(dict, lambda v: v if _small_json(v) else None)
    # Formatters added after start-up are only consulted once listed as active.
    ip.display_formatter.active_types = [
        *ip.display_formatter.active_types,
        "e2b/data",
        "e2b/chart",
    ]
    _patch_pil()
    _patch_boxplot()
    for stream in (sys.stdout, sys.stderr):
        _bound_output(stream)


# More than the front end delivers (16 MiB per execution, then its own marker): past this the
# kernel drops a cell's output instead of queueing it in ZMQ and the gateway (whose memory is
# the sandbox's: a 200 MiB print used to get the gateway OOM-killed). Sent in pieces of at most
# MESSAGE_BYTES, however fast it is written (the stream batches 0.2 s of writes otherwise).
CELL_OUTPUT_BYTES = 20 * 2**20
MESSAGE_BYTES = 2**20


def _bound_output(stream: Any) -> None:
    if not hasattr(stream, "parent_header") or getattr(stream, "_bounded", False):
        return  # not ipykernel's OutStream
    write = stream.write
    state: dict[str, Any] = {"cell": None, "written": 0, "unflushed": 0}

    def bounded_write(text: str) -> int:
        cell = stream.parent_header.get("msg_id")  # the header of the request it answers
        if cell != state["cell"]:
            state.update(cell=cell, written=0, unflushed=0)
        piece = text[: max(0, CELL_OUTPUT_BYTES - state["written"])]
        if piece:
            state["written"] += len(piece)
            state["unflushed"] += len(piece)
            write(piece)
            if state["unflushed"] >= MESSAGE_BYTES:
                state["unflushed"] = 0
                stream.flush()  # waits for the IO thread: the writer keeps its pace
        return len(text)

    stream.write = bounded_write
    stream._bounded = True


def _small_json(value: Any, limit: int = 1_000_000) -> bool:
    import json

    try:
        return len(json.dumps(value)) <= limit
    except (TypeError, ValueError):
        return False


def _patch_pil() -> None:
    """PIL images shown or saved become PNG results (like a plot), as E2B's kernels do."""
    try:
        from PIL import Image
    except ImportError:
        return
    from IPython.display import display

    original_save = Image.Image.save

    def show(self: Any, *args: Any, **kwargs: Any) -> None:
        display(self)

    def save(self: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
        original_save(self, fp, *args, **kwargs)
        if isinstance(fp, (str, os.PathLike)):
            display(self)

    Image.Image.show = show
    Image.Image.save = save


def _patch_boxplot() -> None:
    """boxplot(labels=...) as in E2B's matplotlib (3.10: deprecated, still working), where ours
    (3.11) removed it for tick_labels=: the old name is passed on as the new, with 3.10's
    warning."""
    try:
        import matplotlib
        from matplotlib.axes import Axes
    except ImportError:
        return
    import functools
    import inspect
    import warnings

    if "labels" in inspect.signature(Axes.boxplot).parameters:
        return  # this matplotlib still takes it

    def renamed(boxplot: Any) -> Any:
        @functools.wraps(boxplot)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if "labels" in kwargs and "tick_labels" not in kwargs:
                warnings.warn(
                    "The 'labels' parameter of boxplot() has been renamed 'tick_labels' since "
                    "Matplotlib 3.9; support for the old name will be dropped in 3.11.",
                    matplotlib.MatplotlibDeprecationWarning,
                    stacklevel=2,
                )
                kwargs["tick_labels"] = kwargs.pop("labels")
            return boxplot(*args, **kwargs)

        return wrapper

    Axes.boxplot = renamed(Axes.boxplot)
    pyplot = sys.modules.get("matplotlib.pyplot")  # imported at start-up where installed
    if pyplot is not None:
        pyplot.boxplot = renamed(pyplot.boxplot)
