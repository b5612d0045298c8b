"""Python SDK of the self-hosted code interpreter.

from interpreter_sdk import Sandbox
with Sandbox.create() as sbx:
    print(sbx.run_code("1 + 1").text)
"""

# ``tools`` (run_code for LLM tool calls) and ``agent_runtime`` (an agent's server, run inside its
# sandbox: standard library only) are public modules: imported so that they are always
# attributes of the package, and listed in __all__.
from interpreter_sdk import agent_runtime, tools
from interpreter_sdk._agent_models import AgentInfo
from interpreter_sdk._agents_async import AsyncAgentRuntimeClient
from interpreter_sdk._agents_sync import AgentRuntimeClient
from interpreter_sdk._async import AsyncSandbox
from interpreter_sdk._commands_async import AsyncCommandHandle, AsyncCommands, AsyncPty
from interpreter_sdk._commands_sync import CommandHandle, Commands, Pty
from interpreter_sdk._errors import (
    AuthenticationError,
    CommandExitError,
    ConflictError,
    ConnectionError,
    ExecutionTimeoutError,
    InvalidRequestError,
    KernelDiedError,
    NotFoundError,
    PermissionDeniedError,
    SandboxError,
    SandboxGoneError,
    ServerError,
    TemplateBuildError,
    ToolCallError,
)
from interpreter_sdk._events import LifecycleEvent
from interpreter_sdk._files_async import AsyncFiles, AsyncWatchHandle
from interpreter_sdk._files_sync import Files, WatchHandle
from interpreter_sdk._models import (
    CellError,
    CommandInfo,
    CommandResult,
    Context,
    EntryInfo,
    Execution,
    FilesystemEvent,
    Logs,
    Network,
    OutputMessage,
    Result,
    RunResult,
    SandboxInfo,
    SnapshotInfo,
    VolumeInfo,
)
from interpreter_sdk._sync import Sandbox
from interpreter_sdk._templates import BuildInfo, BuildLogEntry, TemplateInfo, Templates

__all__ = [
    "AgentInfo",
    "AgentRuntimeClient",
    "AsyncAgentRuntimeClient",
    "AsyncCommandHandle",
    "AsyncCommands",
    "AsyncFiles",
    "AsyncPty",
    "AsyncSandbox",
    "AsyncWatchHandle",
    "AuthenticationError",
    "BuildInfo",
    "BuildLogEntry",
    "CellError",
    "CommandExitError",
    "CommandHandle",
    "CommandInfo",
    "CommandResult",
    "Commands",
    "ConflictError",
    "ConnectionError",
    "Context",
    "EntryInfo",
    "Execution",
    "ExecutionTimeoutError",
    "Files",
    "FilesystemEvent",
    "InvalidRequestError",
    "KernelDiedError",
    "LifecycleEvent",
    "Logs",
    "Network",
    "NotFoundError",
    "OutputMessage",
    "PermissionDeniedError",
    "Pty",
    "Result",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "SandboxGoneError",
    "SandboxInfo",
    "ServerError",
    "SnapshotInfo",
    "TemplateBuildError",
    "TemplateInfo",
    "Templates",
    "ToolCallError",
    "VolumeInfo",
    "WatchHandle",
    "agent_runtime",
    "tools",
]
