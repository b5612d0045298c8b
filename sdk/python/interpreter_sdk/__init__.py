"""Python SDK of the self-hosted code interpreter.

from interpreter_sdk import Sandbox
with Sandbox.create() as sbx:
    print(sbx.run_code("1 + 1").text)
"""

from interpreter_sdk._async import AsyncSandbox
from interpreter_sdk._errors import (
    AuthenticationError,
    ConnectionError,
    ExecutionTimeoutError,
    InvalidRequestError,
    NotFoundError,
    SandboxError,
    ServerError,
)
from interpreter_sdk._models import (
    CellError,
    Context,
    Execution,
    Logs,
    OutputMessage,
    Result,
    SandboxInfo,
)
from interpreter_sdk._sync import Sandbox

__all__ = [
    "AsyncSandbox",
    "AuthenticationError",
    "CellError",
    "ConnectionError",
    "Context",
    "Execution",
    "ExecutionTimeoutError",
    "InvalidRequestError",
    "Logs",
    "NotFoundError",
    "OutputMessage",
    "Result",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "ServerError",
]
