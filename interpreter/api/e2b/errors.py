"""The error tables of two E2B surfaces: the control plane and the code-interpreter server.
(envd's, HTTP and Connect, is ``envd.errors``.) Each maps the one error tree of ``core.errors``,
read by the most specific class listed, to what that surface's SDK code expects.

Control plane: E2B's ``{"code", "message"}`` body with that status (the SDKs read ``message``;
404 is their ``NotFoundException``), never the native API's shape.

Code interpreter (``/execute``, ``/contexts``): plain text, as E2B's server answers; an unknown
or killed sandbox gets the proxy's 502 JSON (the SDKs turn it into their timeout error), and a
sandbox killed under a running ``/execute`` drops the connection, as E2B's proxy does, after
which the SDKs ask envd's ``/health`` and tell the user the sandbox was killed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from interpreter.api.e2b import schemas
from interpreter.api.e2b.routing import sandbox_unavailable
from interpreter.api.errors import STATUS, lookup, problems
from interpreter.core import errors

# E2B's control plane answers with the native API's statuses (its body differs: see below).
CONTROL: Mapping[type[errors.InterpreterError], int] = STATUS

# The proxy's 502 JSON; mid-run: a dropped connection.
SANDBOX_UNAVAILABLE: Final = "sandbox_unavailable"
# The code interpreter as the control plane, but an unknown or killed sandbox (SandboxGoneError
# too) is the proxy's answer, as in E2B, where the sandbox's own server is behind its proxy.
CODE_INTERPRETER: Mapping[type[errors.InterpreterError], int | Literal["sandbox_unavailable"]] = {
    **STATUS,
    errors.SandboxNotFoundError: SANDBOX_UNAVAILABLE,
}


class ControlError(BaseModel):
    """E2B's error body."""

    code: int
    message: str


def control_answers() -> dict[int | str, dict[str, Any]]:
    """``responses=`` of the control plane's routes (the OpenAPI document lists them): every
    status of its table, and 400 for a request that does not match its schema."""
    statuses = set(CONTROL.values()) | {400}
    return {status: {"model": ControlError} for status in sorted(statuses)}


def control_response(exc: Exception) -> JSONResponse:
    """A control-plane route's error: one of the tree, a request that did not validate (400)
    or the framework's HTTP error."""
    if isinstance(exc, errors.InterpreterError):
        code, message = lookup(CONTROL, type(exc)) or 500, str(exc)
    elif isinstance(exc, RequestValidationError):
        code, message = 400, f"invalid request: {problems(exc)}"
    elif isinstance(exc, HTTPException):
        code, message = exc.status_code, str(exc.detail)
    else:
        raise TypeError(f"not an error of this surface: {exc!r}")
    # The Python SDK retries a 502/503/504 unless told not to: a create that failed here (a
    # kernel that did not start) would fail again, after another cold boot.
    return JSONResponse(
        schemas.error(code, message), status_code=code, headers={"Should-Retry": "false"}
    )


def code_interpreter_response(exc: Exception, sandbox_id: str | None) -> Response:
    """A code-interpreter route's error answered before any of its body."""
    if isinstance(exc, RequestValidationError):
        return PlainTextResponse(f"invalid request: {problems(exc)}", status_code=400)
    if not isinstance(exc, errors.InterpreterError):
        raise TypeError(f"not an error of this surface: {exc!r}")
    answer = lookup(CODE_INTERPRETER, type(exc)) or 500
    if answer == SANDBOX_UNAVAILABLE:
        return sandbox_unavailable(sandbox_id)
    return PlainTextResponse(str(exc), status_code=int(answer))


def execution_error_line(exc: errors.InterpreterError) -> dict[str, Any] | None:
    """A failure in the middle of ``/execute``: its error line, or None where the sandbox is gone
    (the connection is then dropped without completing the response)."""
    if lookup(CODE_INTERPRETER, type(exc)) == SANDBOX_UNAVAILABLE:
        return None
    return {"type": "error", "name": type(exc).__name__, "value": str(exc), "traceback": ""}
