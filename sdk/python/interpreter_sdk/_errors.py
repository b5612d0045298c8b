"""The SDK's one error tree.

SandboxError
├── AuthenticationError        401: missing or wrong API key
├── NotFoundError              404: unknown sandbox, context, template, file or process
│   └── SandboxGoneError       the sandbox was killed (or paused) while the call was running
├── PermissionDeniedError      403: the sandbox user may not do that
├── InvalidRequestError        400 / 422: the server refused the request's content
│   ├── ConflictError          409: e.g. the sandbox is already paused, the path exists
│   └── ToolCallError          an LLM tool call that is not run_code's, or whose arguments do not
│                              fit its schema (``field`` names the argument; ``tools``)
├── ExecutionTimeoutError      the run passed its timeout; the kernel was interrupted
├── CommandExitError           a command exited non-zero (carries its stdout, stderr, exit code)
├── ConnectionError            the server could not be reached or the stream broke
├── TemplateBuildError         a template build failed (its step and log tail)
└── ServerError                anything else the server reported (5xx)
    └── KernelDiedError        the kernel died outside a run (e.g. while setting a run's envs)

A cell whose code raises is not an exception: it is ``Execution.error`` (a ``CellError``); so is
a kernel that dies while running the cell (an error named ``KernelDiedError``).
Every error type the server sends (its ``error.type``) has its class in ``SERVER_TYPES``.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Root of every error the SDK raises."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(SandboxError):
    pass


class TemplateBuildError(SandboxError):
    """A template build failed: ``step`` ("base", a step's number, "finalize") and the
    message, with the log's last lines."""

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


class NotFoundError(SandboxError):
    pass


class SandboxGoneError(NotFoundError):
    """The sandbox was killed (or paused) while the call was using it."""


class PermissionDeniedError(SandboxError):
    pass


class InvalidRequestError(SandboxError):
    pass


class ConflictError(InvalidRequestError):
    pass


class ToolCallError(InvalidRequestError):
    """A tool call that cannot be run as it is; ``field`` names the argument at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ExecutionTimeoutError(SandboxError):
    pass


class CommandExitError(SandboxError):
    def __init__(self, stdout: str, stderr: str, exit_code: int, error: str | None) -> None:
        detail = error or (stderr.strip().splitlines() or [""])[-1]
        super().__init__(f"command exited with code {exit_code}: {detail}"[:2000])
        self.stdout, self.stderr, self.exit_code, self.error = stdout, stderr, exit_code, error


class ConnectionError(SandboxError):  # noqa: A001 - the SDK's own, under SandboxError
    pass


class ServerError(SandboxError):
    pass


class KernelDiedError(ServerError):
    pass


# The server's error types (``{"error": {"type": ...}}``, fault events) -> the SDK's classes.
SERVER_TYPES: dict[str, type[SandboxError]] = {
    "AuthenticationError": AuthenticationError,
    "NotFoundError": NotFoundError,
    "SandboxNotFoundError": NotFoundError,
    "SandboxGoneError": SandboxGoneError,
    "ContextNotFoundError": NotFoundError,
    "TemplateNotFoundError": NotFoundError,
    "FileNotFoundInSandboxError": NotFoundError,
    "ProcessNotFoundError": NotFoundError,
    "BuildNotFoundError": NotFoundError,
    "SecretNotFoundError": NotFoundError,
    "SnapshotNotFoundError": NotFoundError,
    "VolumeNotFoundError": NotFoundError,
    "VolumePathNotFoundError": NotFoundError,
    "VolumeFullError": ConflictError,
    "WebhookNotFoundError": NotFoundError,
    "BuildFilesNotFoundError": NotFoundError,
    "DockerfileError": InvalidRequestError,
    "TemplateInUseError": ConflictError,
    "BuildStepError": ServerError,
    "PermissionDeniedError": PermissionDeniedError,
    "InvalidRequestError": InvalidRequestError,
    "UnsupportedLanguageError": InvalidRequestError,
    "ValidationError": InvalidRequestError,
    "ConflictError": ConflictError,
    "ExecutionTimeoutError": ExecutionTimeoutError,
    "NotSupportedError": ServerError,
    "SandboxStartError": ServerError,
    "ImageBuildError": ServerError,
    "CheckpointError": ServerError,
    "CriuError": ServerError,
    "GatewayError": ServerError,
    "PortNotOpenError": ServerError,
    "KernelError": ServerError,
    "KernelGoneError": ServerError,
    "KernelDiedError": KernelDiedError,
    "InterpreterError": ServerError,
    "AgentNotFoundError": NotFoundError,
    "AgentSessionNotFoundError": NotFoundError,
    "PayloadTooLargeError": InvalidRequestError,
    "AgentEntrypointError": ServerError,
    "AgentTimeoutError": ExecutionTimeoutError,
}


def error_from_response(status_code: int, body: Any) -> SandboxError:
    detail = body.get("error") if isinstance(body, dict) else None
    kind = str(detail.get("type", "")) if isinstance(detail, dict) else ""
    message = str(detail.get("message", "")) if isinstance(detail, dict) else str(body)[:500]
    if kind in SERVER_TYPES:
        cls = SERVER_TYPES[kind]
    elif status_code == 401:
        cls = AuthenticationError
    elif status_code == 404:
        cls = NotFoundError
    elif status_code == 403:
        cls = PermissionDeniedError
    elif status_code == 409:
        cls = ConflictError
    elif status_code in (400, 422):
        cls = InvalidRequestError
    else:
        cls = ServerError
    return cls(
        f"{status_code} {kind}: {message}" if kind else f"{status_code}: {message}", status_code
    )


def error_from_fault(error: Any) -> SandboxError:
    kind = str(error.get("type", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    return SERVER_TYPES.get(kind, ServerError)(f"{kind}: {message}")
