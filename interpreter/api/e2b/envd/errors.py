"""envd's one error table, for its plain HTTP routes (``/files``, ``/envs``, ``/health``) and its
Connect services alike: each class of the tree (``core.errors``, the most specific listed wins)
has an HTTP status and a Connect code.

- plain HTTP: envd's body ``{"message", "code": <status>}`` with that status;
- Connect, unary: ``{"code": <connect code>, "message"}`` with the code's HTTP status;
- Connect, streams: the code in the end-of-stream message;
- an unknown or killed sandbox, before any body: the proxy's 502 (``routing.sandbox_unavailable``),
  as E2B's proxy answers, in every protocol (mid-stream it can only be ``not_found``).

``ConnectError`` is the protocol's own error (a code and a message), raised by the adapter for
what only Connect has words for (a malformed envelope, an unknown method); it carries its code.
Anything else (a bug) is logged and answered ``internal error``.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from starlette.responses import JSONResponse, Response

from interpreter.api.e2b.routing import sandbox_unavailable
from interpreter.api.errors import lookup
from interpreter.core import errors

log = logging.getLogger(__name__)

# The Connect protocol's codes and their HTTP statuses (connectrpc.com/docs/protocol).
HTTP_STATUS = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}


class Answer(NamedTuple):
    status: int  # plain HTTP routes
    code: str  # Connect
    unavailable: bool = False  # before any body: the proxy's 502 instead


ENVD: dict[type[errors.InterpreterError], Answer] = {
    errors.AuthenticationError: Answer(401, "unauthenticated"),
    errors.SandboxNotFoundError: Answer(502, "not_found", unavailable=True),  # and SandboxGone
    errors.NotFoundError: Answer(404, "not_found"),
    errors.InvalidRequestError: Answer(400, "invalid_argument"),
    errors.PermissionDeniedError: Answer(403, "permission_denied"),
    errors.ConflictError: Answer(409, "already_exists"),
    errors.ExecutionTimeoutError: Answer(408, "deadline_exceeded"),
    errors.NotSupportedError: Answer(501, "unimplemented"),
    errors.GatewayError: Answer(502, "unavailable"),
    errors.KernelError: Answer(502, "internal"),
    errors.InterpreterError: Answer(500, "internal"),
}
DISK_FULL_STATUS = 507  # envd's answer to a write that ran out of space (the agent's ENOSPC)


class ConnectError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def answer_of(exc: errors.InterpreterError) -> Answer:
    return lookup(ENVD, type(exc)) or ENVD[errors.InterpreterError]


def connect_error(exc: BaseException) -> ConnectError:
    """``exc`` as a Connect error (unary answers and end-of-stream messages)."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, errors.InterpreterError):
        return ConnectError(answer_of(exc).code, str(exc))
    log.error("envd call failed", exc_info=exc)
    return ConnectError("internal", "internal error")


def unavailable(exc: BaseException) -> Response | None:
    """The proxy's 502 if ``exc`` says the sandbox is unknown or was killed."""
    if isinstance(exc, errors.InterpreterError) and answer_of(exc).unavailable:
        return sandbox_unavailable(getattr(exc, "sandbox_id", None))
    return None


def connect_response(exc: BaseException) -> Response:
    """A unary Connect call's error answer."""
    if (response := unavailable(exc)) is not None:
        return response
    error = connect_error(exc)
    return JSONResponse(error.to_json(), status_code=HTTP_STATUS.get(error.code, 500))


def http_response(exc: BaseException) -> Response:
    """An error answer of envd's plain HTTP routes: ``{"message", "code"}``."""
    if (response := unavailable(exc)) is not None:
        return response
    status, message = 500, "internal error"
    if isinstance(exc, ConnectError):
        status, message = HTTP_STATUS.get(exc.code, 400), exc.message
    elif isinstance(exc, errors.InterpreterError):
        status, message = answer_of(exc).status, str(exc)
        if "No space left on device" in message:
            status = DISK_FULL_STATUS
    else:
        log.error("envd call failed", exc_info=exc)
    return JSONResponse({"message": message, "code": status}, status_code=status)
