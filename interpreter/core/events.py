"""What an execution yields, in order: the typed event stream every adapter serializes.

The field names follow Jupyter and E2B's code-interpreter, so E2B clients read them as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stdout(Event):
    type: Literal["stdout"] = "stdout"
    text: str
    timestamp: datetime


class Stderr(Event):
    type: Literal["stderr"] = "stderr"
    text: str
    timestamp: datetime


class Result(Event):
    """One Jupyter MIME bundle (execute_result or display_data), a field per format."""

    type: Literal["result"] = "result"
    text: str | None = None
    html: str | None = None
    markdown: str | None = None
    svg: str | None = None
    png: str | None = None
    jpeg: str | None = None
    pdf: str | None = None
    latex: str | None = None
    json_: Any = Field(None, alias="json")
    javascript: str | None = None
    data: Any = None
    chart: Any = None
    extra: dict[str, Any] = Field(default_factory=dict)
    is_main_result: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CellError(Event):
    """The user's code raised (data, not an infrastructure failure)."""

    type: Literal["error"] = "error"
    name: str
    value: str
    traceback: str


class ExecutionCount(Event):
    type: Literal["execution_count"] = "execution_count"
    execution_count: int


class End(Event):
    type: Literal["end"] = "end"


class Keepalive(Event):
    type: Literal["keepalive"] = "keepalive"


class Fault(Event):
    """An infrastructure failure mid-stream (timeout, sandbox gone): the SDK raises it."""

    type: Literal["fault"] = "fault"
    error: dict[str, str]


ExecutionEvent = Annotated[
    Stdout | Stderr | Result | CellError | ExecutionCount | End | Keepalive | Fault,
    Field(discriminator="type"),
]
