/** Sandbox: create, connect, list; run code; contexts; lifetime, pause/resume, metrics. */

import { Commands, Pty } from './commands.js'
import {
  ConnectionError,
  ExecutionTimeoutError,
  type SandboxError,
  ServerError,
  errorFromFault,
} from './errors.js'
import { type GetEventsOpts, type LifecycleEvent, lifecycleEvent } from './events.js'
import { Files } from './files.js'
import { Connection, type ConnectionOpts, type RequestOpts } from './http.js'
import {
  type CellError,
  type Context,
  Execution,
  FORMATS,
  type Metrics,
  type Network,
  OutputMessage,
  Result,
  type RunResult,
  type SandboxInfo,
  type SnapshotInfo,
  type VolumeInfo,
  contextOf,
  metricsOf,
  networkBody,
  optionalDate,
  sandboxInfo,
  snapshotInfo,
  volumeInfo,
} from './models.js'

/** Seconds a runCode may take unless told (`timeout: null`: no limit). */
export const DEFAULT_RUN_TIMEOUT = 300
/** Extra seconds the client waits (for a silent stream) beyond the server-side run timeout. */
const STREAM_GRACE = 15
/** A create whose connection failed is sent again, with the same idempotency key. */
const CREATE_ATTEMPTS = 3

/** Called as a run's events arrive; a returned promise is awaited before the next event. */
export type Handler<T> = (value: T) => unknown

export interface CreateOpts extends ConnectionOpts, RequestOpts {
  /** Image name (default `code-interpreter`); `name:tag` for a tagged build. */
  template?: string
  /** Lifetime in seconds before the server kills (or pauses) it. */
  timeout?: number
  /** Key/value tags, usable as a `list` filter. */
  metadata?: Record<string, string>
  /** Environment variables of every process in the sandbox. */
  envs?: Record<string, string>
  /** CPU cores. */
  cpu?: number
  /** Memory limit in MiB (memory and swap). */
  memoryMb?: number
  /** Disk limit in MiB (the sandbox's writable file system; ENOSPC inside beyond it). */
  diskMb?: number
  /** Egress, e.g. `{enabled: true, denyOut: ['0.0.0.0/0'], allowOut: ['pypi.org']}`
   * (default: loopback only). */
  network?: Network
  /** `"pause"` pauses it (resumable) instead of killing it at its timeout; `"pause_files"`
   * pauses it keeping only its files. */
  onTimeout?: 'kill' | 'pause' | 'pause_files'
  /** Volumes to mount, absolute path inside → volume name (or id), e.g.
   * `{'/mnt/data': 'my-data'}`; shared read-write, they outlive the sandbox. */
  volumeMounts?: Record<string, string>
}

export interface CreateVolumeOpts extends ConnectionOpts, RequestOpts {
  /** Its size in MiB (ENOSPC past it; default: the server's). */
  sizeMb?: number
}

export interface ListOpts extends ConnectionOpts, RequestOpts {
  /** Only sandboxes whose metadata has every pair. */
  metadata?: Record<string, string>
}

export interface RunCodeOpts extends RequestOpts {
  /** Run in this language's default context (exclusive with `context`): python (default),
   * javascript (js), typescript (ts), bash, r, java. */
  language?: string
  /** A Context (or its id) from `createCodeContext`. */
  context?: Context | string
  onStdout?: Handler<OutputMessage>
  onStderr?: Handler<OutputMessage>
  onResult?: Handler<Result>
  onError?: Handler<CellError>
  /** Environment variables for this run only. */
  envs?: Record<string, string>
  /** Seconds before the run is interrupted (default 300; `null`: no limit). */
  timeout?: number | null
}

export interface SandboxRunOpts extends ConnectionOpts, RequestOpts {
  /** Code to run (`RunResult.execution`); exclusive with `cmd`. */
  code?: string
  /** A command line for `bash -c` (`RunResult.command`, non-zero exit codes too). */
  cmd?: string
  /** The code's language (default python). */
  language?: string
  /** Written first: path (absolute or relative to /home/user) → text or bytes. */
  files?: Record<string, string | Uint8Array>
  /** Read after the run (16 MiB together at most); missing ones are left out. */
  readFiles?: string[]
  /** Seconds the code or command may run (default 60). */
  timeout?: number
  /** The sandbox's, as in `create`. */
  template?: string
  envs?: Record<string, string>
  metadata?: Record<string, string>
  network?: Network
}

/** Extra seconds a one-shot run's answer may take: the create, the files. */
const RUN_GRACE = 120

export interface CreateContextOpts extends RequestOpts {
  language?: string
  /** Working directory (default /home/user). */
  cwd?: string
}

export interface PauseOpts extends RequestOpts {
  /** Keep its processes (default true); false: only its files. */
  memory?: boolean
}

export interface ResumeOpts extends RequestOpts {
  /** Its new lifetime in seconds. */
  timeout?: number
  /** false: discard the checkpoint and boot fresh on the kept files. */
  memory?: boolean
}

export interface SnapshotOpts extends RequestOpts {
  /** A name ([a-z0-9._-]). */
  name?: string
  /** Keep its processes and kernels (default true); false: its files only. */
  memory?: boolean
}

export interface ForkOpts extends RequestOpts {
  /** How many (default 1, at most 100). */
  count?: number
  /** Lifetime of each fork in seconds. */
  timeout?: number
}

export interface ListSnapshotsOpts extends ConnectionOpts, RequestOpts {
  /** Only this sandbox's snapshots. */
  sandboxId?: string
}

export interface MetricsOpts extends RequestOpts {
  /** Samples from this moment. */
  start?: Date
  /** Samples until this moment. */
  end?: Date
}

function defined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined))
}

function contextId(context: Context | string): string {
  return typeof context === 'string' ? context : context.id
}

async function newIdempotencyKey(): Promise<string> {
  const bytes = new Uint8Array(16)
  const web = (globalThis as { crypto?: { getRandomValues(array: Uint8Array): Uint8Array } }).crypto
  if (web) web.getRandomValues(bytes)
  else (await import('node:crypto')).randomFillSync(bytes) // Node 18: no global crypto
  return 'sdk-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

const RESULT_FIELDS = new Set<string>([...FORMATS, 'extra'])

/** Folds the NDJSON event lines of one run into an Execution, calling the handlers. */
class ExecutionBuilder {
  readonly execution = new Execution()
  ended = false

  constructor(private readonly opts: RunCodeOpts) {}

  /** Take one line; returns what a handler returned (awaited by the caller). */
  feed(line: string): unknown {
    const event = JSON.parse(line) as Record<string, unknown>
    const { onStdout, onStderr, onResult, onError } = this.opts
    switch (event.type) {
      case 'stdout':
      case 'stderr': {
        const text = String(event.text ?? '')
        const isErr = event.type === 'stderr'
        ;(isErr ? this.execution.logs.stderr : this.execution.logs.stdout).push(text)
        const handler = isErr ? onStderr : onStdout
        return handler?.(new OutputMessage(text, optionalDate(event.timestamp), isErr))
      }
      case 'result': {
        const fields: Record<string, unknown> = {}
        for (const [key, value] of Object.entries(event)) {
          if (RESULT_FIELDS.has(key) && value !== null) fields[key] = value
        }
        fields.isMainResult = Boolean(event.is_main_result)
        const result = new Result(fields as Partial<Result>)
        this.execution.results.push(result)
        return onResult?.(result)
      }
      case 'error': {
        const error: CellError = {
          name: String(event.name ?? ''),
          value: String(event.value ?? ''),
          traceback: String(event.traceback ?? ''),
        }
        this.execution.error = error
        return onError?.(error)
      }
      case 'execution_count':
        this.execution.executionCount = event.execution_count as number
        return undefined
      case 'fault':
        throw errorFromFault(event.error)
      case 'end':
        this.ended = true
        return undefined
      default:
        return undefined // keepalive and types added later are ignored
    }
  }

  finish(): Execution {
    if (!this.ended) throw new ConnectionError('the execution stream ended before the execution did')
    return this.execution
  }
}

function runResult(data: Record<string, unknown>): RunResult {
  const result: RunResult = { sandboxId: String(data.sandbox_id), files: {} }
  const collected = data.execution as Record<string, unknown> | null | undefined
  if (collected) {
    // The server folded the execute stream's events: fold them again, as runCode does.
    const builder = new ExecutionBuilder({})
    const feed = (event: Record<string, unknown>): unknown => builder.feed(JSON.stringify(event))
    const logs = collected.logs as { stdout: string[]; stderr: string[] }
    if (collected.execution_count != null) {
      feed({ type: 'execution_count', execution_count: collected.execution_count })
    }
    for (const text of logs.stdout) feed({ type: 'stdout', text })
    for (const text of logs.stderr) feed({ type: 'stderr', text })
    for (const r of collected.results as Record<string, unknown>[]) feed({ ...r, type: 'result' })
    if (collected.error) feed({ ...(collected.error as object), type: 'error' })
    result.execution = builder.execution
  }
  const command = data.command as Record<string, unknown> | null | undefined
  if (command) {
    result.command = {
      stdout: String(command.stdout),
      stderr: String(command.stderr),
      exitCode: Number(command.exit_code),
      ...(command.error != null ? { error: String(command.error) } : {}),
    }
  }
  const files = (data.files ?? {}) as Record<string, { content: string; encoding: string }>
  for (const [path, file] of Object.entries(files)) {
    result.files[path] =
      file.encoding === 'base64'
        ? new Uint8Array(Buffer.from(file.content, 'base64'))
        : new TextEncoder().encode(file.content)
  }
  return result
}

/** A sandbox on the server. Make one with `await Sandbox.create()`. */
export class Sandbox {
  /** Its record as last seen (updated by getInfo, setTimeout, pause, resume...). */
  info: SandboxInfo
  readonly sandboxId: string
  readonly files: Files
  readonly commands: Commands
  readonly pty: Pty
  private readonly connection: Connection

  /** Use `Sandbox.create` / `Sandbox.connect`. */
  constructor(info: SandboxInfo, connection: Connection) {
    this.info = info
    this.sandboxId = info.id
    this.connection = connection
    this.files = new Files(connection, info.id)
    this.commands = new Commands(connection, info.id)
    this.pty = new Pty(connection, info.id)
  }

  /** Create a sandbox and wait until it is ready. */
  static async create(opts: CreateOpts = {}): Promise<Sandbox> {
    const connection = Connection.resolve(opts)
    const body = defined({
      template: opts.template,
      timeout: opts.timeout,
      metadata: opts.metadata,
      envs: opts.envs,
      cpu: opts.cpu,
      memory_mb: opts.memoryMb,
      disk_mb: opts.diskMb,
      network: opts.network && networkBody(opts.network),
      on_timeout: opts.onTimeout,
      volume_mounts: opts.volumeMounts,
    })
    // One key per create: if the answer is lost, the retry gets the sandbox the first request
    // made, not a second one.
    const headers = { 'Idempotency-Key': await newIdempotencyKey() }
    for (let attempt = 1; ; attempt++) {
      try {
        const data = await connection.call<Record<string, unknown>>('POST', '/sandboxes', {
          json: body,
          headers,
          timeout: null,
          signal: opts.signal,
        })
        return new Sandbox(sandboxInfo(data), connection)
      } catch (err) {
        if (!(err instanceof ConnectionError) || attempt >= CREATE_ATTEMPTS) throw err
      }
    }
  }

  /** Attach to an existing sandbox by id. */
  static async connect(sandboxId: string, opts: ConnectionOpts & RequestOpts = {}): Promise<Sandbox> {
    const connection = Connection.resolve(opts)
    const data = await connection.call<Record<string, unknown>>(
      'GET',
      `/sandboxes/${encodeURIComponent(sandboxId)}`,
      { signal: opts.signal },
    )
    return new Sandbox(sandboxInfo(data), connection)
  }

  /** Live sandboxes whose metadata contains every given pair. */
  static async list(opts: ListOpts = {}): Promise<SandboxInfo[]> {
    const connection = Connection.resolve(opts)
    const metadata = Object.entries(opts.metadata ?? {}).map(([k, v]) => `${k}=${v}`)
    const data = await connection.call<Record<string, unknown>[]>('GET', '/sandboxes', {
      query: { metadata },
      signal: opts.signal,
    })
    return data.map(sandboxInfo)
  }

  /** A one-shot run: a new sandbox (from the warm pool) gets `files`, runs `code` or `cmd`
   * (one of them), gives back `readFiles` and is killed, also if this call is aborted. One
   * request; no output streams. A code run past `timeout` throws ExecutionTimeoutError (a
   * command is killed; its `error` says so). */
  static async run(opts: SandboxRunOpts = {}): Promise<RunResult> {
    const connection = Connection.resolve(opts)
    const timeout = opts.timeout ?? 60
    const files =
      opts.files &&
      Object.fromEntries(
        Object.entries(opts.files).map(([path, data]) => [
          path,
          typeof data === 'string'
            ? data
            : { content: Buffer.from(data).toString('base64'), encoding: 'base64' },
        ]),
      )
    const body = defined({
      code: opts.code,
      cmd: opts.cmd,
      language: opts.language,
      timeout,
      files,
      read_files: opts.readFiles,
      template: opts.template,
      envs: opts.envs,
      metadata: opts.metadata,
      network: opts.network && networkBody(opts.network),
    })
    const data = await connection.call<Record<string, unknown>>('POST', '/run', {
      json: body,
      timeout: timeout + RUN_GRACE,
      signal: opts.signal,
    })
    return runResult(data)
  }

  private get path(): string {
    return `/sandboxes/${encodeURIComponent(this.sandboxId)}`
  }

  private async update(
    method: string,
    path: string,
    json: unknown,
    opts: RequestOpts & { timeout?: number | null } = {},
  ): Promise<void> {
    const data = await this.connection.call<Record<string, unknown>>(method, this.path + path, {
      json,
      signal: opts.signal,
      timeout: opts.timeout,
    })
    this.info = sandboxInfo(data)
  }

  /** The sandbox's current record (state, expiry, metadata). */
  async getInfo(opts: RequestOpts = {}): Promise<SandboxInfo> {
    const data = await this.connection.call<Record<string, unknown>>('GET', this.path, opts)
    this.info = sandboxInfo(data)
    return this.info
  }

  /** Kill the sandbox; everything in it is gone. */
  async kill(opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('DELETE', this.path, opts)
  }

  /** Let the sandbox live `timeout` more seconds from now. */
  async setTimeout(timeout: number, opts: RequestOpts = {}): Promise<void> {
    await this.update('POST', '/timeout', { timeout }, opts)
  }

  /** Replace the sandbox's network (egress on or off, its allow and deny lists). */
  async updateNetwork(network: Network, opts: RequestOpts = {}): Promise<void> {
    await this.update('PUT', '/network', networkBody(network), opts)
  }

  /** Pause the sandbox: with `memory` (default) its processes (kernel variables, running
   * commands) are checkpointed and continue on resume; without, only its files are kept. Any
   * later call that needs it running (runCode, files, commands) resumes it. */
  async pause(opts: PauseOpts = {}): Promise<void> {
    await this.update('POST', '/pause', { memory: opts.memory ?? true }, { ...opts, timeout: null })
  }

  /** Resume a paused sandbox (a running one stays as it is). */
  async resume(opts: ResumeOpts = {}): Promise<void> {
    const body = defined({ memory: opts.memory ?? true, timeout: opts.timeout })
    await this.update('POST', '/resume', body, { ...opts, timeout: null })
  }

  /** Resource use: samples taken every `INTERPRETER_METRICS_INTERVAL` s (kept an hour), then
   * the use now. */
  async getMetrics(opts: MetricsOpts = {}): Promise<Metrics[]> {
    const data = await this.connection.call<Record<string, unknown>[]>('GET', this.path + '/metrics', {
      query: { start: opts.start?.toISOString(), end: opts.end?.toISOString() },
      signal: opts.signal,
    })
    return data.map(metricsOf)
  }

  /**
   * Run code and return its Execution; output streams to the handlers as it comes. Code that
   * raises gives `execution.error`; the run passing `timeout` throws ExecutionTimeoutError (the
   * kernel was interrupted); `signal` aborting it interrupts the kernel too (the server sees the
   * request go) and rejects with the signal's reason.
   */
  async runCode(code: string, opts: RunCodeOpts = {}): Promise<Execution> {
    const timeout = opts.timeout === undefined ? DEFAULT_RUN_TIMEOUT : opts.timeout
    const body: Record<string, unknown> = { code, timeout }
    if (opts.language !== undefined) body.language = opts.language
    if (opts.context !== undefined) body.context_id = contextId(opts.context)
    if (opts.envs && Object.keys(opts.envs).length) body.envs = opts.envs
    const builder = new ExecutionBuilder(opts)
    const opened = await this.connection.openLines('POST', this.path + '/execute', {
      json: body,
      signal: opts.signal,
      timeout: timeout === null ? null : timeout + STREAM_GRACE,
      idle: true,
      onTimeout: () => new ExecutionTimeoutError(`execution timed out after ${timeout} s (no answer)`),
    })
    for await (const line of opened) {
      const outcome = builder.feed(line)
      await outcome // a handler's promise, awaited before the next event
    }
    return builder.finish()
  }

  /** Snapshot the running sandbox (it runs on, paused for the checkpoint only): sandboxes
   * created with `template: snapshot.id` start with its kernels' variables, processes and
   * files (`memory: false`: its files only, with fresh kernels). */
  async createSnapshot(opts: SnapshotOpts = {}): Promise<SnapshotInfo> {
    const json = defined({ memory: opts.memory ?? true, name: opts.name })
    const data = await this.connection.call<Record<string, unknown>>('POST', this.path + '/snapshots', {
      json,
      signal: opts.signal,
      timeout: null,
    })
    return snapshotInfo(data)
  }

  /** `count` new running sandboxes with this one's memory and files (each one's own); for
   * each, the sandbox or the error that kept it from starting. */
  async fork(opts: ForkOpts = {}): Promise<Array<Sandbox | SandboxError>> {
    const count = opts.count ?? 1
    const data = await this.connection.call<Array<Record<string, unknown>>>('POST', this.path + '/fork', {
      json: defined({ count, timeout: opts.timeout }),
      signal: opts.signal,
      timeout: Math.max(this.connection.requestTimeout, 30 * count),
    })
    return data.map((item) =>
      item.sandbox
        ? new Sandbox(sandboxInfo(item.sandbox as Record<string, unknown>), this.connection.twin())
        : new ServerError(String(item.error)),
    )
  }

  /** Snapshots (of one sandbox, if given). */
  static async listSnapshots(opts: ListSnapshotsOpts = {}): Promise<SnapshotInfo[]> {
    const connection = Connection.resolve(opts)
    const data = await connection.call<Record<string, unknown>[]>('GET', '/snapshots', {
      query: { sandbox_id: opts.sandboxId || undefined },
      signal: opts.signal,
    })
    return data.map(snapshotInfo)
  }

  /** Delete a snapshot (ConflictError while sandboxes made from it exist). */
  static async deleteSnapshot(snapshotId: string, opts: ConnectionOpts & RequestOpts = {}): Promise<void> {
    const connection = Connection.resolve(opts)
    await connection.call('DELETE', `/snapshots/${encodeURIComponent(snapshotId)}`, {
      signal: opts.signal,
    })
  }

  /** A page of the sandbox's lifecycle events (`sandbox.lifecycle.created`, `paused`,
   * `resumed`, `updated`, `killed`...), oldest first (`direction: 'desc'`: newest first); kept
   * for days after the sandbox is gone, so it takes an id. */
  static async getEvents(sandboxId: string, opts: GetEventsOpts = {}): Promise<LifecycleEvent[]> {
    const connection = Connection.resolve(opts)
    const data = await connection.call<{ events: Record<string, unknown>[] }>(
      'GET',
      `/sandboxes/${encodeURIComponent(sandboxId)}/events`,
      {
        query: { limit: opts.limit, direction: opts.direction ?? 'asc', after: opts.after },
        signal: opts.signal,
      },
    )
    return data.events.map(lifecycleEvent)
  }

  /** A new empty volume (`name`: a-z, 0-9, `-_.`); mount it with `create({volumeMounts})`. */
  static async createVolume(name: string, opts: CreateVolumeOpts = {}): Promise<VolumeInfo> {
    const connection = Connection.resolve(opts)
    const data = await connection.call<Record<string, unknown>>('POST', '/volumes', {
      json: defined({ name, size_mb: opts.sizeMb }),
      signal: opts.signal,
    })
    return volumeInfo(data)
  }

  /** Every volume, oldest first. */
  static async listVolumes(opts: ConnectionOpts & RequestOpts = {}): Promise<VolumeInfo[]> {
    const connection = Connection.resolve(opts)
    const data = await connection.call<Record<string, unknown>[]>('GET', '/volumes', {
      signal: opts.signal,
    })
    return data.map(volumeInfo)
  }

  /** Destroy a volume (name or id) and its content (ConflictError while sandboxes mount it). */
  static async deleteVolume(volume: string, opts: ConnectionOpts & RequestOpts = {}): Promise<void> {
    const connection = Connection.resolve(opts)
    await connection.call('DELETE', `/volumes/${encodeURIComponent(volume)}`, { signal: opts.signal })
  }

  /** A new context (kernel) with its own state. */
  async createCodeContext(opts: CreateContextOpts = {}): Promise<Context> {
    const json = defined({ language: opts.language, cwd: opts.cwd })
    const data = await this.connection.call<Record<string, unknown>>('POST', this.path + '/contexts', {
      json,
      signal: opts.signal,
    })
    return contextOf(data)
  }

  /** The sandbox's contexts, oldest first. */
  async listCodeContexts(opts: RequestOpts = {}): Promise<Context[]> {
    const data = await this.connection.call<Record<string, unknown>[]>('GET', this.path + '/contexts', opts)
    return data.map(contextOf)
  }

  /** Restart a context's kernel, clearing its state. */
  /** Interrupt the cell running in a context (its state is kept); nothing if none runs. */
  async interruptCodeContext(context: Context | string, opts: RequestOpts = {}): Promise<void> {
    const id = encodeURIComponent(contextId(context))
    await this.connection.call('POST', `${this.path}/contexts/${id}/interrupt`, {
      signal: opts.signal,
      timeout: null,
    })
  }

  async restartCodeContext(context: Context | string, opts: RequestOpts = {}): Promise<void> {
    const id = encodeURIComponent(contextId(context))
    await this.connection.call('POST', `${this.path}/contexts/${id}/restart`, {
      signal: opts.signal,
      timeout: null,
    })
  }

  /** Shut a context's kernel down. */
  async removeCodeContext(context: Context | string, opts: RequestOpts = {}): Promise<void> {
    const id = encodeURIComponent(contextId(context))
    await this.connection.call('DELETE', `${this.path}/contexts/${id}`, opts)
  }

  /** End this object's requests and streams still open (the sandbox keeps running). */
  async close(): Promise<void> {
    this.connection.close()
  }
}
