"""The service's one error tree. The API maps each class to an HTTP status in one place.

InterpreterError
├── NotFoundError                    404
│   ├── SandboxNotFoundError
│   ├── ContextNotFoundError
│   ├── TemplateNotFoundError
│   ├── FileNotFoundInSandboxError
│   └── ProcessNotFoundError
├── PermissionDeniedError            403
├── InvalidRequestError              400
│   └── UnsupportedLanguageError
├── ConflictError                    409
├── SandboxStartError                500  the jail or its gateway did not come up
├── ImageBuildError                  500
├── CheckpointError                  500  pausing or resuming (CRIU) failed
├── GatewayError                     502  the sandbox's gateway answered badly or not at all
├── KernelError                      502
└── ExecutionTimeoutError            408  (mid-stream: sent as a fault event)
"""

from __future__ import annotations


class InterpreterError(Exception):
    """Root of every error the service raises on purpose."""


class NotFoundError(InterpreterError):
    pass


class SandboxNotFoundError(NotFoundError):
    pass


class ContextNotFoundError(NotFoundError):
    pass


class TemplateNotFoundError(NotFoundError):
    pass


class FileNotFoundInSandboxError(NotFoundError):
    pass


class ProcessNotFoundError(NotFoundError):
    pass


class PermissionDeniedError(InterpreterError):
    pass


class InvalidRequestError(InterpreterError):
    pass


class UnsupportedLanguageError(InvalidRequestError):
    pass


class ConflictError(InterpreterError):
    pass


class SandboxStartError(InterpreterError):
    pass


class ImageBuildError(InterpreterError):
    pass


class CheckpointError(InterpreterError):
    """A pause (checkpoint) or resume (restore) failed; the message says what is left."""


class GatewayError(InterpreterError):
    pass


class KernelError(InterpreterError):
    pass


class ExecutionTimeoutError(InterpreterError):
    """The execution ran past its timeout; the kernel was interrupted."""
