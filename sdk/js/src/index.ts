/**
 * JavaScript/TypeScript SDK of the self-hosted code interpreter: the Python SDK's surface
 * (`interpreter_sdk`) in camelCase, async throughout.
 *
 *     import { Sandbox } from 'interpreter-sdk'
 *     const sbx = await Sandbox.create()
 *     try {
 *       console.log((await sbx.runCode('1 + 1')).text)
 *     } finally {
 *       await sbx.kill()
 *     }
 */

export { Sandbox, DEFAULT_RUN_TIMEOUT } from './sandbox.js'
export type {
  CreateContextOpts,
  CreateOpts,
  CreateVolumeOpts,
  ForkOpts,
  Handler,
  ListOpts,
  ListSnapshotsOpts,
  MetricsOpts,
  PauseOpts,
  ResumeOpts,
  RunCodeOpts,
  SandboxRunOpts,
  SnapshotOpts,
} from './sandbox.js'
export type { GetEventsOpts, LifecycleEvent } from './events.js'
export { Files, WatchHandle } from './files.js'
export type { ListFilesOpts, SignedUrlOpts, User, UserOpts, WatchOpts, WriteEntry } from './files.js'
export { CommandHandle, Commands, Pty } from './commands.js'
export type { BackgroundOpts, OnData, OutputOpts, PtyOpts, RunOpts, StartOpts } from './commands.js'
export { Templates } from './templates.js'
export { AgentRuntimeClient } from './agents.js'
export type { AgentInfo, AgentInvocation, InvokeAgentOpts, RegisterAgentOpts } from './agents.js'
export type { BuildInfo, BuildLogEntry, BuildOpts, FollowOpts, TagOpts, TemplateInfo } from './templates.js'
export { Execution, OutputMessage, Result } from './models.js'
export type {
  CellError,
  CommandInfo,
  CommandResult,
  Context,
  EntryInfo,
  FilesystemEvent,
  Logs,
  Metrics,
  Network,
  RunResult,
  SandboxInfo,
  SnapshotInfo,
  VolumeInfo,
} from './models.js'
export type { ConnectionOpts, RequestOpts, Upload } from './http.js'
export {
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
} from './errors.js'
/** run_code as an LLM tool (OpenAI's and Anthropic's tool calls): `tools.anthropicTool()`,
 * `await tools.handle(call, sbx)`. */
export * as tools from './tools.js'
