/**
 * The SDK's one error tree, the same as the Python SDK's (sdk/python/interpreter_sdk/_errors.py):
 *
 * SandboxError
 * ├── AuthenticationError        401: missing or wrong API key
 * ├── NotFoundError              404: unknown sandbox, context, template, file or process
 * │   └── SandboxGoneError       the sandbox was killed (or paused) while the call was running
 * ├── PermissionDeniedError      403: the sandbox user may not do that
 * ├── InvalidRequestError        400 / 422: the server refused the request's content
 * │   ├── ConflictError          409: e.g. the sandbox is already paused, the path exists
 * │   └── ToolCallError          an LLM tool call that is not run_code's, or whose arguments do not
 * │                              fit its schema (`field` names the argument; `tools`)
 * ├── ExecutionTimeoutError      the run passed its timeout; the kernel was interrupted
 * ├── CommandExitError           a command exited non-zero (carries its stdout, stderr, exit code)
 * ├── ConnectionError            the server could not be reached or the stream broke
 * ├── TemplateBuildError         a template build failed (its step and log tail)
 * └── ServerError                anything else the server reported (5xx)
 *     └── KernelDiedError        the kernel died outside a run (e.g. while setting a run's envs)
 *
 * A cell whose code raises is not an exception: it is `Execution.error` (a `CellError`); so is
 * a kernel that dies while running the cell (an error named `KernelDiedError`). A call whose
 * `AbortSignal` fires rejects with the signal's reason (an `AbortError` unless you gave one),
 * as `fetch` does.
 */

/** Root of every error the SDK throws. */
export class SandboxError extends Error {
  /** The HTTP status of the answer that carried the error, if one did. */
  readonly statusCode: number | undefined

  constructor(message: string, statusCode?: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.statusCode = statusCode
  }
}

export class AuthenticationError extends SandboxError {}

/** A template build failed: `step` ("base", a step's number, "finalize") and the message, with
 * the log's last lines. */
export class TemplateBuildError extends SandboxError {
  readonly step: string | undefined

  constructor(message: string, step?: string) {
    super(message)
    this.step = step
  }
}

export class NotFoundError extends SandboxError {}

/** The sandbox was killed (or paused) while the call was using it. */
export class SandboxGoneError extends NotFoundError {}

export class PermissionDeniedError extends SandboxError {}

export class InvalidRequestError extends SandboxError {}

export class ConflictError extends InvalidRequestError {}

/** A tool call that cannot be run as it is; `field` names the argument at fault. */
export class ToolCallError extends InvalidRequestError {
  readonly field: string | undefined

  constructor(message: string, field?: string, options?: { cause?: unknown }) {
    super(message, undefined, options)
    this.field = field
  }
}

export class ExecutionTimeoutError extends SandboxError {}

/** A command exited non-zero: its output, exit code and the server's reason, if any. */
export class CommandExitError extends SandboxError {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
  readonly error: string | undefined

  constructor(stdout: string, stderr: string, exitCode: number, error?: string) {
    const lines = stderr.trim().split('\n')
    const detail = error || lines[lines.length - 1] || ''
    super(`command exited with code ${exitCode}: ${detail}`.slice(0, 2000))
    this.stdout = stdout
    this.stderr = stderr
    this.exitCode = exitCode
    this.error = error
  }
}

export class ConnectionError extends SandboxError {}

export class ServerError extends SandboxError {}

export class KernelDiedError extends ServerError {}

type ErrorClass = new (message: string, statusCode?: number) => SandboxError

/** The server's error types (`{"error": {"type": ...}}`, fault events) -> the SDK's classes:
 * the same table as the Python SDK's (tests/unit/test_sdk_surface.py compares them). */
export const SERVER_TYPES: Readonly<Record<string, ErrorClass>> = Object.freeze({
  AuthenticationError,
  NotFoundError,
  SandboxNotFoundError: NotFoundError,
  SandboxGoneError,
  ContextNotFoundError: NotFoundError,
  TemplateNotFoundError: NotFoundError,
  FileNotFoundInSandboxError: NotFoundError,
  ProcessNotFoundError: NotFoundError,
  BuildNotFoundError: NotFoundError,
  SecretNotFoundError: NotFoundError,
  BuildFilesNotFoundError: NotFoundError,
  SnapshotNotFoundError: NotFoundError,
  VolumeNotFoundError: NotFoundError,
  VolumePathNotFoundError: NotFoundError,
  VolumeFullError: ConflictError,
  WebhookNotFoundError: NotFoundError,
  DockerfileError: InvalidRequestError,
  TemplateInUseError: ConflictError,
  BuildStepError: ServerError,
  PermissionDeniedError,
  InvalidRequestError,
  UnsupportedLanguageError: InvalidRequestError,
  ValidationError: InvalidRequestError,
  ConflictError,
  ExecutionTimeoutError,
  NotSupportedError: ServerError,
  SandboxStartError: ServerError,
  ImageBuildError: ServerError,
  CheckpointError: ServerError,
  CriuError: ServerError,
  GatewayError: ServerError,
  PortNotOpenError: ServerError,
  KernelError: ServerError,
  KernelGoneError: ServerError,
  KernelDiedError,
  InterpreterError: ServerError,
  AgentNotFoundError: NotFoundError,
  AgentSessionNotFoundError: NotFoundError,
  PayloadTooLargeError: InvalidRequestError,
  AgentEntrypointError: ServerError,
  AgentTimeoutError: ExecutionTimeoutError,
})

function serverType(kind: string): ErrorClass | undefined {
  return Object.prototype.hasOwnProperty.call(SERVER_TYPES, kind) ? SERVER_TYPES[kind] : undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The error an unsuccessful answer stands for: by its `error.type`, else by its status. */
export function errorFromResponse(statusCode: number, body: unknown): SandboxError {
  const detail = isRecord(body) ? body.error : undefined
  const kind = isRecord(detail) ? String(detail.type ?? '') : ''
  const message = isRecord(detail)
    ? String(detail.message ?? '')
    : (typeof body === 'string' ? body : (JSON.stringify(body) ?? '')).slice(0, 500)
  let cls: ErrorClass | undefined = serverType(kind)
  if (cls === undefined) {
    if (statusCode === 401) cls = AuthenticationError
    else if (statusCode === 404) cls = NotFoundError
    else if (statusCode === 403) cls = PermissionDeniedError
    else if (statusCode === 409) cls = ConflictError
    else if (statusCode === 400 || statusCode === 422) cls = InvalidRequestError
    else cls = ServerError
  }
  return new cls(kind ? `${statusCode} ${kind}: ${message}` : `${statusCode}: ${message}`, statusCode)
}

/** The error an answer of `statusCode` whose body is `text` stands for (its JSON, or the text). */
export function errorFromAnswer(statusCode: number, text: string): SandboxError {
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the text is the message
  }
  return errorFromResponse(statusCode, body)
}

/** The error a `fault` event of a stream stands for. */
export function errorFromFault(error: unknown): SandboxError {
  const kind = isRecord(error) ? String(error.type ?? '') : ''
  const message = isRecord(error) ? String(error.message ?? '') : String(error)
  const cls = serverType(kind) ?? ServerError
  return new cls(`${kind}: ${message}`)
}
