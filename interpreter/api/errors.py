"""The native API's errors: one body shape, one status table, and the OpenAPI answers of both.

Every error leaves as ``{"error": {"type": <class name>, "message": ...}}`` (422 adds pydantic's
``detail``). ``STATUS`` maps the error tree of ``core.errors`` to statuses; the most specific
class listed wins. Routes declare what they can answer with ``answers(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from interpreter.core import errors

T = TypeVar("T")

STATUS: dict[type[errors.InterpreterError], int] = {
    errors.AuthenticationError: 401,
    errors.NotFoundError: 404,
    errors.InvalidRequestError: 400,
    errors.PermissionDeniedError: 403,
    errors.ConflictError: 409,
    errors.ExecutionTimeoutError: 408,
    errors.PayloadTooLargeError: 413,
    errors.AgentTimeoutError: 504,
    errors.NotSupportedError: 501,
    errors.GatewayError: 502,
    errors.KernelError: 502,
    errors.InterpreterError: 500,
}


# Keys typed Any: a Mapping's keys are invariant, and each table lists a subtree's classes.
def lookup(table: Mapping[type[Any], T], cls: type[BaseException]) -> T | None:
    """The entry of the most specific of ``cls``'s classes that ``table`` lists (None: none).
    Every surface's table is read through this."""
    for base in cls.__mro__:
        if base in table:
            return table[base]
    return None


def status_of(exc: errors.InterpreterError | type[errors.InterpreterError]) -> int:
    status = lookup(STATUS, exc if isinstance(exc, type) else type(exc))
    assert status is not None  # InterpreterError itself is listed
    return status


def body(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message}}


def problems(exc: RequestValidationError) -> str:
    """pydantic's complaints in one line: ``loc.of.field: what is wrong; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def invalid(exc: RequestValidationError) -> dict[str, Any]:
    """The 422 answer's body."""
    return {**body("ValidationError", problems(exc)), "detail": jsonable_encoder(exc.errors())}


# -- OpenAPI -----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    type: str
    message: str


class Error(BaseModel):
    """Every error answer: the error class's name and what went wrong."""

    error: ErrorDetail


class ValidationError(Error):
    """422: the request did not match its schema; ``detail`` is pydantic's list of problems."""

    detail: list[dict[str, Any]]


DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing or wrong API key",
    403: "Permission denied in the sandbox",
    404: "Not found (sandbox, context, template, file or process)",
    408: "Execution timed out",
    409: "Conflict (e.g. the sandbox is already paused, the path exists)",
    413: "Payload too large (an agent invocation's)",
    422: "The request does not match its schema",
    500: "Internal error (e.g. the sandbox did not start, a checkpoint failed)",
    501: "Not supported",
    502: "The sandbox's gateway, agent or kernel failed",
    504: "An agent did not answer in time",
}


def answers(*raised: type[errors.InterpreterError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can raise ``raised``: their statuses with the error
    body's schema, plus what every route can answer (422 invalid input, 500)."""
    statuses = {status_of(cls) for cls in raised} | {500}
    documented: dict[int | str, dict[str, Any]] = {
        status: {"model": Error, "description": DESCRIPTIONS[status]} for status in statuses
    }
    documented[422] = {"model": ValidationError, "description": DESCRIPTIONS[422]}
    return dict(sorted(documented.items(), key=lambda item: str(item[0])))


# What a call into a sandbox's files or processes can answer (it resumes a paused sandbox too).
SANDBOX_FILES = answers(
    errors.NotFoundError,
    errors.InvalidRequestError,
    errors.PermissionDeniedError,
    errors.ConflictError,
    errors.GatewayError,
)


def answer(exc: errors.InterpreterError | HTTPException) -> JSONResponse:
    """The error answer of a domain error or an ``HTTPException`` (e.g. the guard's 413)."""
    if isinstance(exc, HTTPException):
        return JSONResponse(body("HTTPError", str(exc.detail)), status_code=exc.status_code)
    return JSONResponse(body(type(exc).__name__, str(exc)), status_code=status_of(exc))


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.InterpreterError)
    async def domain_error(request: Request, exc: errors.InterpreterError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(invalid(exc), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return answer(exc)
