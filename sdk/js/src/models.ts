/**
 * What the SDK returns: executions, results, sandboxes, contexts, files, processes, metrics.
 * Field names are the Python SDK's in camelCase (`is_main_result` → `isMainResult`,
 * `memory_mb` → `memoryMb`); times are `Date`s.
 */

/** Result fields in the order `formats()` lists them. */
// prettier-ignore
export const FORMATS = [
  'text', 'html', 'markdown', 'svg', 'png', 'jpeg', 'pdf', 'latex', 'json', 'javascript',
  'data', 'chart',
] as const

type Format = (typeof FORMATS)[number]

/** One displayed value: a field per format the kernel produced. */
export class Result {
  text?: string
  html?: string
  markdown?: string
  svg?: string
  /** base64 */
  png?: string
  /** base64 */
  jpeg?: string
  /** base64 */
  pdf?: string
  latex?: string
  json?: unknown
  javascript?: string
  /** A DataFrame's columns → lists. */
  data?: unknown
  /** A matplotlib figure in E2B's chart format (type, title, elements...). */
  chart?: unknown
  /** Other MIME types. */
  extra: Record<string, unknown> = {}
  /** The cell's value (execute_result), not a display() call. */
  isMainResult = false

  constructor(fields: Partial<Omit<Result, 'formats'>> = {}) {
    Object.assign(this, fields)
  }

  /** The formats this result has, e.g. `["text", "html"]`. */
  formats(): string[] {
    return [...FORMATS.filter((f: Format) => this[f] != null), ...Object.keys(this.extra)]
  }
}

/** A line (or chunk) a run printed. */
export class OutputMessage {
  constructor(
    readonly text: string,
    readonly timestamp: Date | undefined,
    /** stderr */
    readonly error: boolean = false,
  ) {}

  toString(): string {
    return this.text
  }
}

export interface Logs {
  stdout: string[]
  stderr: string[]
}

/** The error raised by the user's code (not an SDK exception). */
export interface CellError {
  name: string
  value: string
  traceback: string
}

/** A finished run: its results, output and error. */
export class Execution {
  results: Result[] = []
  logs: Logs = { stdout: [], stderr: [] }
  error: CellError | undefined = undefined
  executionCount: number | undefined = undefined

  /** The text of the main result (the cell's value), if any. */
  get text(): string | undefined {
    return this.results.find((r) => r.isMainResult)?.text
  }

  toJSON(): Record<string, unknown> {
    const { results, logs, error, executionCount } = this
    return { results, logs, error, executionCount, text: this.text }
  }
}

/** A one-shot run's outcome (`Sandbox.run`); the sandbox it ran in is gone. */
export interface RunResult {
  sandboxId: string
  /** A run of code. */
  execution?: Execution
  /** A run of a command. */
  command?: CommandResult
  /** The files asked for that existed. */
  files: Record<string, Uint8Array>
}

/** A sandbox's network: `enabled` (egress; default off), `allowOut` (IPv4 addresses, CIDRs,
 * domains reachable even when denied), `denyOut` (addresses and CIDRs; `"0.0.0.0/0"`:
 * everything). */
export interface Network {
  enabled?: boolean
  allowOut?: string[]
  denyOut?: string[]
}

export interface SandboxInfo {
  id: string
  template: string
  /** running / paused */
  state: string
  createdAt: Date
  expiresAt: Date
  cpu: number
  memoryMb: number
  metadata: Record<string, string>
  /** The sandbox's disk limit (0: a server without disk limits). */
  diskMb: number
  network: Network
}

/** A snapshot of a running sandbox: create sandboxes of it with `template: snapshot.id`. */
export interface SnapshotInfo {
  id: string
  name?: string
  /** Its source. */
  sandboxId: string
  /** The source's. */
  template: string
  /** Processes and kernels kept (false: only the files). */
  memory: boolean
  createdAt: Date
  /** How long the source was paused for it. */
  frozenSeconds: number
}

/** A volume: named persistent storage, mounted with `Sandbox.create({volumeMounts: {path: name}})`. */
export interface VolumeInfo {
  id: string
  name: string
  sizeMb: number
  createdAt: Date
}

export interface Context {
  id: string
  language: string
  cwd: string
}

/** A file, folder or symlink inside a sandbox (the server's protocol, field for field). */
export interface EntryInfo {
  name: string
  path: string
  /** "file", "dir" or "symlink" */
  type: string
  size: number
  mode: number
  /** like "-rw-r--r--" */
  permissions: string
  owner: string
  group: string
  modifiedTime: Date
  symlinkTarget?: string
  /** A symlink's: "file", "dir", or undefined when dangling. */
  targetType?: string
  /** A symlink's absolute, fully resolved target. */
  resolvedTarget?: string
  /** The mode of what a symlink points at. */
  targetMode?: number
  /** Kept with the file (xattrs); a write replaces it. */
  metadata: Record<string, string>
}

/** A finished command. */
export interface CommandResult {
  stdout: string
  stderr: string
  exitCode: number
  /** e.g. "timed out after 5 s: killed" */
  error?: string
}

export interface CommandInfo {
  pid: number
  cmd: string
  tag?: string
  user: string
  /** running / completed / failed / cancelled */
  status: string
  exitCode?: number
  startedAt: Date
  pty: boolean
  /** Set when cmd was executed directly, not through bash -c. */
  args?: string[]
  envs: Record<string, string>
  cwd: string
}

export interface FilesystemEvent {
  /** create / write / remove / rename / chmod / overflow */
  type: string
  /** The path it happened to. */
  name: string
  /** The entry's info, when the server sends it. */
  entry?: EntryInfo
}

/** One sample of a sandbox's resource use. */
export interface Metrics {
  timestamp: Date
  cpuCount: number
  /** Of the sandbox's CPU count, 0-100. */
  cpuUsedPct: number
  /** Bytes, page cache excluded. */
  memUsed: number
  /** The memory limit, bytes. */
  memTotal: number
  memCache: number
  /** Bytes the sandbox wrote on top of its image. */
  diskUsed: number
  diskTotal: number
  netRxBytes: number
  netTxBytes: number
}

// Parsing what the server sends (snake_case JSON) into the models above.

// JSON as the server sent it (checked by the server, read field by field below).
type Wire = Record<string, any>

export function date(raw: unknown): Date {
  return new Date(String(raw))
}

export function optionalDate(raw: unknown): Date | undefined {
  if (typeof raw !== 'string') return undefined
  const parsed = new Date(raw)
  return Number.isNaN(parsed.getTime()) ? undefined : parsed
}

function optional<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value
}

/** Without the keys whose value is undefined (what the server did not send). */
export function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) {
    if (value[key] === undefined) delete value[key]
  }
  return value
}

export function networkOf(data: Wire | null | undefined): Network {
  const network: Network = {}
  if (!data) return network
  if (data.enabled !== undefined) network.enabled = data.enabled
  if (data.allow_out !== undefined) network.allowOut = data.allow_out
  if (data.deny_out !== undefined) network.denyOut = data.deny_out
  return network
}

export function networkBody(network: Network): Wire {
  const body: Wire = {}
  if (network.enabled !== undefined) body.enabled = network.enabled
  if (network.allowOut !== undefined) body.allow_out = network.allowOut
  if (network.denyOut !== undefined) body.deny_out = network.denyOut
  return body
}

export function sandboxInfo(data: Wire): SandboxInfo {
  return {
    id: data.id,
    template: data.template,
    state: data.state,
    createdAt: date(data.created_at),
    expiresAt: date(data.expires_at),
    cpu: data.cpu,
    memoryMb: data.memory_mb,
    metadata: data.metadata ?? {},
    diskMb: data.disk_mb ?? 0,
    network: networkOf(data.network),
  }
}

export function snapshotInfo(data: Wire): SnapshotInfo {
  return compact({
    id: data.id,
    name: optional(data.name),
    sandboxId: data.sandbox_id,
    template: data.template,
    memory: Boolean(data.memory),
    createdAt: date(data.created_at),
    frozenSeconds: Number(data.frozen_seconds ?? 0),
  })
}

export function volumeInfo(data: Wire): VolumeInfo {
  return {
    id: data.id,
    name: data.name,
    sizeMb: Number(data.size_mb),
    createdAt: date(data.created_at),
  }
}

export function contextOf(data: Wire): Context {
  return { id: data.id, language: data.language, cwd: data.cwd }
}

export function entryInfo(data: Wire): EntryInfo {
  return compact({
    name: data.name,
    path: data.path,
    type: data.type,
    size: data.size,
    mode: data.mode,
    permissions: data.permissions,
    owner: data.owner,
    group: data.group,
    modifiedTime: date(data.modified_time),
    symlinkTarget: optional(data.symlink_target),
    targetType: optional(data.target_type),
    resolvedTarget: optional(data.resolved_target),
    targetMode: optional(data.target_mode),
    metadata: { ...(data.metadata ?? {}) },
  })
}

/** One NDJSON line of a watch. */
export function filesystemEvent(line: string): FilesystemEvent {
  const data = JSON.parse(line) as Wire
  const event: FilesystemEvent = { type: data.type, name: data.name }
  if (data.entry) event.entry = entryInfo(data.entry)
  return event
}

export function commandInfo(data: Wire): CommandInfo {
  return compact({
    pid: data.pid,
    cmd: data.cmd,
    tag: optional(data.tag),
    user: data.user,
    status: data.status,
    exitCode: optional(data.exit_code),
    startedAt: new Date(data.started_at * 1000),
    pty: data.pty,
    args: optional(data.args),
    envs: { ...(data.envs ?? {}) },
    cwd: data.cwd ?? '',
  })
}

export function metricsOf(data: Wire): Metrics {
  return {
    timestamp: date(data.timestamp),
    cpuCount: data.cpu_count,
    cpuUsedPct: data.cpu_used_pct,
    memUsed: data.mem_used,
    memTotal: data.mem_total,
    memCache: data.mem_cache,
    diskUsed: data.disk_used,
    diskTotal: data.disk_total,
    netRxBytes: data.net_rx_bytes ?? 0,
    netTxBytes: data.net_tx_bytes ?? 0,
  }
}
