"""Errors become HTTP responses here and only here: one body shape, one status table."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from interpreter.core import errors

STATUS: list[tuple[type[errors.InterpreterError], int]] = [
    (errors.NotFoundError, 404),
    (errors.InvalidRequestError, 400),
    (errors.PermissionDeniedError, 403),
    (errors.ConflictError, 409),
    (errors.ExecutionTimeoutError, 408),
    (errors.GatewayError, 502),
    (errors.KernelError, 502),
    (errors.InterpreterError, 500),
]


def status_of(exc: errors.InterpreterError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def body(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message}}


class AuthenticationError(Exception):
    pass


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.InterpreterError)
    async def domain_error(request: Request, exc: errors.InterpreterError) -> JSONResponse:
        return JSONResponse(body(type(exc).__name__, str(exc)), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse(
            {**body("ValidationError", problems), "detail": jsonable_encoder(exc.errors())},
            status_code=422,
        )

    @app.exception_handler(AuthenticationError)
    async def unauthenticated(request: Request, exc: AuthenticationError) -> JSONResponse:
        return JSONResponse(body("AuthenticationError", str(exc)), status_code=401)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(body("HTTPError", str(exc.detail)), status_code=exc.status_code)
