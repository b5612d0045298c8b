"""The service's one error tree. Each wire surface translates it in one table: the native API
(``api.errors``), E2B's control plane and code-interpreter server (``api.e2b.errors``) and envd,
HTTP and Connect (``api.e2b.envd.errors``). The statuses drawn are the native API's.

InterpreterError
├── AuthenticationError              401  missing or wrong API key or access token
├── NotFoundError                    404
│   ├── SandboxNotFoundError
│   │   └── SandboxGoneError              the sandbox was killed (or paused) under a running call
│   ├── ContextNotFoundError
│   ├── TemplateNotFoundError
│   ├── BuildNotFoundError
│   ├── SecretNotFoundError
│   ├── SnapshotNotFoundError
│   ├── WebhookNotFoundError
│   ├── VolumeNotFoundError
│   ├── VolumePathNotFoundError           no such file or folder in a volume
│   ├── BuildFilesNotFoundError           a COPY step's uploaded files are not there
│   ├── AgentNotFoundError                no such agent, or no such version of it
│   ├── AgentSessionNotFoundError         no such session of the agent (or it ended)
│   ├── FileNotFoundInSandboxError
│   └── ProcessNotFoundError
├── PermissionDeniedError            403
├── InvalidRequestError              400
│   ├── UnsupportedLanguageError
│   ├── DockerfileError                   the message names the line
│   └── PayloadTooLargeError         413  an agent invocation's payload is over its limit
├── ConflictError                    409
│   ├── TemplateInUseError                it has sandboxes, or a build runs
│   └── VolumeFullError                   a write through the volume content API hit its size
├── NotSupportedError                501  a feature (of E2B's API) this server does not have
├── SandboxStartError                500  the jail or its gateway did not come up
├── ImageBuildError                  500
│   └── BuildStepError                    a template build's step failed (its number)
├── CheckpointError                  500  pausing or resuming (CRIU) failed
├── AgentEntrypointError             500  an agent's entrypoint raised (its traceback)
├── GatewayError                     502  the sandbox's gateway answered badly or not at all
│   └── AgentTimeoutError            504  an agent did not answer within its invocation timeout
├── KernelError                      502
│   └── KernelDiedError                   the kernel died (outside a run: a death during run_code
│                                         is the run's error event named KernelDiedError)
└── ExecutionTimeoutError            408  (mid-stream: sent as a fault event)
"""

from __future__ import annotations


class InterpreterError(Exception):
    """Root of every error the service raises on purpose."""


class AuthenticationError(InterpreterError):
    """The request's API key (or a sandbox's access token or URL signature) is missing or wrong."""


class NotFoundError(InterpreterError):
    pass


class SandboxNotFoundError(NotFoundError):
    """No such sandbox (or it is not running); ``sandbox_id`` names it where E2B's answer must."""

    def __init__(self, message: str = "", sandbox_id: str | None = None) -> None:
        super().__init__(message)
        self.sandbox_id = sandbox_id


class SandboxGoneError(SandboxNotFoundError):
    """The sandbox was killed (or paused) while a call was using it: it is no longer running."""


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


class NotSupportedError(InterpreterError):
    """A feature this server does not have (parts of E2B's API)."""


class SandboxStartError(InterpreterError):
    pass


class ImageBuildError(InterpreterError):
    pass


class CheckpointError(InterpreterError):
    """A pause (checkpoint) or resume (restore) failed; the message says what is left."""


class GatewayError(InterpreterError):
    pass


class PortNotOpenError(GatewayError):
    """Nothing listens on the sandbox's port a request was for."""


class KernelError(InterpreterError):
    pass


class KernelGoneError(KernelError):
    """The gateway no longer knows the kernel (it was restarted, e.g. OOM-killed by a bomb)."""


class KernelDiedError(KernelError):
    """The kernel died (exited, ran out of memory) outside a run, e.g. during a run's set-up."""


class ExecutionTimeoutError(InterpreterError):
    """The execution ran past its timeout; the kernel was interrupted."""


class BuildNotFoundError(NotFoundError):
    """No template build of that id (for that template)."""


class BuildFilesNotFoundError(NotFoundError):
    """A COPY step names an archive of files that was never uploaded."""


class DockerfileError(InvalidRequestError):
    """A Dockerfile this service cannot build: the message names the line."""


class TemplateInUseError(ConflictError):
    """The template has sandboxes (running or paused), or a build of it runs."""


class BuildStepError(ImageBuildError):
    """A template build's step failed: its number (1-based), what it printed last."""

    def __init__(self, message: str, step: int = 0) -> None:
        super().__init__(message)
        self.step = step


class SecretNotFoundError(NotFoundError):
    """No secret of that id or name."""


class SnapshotNotFoundError(NotFoundError):
    """No snapshot of that id or name."""


class VolumeNotFoundError(NotFoundError):
    """No volume of that id or name."""


class VolumePathNotFoundError(NotFoundError):
    """No such file or folder in the volume (or not of the kind the call needs)."""


class VolumeFullError(ConflictError):
    """A write through the volume content API went past the volume's size (ENOSPC)."""


class WebhookNotFoundError(NotFoundError):
    """No webhook of that id."""


class AgentNotFoundError(NotFoundError):
    """No agent of that id (``agent_<name>_v<version>``), or no such version of it."""


class AgentSessionNotFoundError(NotFoundError):
    """No such session of the agent (never made, ended, or its sandbox is gone)."""


class PayloadTooLargeError(InvalidRequestError):
    """An agent invocation's payload is larger than the documented limit."""


class AgentEntrypointError(InterpreterError):
    """An agent's entrypoint raised: the message holds its type, message and traceback."""


class AgentTimeoutError(GatewayError):
    """An agent did not answer within the invocation's timeout (its sandbox runs on)."""
