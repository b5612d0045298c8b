/** Commands and Pty: processes inside a sandbox (`sandbox.commands`, `sandbox.pty`). */

import { CommandExitError, ConnectionError } from './errors.js'
import { type Connection, type RequestOpts, lines } from './http.js'
import type { User } from './files.js'
import { type CommandInfo, type CommandResult, commandInfo } from './models.js'

/** Characters of a command's stdout (and of its stderr) a result keeps; handlers see all. */
const KEPT_OUTPUT = 64 << 20

/** Gets a command's output as it comes (text); a returned promise is awaited. */
export type OnData = (data: string) => unknown

export interface OutputOpts extends RequestOpts {
  onStdout?: OnData
  onStderr?: OnData
  /** Throw CommandExitError on a non-zero exit code (default true). */
  check?: boolean
}

export interface StartOpts extends RequestOpts {
  /** Extra environment variables. */
  envs?: Record<string, string>
  /** Working directory; default the user's home (or the template's WORKDIR). */
  cwd?: string
  /** Who runs it (default `user`). */
  user?: User
  /** Seconds before its process tree is killed (`null`: no limit). */
  timeout?: number | null
}

export interface RunOpts extends StartOpts, OutputOpts {}

export interface BackgroundOpts extends StartOpts {
  /** Keep stdin open for sendStdin. */
  stdin?: boolean
  /** A label shown in the list. */
  tag?: string
}

export interface PtyOpts extends RequestOpts {
  cols?: number
  rows?: number
  user?: User
  cwd?: string
  envs?: Record<string, string>
}

type Body = Record<string, unknown>

function commandBody(cmd: string, opts: BackgroundOpts, extra: Body = {}): Body {
  const body: Body = { cmd, user: opts.user ?? 'user', stdin: opts.stdin ?? false }
  if (opts.envs !== undefined) body.envs = opts.envs
  if (opts.cwd !== undefined) body.cwd = opts.cwd
  if (opts.timeout !== undefined && opts.timeout !== null) body.timeout = opts.timeout
  if (opts.tag !== undefined) body.tag = opts.tag
  return { ...body, ...extra }
}

/** Folds a command's NDJSON events into a CommandResult, calling the handlers. */
class CommandOutput {
  pid: number | undefined
  private readonly kept = { stdout: [] as string[], stderr: [] as string[] }
  private readonly size = { stdout: 0, stderr: 0 }
  private end: Record<string, unknown> | undefined

  constructor(private readonly opts: OutputOpts = {}) {}

  feed(line: string): unknown {
    const event = JSON.parse(line) as Record<string, unknown>
    if (event.type === 'start') {
      this.pid = event.pid as number
    } else if (event.type === 'stdout' || event.type === 'stderr') {
      const data = String(event.data ?? '')
      this.keep(event.type, data)
      const handler = event.type === 'stdout' ? this.opts.onStdout : this.opts.onStderr
      return handler?.(data)
    } else if (event.type === 'end') {
      this.end = event
    }
    return undefined
  }

  private keep(kind: 'stdout' | 'stderr', data: string): void {
    const room = KEPT_OUTPUT - this.size[kind]
    if (room <= 0) return
    if (data.length > room) {
      data = data.slice(0, room) + `\n[output truncated: more than ${KEPT_OUTPUT} characters]\n`
    }
    this.kept[kind].push(data)
    this.size[kind] += data.length
  }

  result(check: boolean): CommandResult {
    if (this.end === undefined) {
      throw new ConnectionError("the command's stream ended before the command did")
    }
    const result: CommandResult = {
      stdout: this.kept.stdout.join(''),
      stderr: this.kept.stderr.join(''),
      exitCode: this.end.exit_code as number,
    }
    if (typeof this.end.error === 'string') result.error = this.end.error
    if (check && result.exitCode !== 0) {
      throw new CommandExitError(result.stdout, result.stderr, result.exitCode, result.error)
    }
    return result
  }
}

async function follow(
  connection: Connection,
  method: string,
  url: string,
  output: CommandOutput,
  opts: RequestOpts & { json?: unknown; query?: Record<string, number> },
): Promise<void> {
  const opened = await connection.open(method, url, {
    json: opts.json,
    query: opts.query,
    signal: opts.signal,
    timeout: null,
  })
  for await (const line of lines(opened)) {
    const outcome = output.feed(line)
    await outcome // a handler's promise, awaited before the next event
  }
}

/** A started process: wait for it, feed it, signal it. It runs on if you walk away. */
export class CommandHandle {
  private readonly url: string

  constructor(
    private readonly connection: Connection,
    commandsUrl: string,
    readonly pid: number,
  ) {
    this.url = `${commandsUrl}/${pid}`
  }

  /** Everything it printed (from its start) and its exit code, once it ends; throws
   * CommandExitError if it exited non-zero (unless `check: false`). */
  async wait(opts: OutputOpts = {}): Promise<CommandResult> {
    const output = new CommandOutput(opts)
    await follow(this.connection, 'GET', this.url + '/stream', output, {
      query: { replay: 1 },
      signal: opts.signal,
    })
    return output.result(opts.check ?? true)
  }

  /** Its status (running / completed / failed / cancelled) and exit code. */
  async info(opts: RequestOpts = {}): Promise<CommandInfo> {
    return commandInfo(await this.connection.call<Body>('GET', this.url, opts))
  }

  /** Write to its stdin (or terminal). */
  async sendStdin(data: string | Uint8Array, opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('POST', this.url + '/stdin', { body: data, signal: opts.signal })
  }

  /** End its input. */
  async closeStdin(opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('POST', this.url + '/close-stdin', opts)
  }

  /** Signal its process group; TERM becomes KILL after 2 s. */
  async kill(signal: 'TERM' | 'KILL' | 'INT' = 'TERM', opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('POST', this.url + '/kill', { query: { signal }, signal: opts.signal })
  }

  /** Resize its terminal (processes started with a pty). */
  async resize(cols: number, rows: number, opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('POST', this.url + '/resize', {
      query: { cols, rows },
      signal: opts.signal,
    })
  }
}

async function start(connection: Connection, url: string, body: Body, opts: RequestOpts) {
  const opened = await connection.open('POST', url, { json: body, signal: opts.signal, timeout: null })
  for await (const line of lines(opened)) {
    const output = new CommandOutput()
    output.feed(line)
    // Leaving the stream (which closes it) does not stop the process.
    if (output.pid !== undefined) return new CommandHandle(connection, url, output.pid)
  }
  throw new ConnectionError('the command did not start')
}

/** Shell commands inside the sandbox (run by `bash -c`). */
export class Commands {
  private readonly url: string

  constructor(
    private readonly connection: Connection,
    sandboxId: string,
  ) {
    this.url = `/sandboxes/${encodeURIComponent(sandboxId)}/commands`
  }

  /** Run a command to its end, streaming its output to the handlers. `timeout` (default 60 s;
   * `null`: none) kills its process tree; a non-zero exit throws CommandExitError unless
   * `check: false`. */
  async run(cmd: string, opts: RunOpts = {}): Promise<CommandResult> {
    const output = new CommandOutput(opts)
    const timeout = opts.timeout === undefined ? 60 : opts.timeout
    const json = commandBody(cmd, { ...opts, timeout })
    await follow(this.connection, 'POST', this.url, output, { json, signal: opts.signal })
    return output.result(opts.check ?? true)
  }

  /** Start a command in the background; returns once it runs. */
  async start(cmd: string, opts: BackgroundOpts = {}): Promise<CommandHandle> {
    return start(this.connection, this.url, commandBody(cmd, opts), opts)
  }

  /** A handle on a process started earlier (by anyone). */
  async connect(pid: number, opts: RequestOpts = {}): Promise<CommandHandle> {
    await this.connection.call('GET', `${this.url}/${pid}`, opts)
    return new CommandHandle(this.connection, this.url, pid)
  }

  /** Processes started through the API, running or finished. */
  async list(opts: RequestOpts = {}): Promise<CommandInfo[]> {
    return (await this.connection.call<Body[]>('GET', this.url, opts)).map(commandInfo)
  }
}

/** Interactive shells on a terminal. */
export class Pty {
  private readonly url: string

  constructor(
    private readonly connection: Connection,
    sandboxId: string,
  ) {
    this.url = `/sandboxes/${encodeURIComponent(sandboxId)}/commands`
  }

  /** Start bash on a terminal (default 80x24); type with `sendStdin`, read with `wait`. */
  async create(opts: PtyOpts = {}): Promise<CommandHandle> {
    const pty = { cols: opts.cols ?? 80, rows: opts.rows ?? 24 }
    const body = commandBody('bash', { ...opts, tag: 'pty' }, { pty })
    return start(this.connection, this.url, body, opts)
  }
}
