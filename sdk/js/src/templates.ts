/**
 * Templates: build one from a Dockerfile and a context folder, list, get, tag, delete.
 *
 *     const templates = new Templates()
 *     await templates.build('my-app', { dockerfile: 'Dockerfile', context: '.', onLog: console.log })
 *     await Sandbox.create({ template: 'my-app' })
 *
 * The context is sent as one tar (sorted, without owners: an unchanged context has the same
 * hash and is not uploaded again). Node only (it reads the folder with `node:fs`).
 */

import { ConnectionError, TemplateBuildError } from './errors.js'
import { Connection, type ConnectionOpts, type RequestOpts, lines } from './http.js'
import { compact, date } from './models.js'

export interface BuildLogEntry {
  timestamp: Date
  level: string
  message: string
  step?: string
}

export interface BuildInfo {
  id: string
  template: string
  /** waiting, building, ready, error */
  status: string
  createdAt: Date
  finishedAt?: Date
  builtSteps: number
  cachedSteps: number
  /** Why it failed. */
  error?: string
  /** Where: "base", a step's number, "finalize". */
  errorStep?: string
}

export interface TemplateInfo {
  name: string
  builtin: boolean
  buildId?: string
  status?: string
  tags: Record<string, string>
}

export interface BuildOpts extends RequestOpts {
  /** A Dockerfile's path, or its text if no such file (default `Dockerfile`). */
  dockerfile?: string
  /** The folder its COPY instructions read (default: the Dockerfile's folder). */
  context?: string
  /** Run in the background when the template starts (default: CMD). */
  startCmd?: string
  /** The template is ready when this exits 0 (default: sleep 20). */
  readyCmd?: string
  /** Seconds the ready command may take (default 600). */
  readyTimeout?: number
  /** CPU cores of the build steps. */
  cpu?: number
  /** Memory of the build steps, MiB. */
  memoryMb?: number
  /** Values of the ARGs. */
  buildArgs?: Record<string, string>
  /** Gets each log entry as it is written. */
  onLog?: (entry: BuildLogEntry) => unknown
  /** Wait for the build (default true) and throw TemplateBuildError if it fails. */
  wait?: boolean
}

export interface FollowOpts extends RequestOpts {
  /** Entries from this one on (default 0). */
  offset?: number
}

export interface TagOpts extends RequestOpts {
  /** The build to name (default: the ready one). */
  buildId?: string
}

type Wire = Record<string, any> // JSON as the server sent it

function buildInfo(data: Wire): BuildInfo {
  const reason = (data.reason ?? {}) as Wire
  return compact({
    id: data.id,
    template: data.template,
    status: data.status,
    createdAt: date(data.created_at),
    finishedAt: data.finished_at ? date(data.finished_at) : undefined,
    builtSteps: data.built_steps ?? 0,
    cachedSteps: data.cached_steps ?? 0,
    error: reason.message ?? undefined,
    errorStep: reason.step ?? undefined,
  })
}

function templateInfo(data: Wire): TemplateInfo {
  return compact({
    name: data.name,
    builtin: data.builtin,
    buildId: data.build_id ?? undefined,
    status: data.status ?? undefined,
    tags: data.tags ?? {},
  })
}

/** The server's templates; `apiUrl` / `apiKey` default to `INTERPRETER_API_URL` /
 * `INTERPRETER_API_KEY`. */
export class Templates {
  private readonly connection: Connection

  constructor(opts: ConnectionOpts = {}) {
    this.connection = Connection.resolve(opts)
  }

  /** End this object's requests still open. */
  async close(): Promise<void> {
    this.connection.close()
  }

  /** Build template `name` from a Dockerfile and the `context` folder its COPY instructions
   * read. Waits for the build and throws TemplateBuildError if it fails, unless `wait: false`. */
  async build(name: string, opts: BuildOpts = {}): Promise<BuildInfo> {
    const { readFile, stat } = await import('node:fs/promises')
    const { dirname } = await import('node:path')
    const dockerfile = opts.dockerfile ?? 'Dockerfile'
    const isFile = await stat(dockerfile).then(
      (s) => s.isFile(),
      () => false,
    )
    const body: Record<string, unknown> = {
      name,
      dockerfile: isFile ? await readFile(dockerfile, 'utf8') : dockerfile,
    }
    const folder = opts.context ?? (isFile ? dirname(dockerfile) : undefined)
    if (folder !== undefined) body.files_hash = await this.uploadContext(folder, opts)
    const optional: Array<[string, unknown]> = [
      ['start_cmd', opts.startCmd],
      ['ready_cmd', opts.readyCmd],
      ['ready_timeout', opts.readyTimeout],
      ['cpu', opts.cpu],
      ['memory_mb', opts.memoryMb],
      ['build_args', opts.buildArgs],
    ]
    for (const [key, value] of optional) if (value !== undefined) body[key] = value
    let build = buildInfo(
      await this.connection.call<Wire>('POST', '/templates', { json: body, signal: opts.signal }),
    )
    if (opts.wait === false) return build
    for await (const entry of this.follow(name, build.id, { signal: opts.signal })) {
      const outcome = opts.onLog?.(entry)
      await outcome // a handler's promise, awaited before the next event
    }
    build = await this.buildStatus(name, build.id, opts)
    if (build.status !== 'ready') {
      const where = build.errorStep ? ` (step ${build.errorStep})` : ''
      throw new TemplateBuildError(`build of '${name}' failed${where}: ${build.error}`, build.errorStep)
    }
    return build
  }

  /** Send a context folder (unless the server has it already); its hash. */
  async uploadContext(folder: string, opts: RequestOpts = {}): Promise<string> {
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { createReadStream } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { pack } = await import('./tar.js')
    const scratch = await mkdtemp(join(tmpdir(), 'interpreter-context-'))
    try {
      const archive = join(scratch, 'context.tar')
      const digest = await pack(folder, archive)
      const url = `/templates/files/${digest}`
      const { present } = await this.connection.call<{ present: boolean }>('GET', url, opts)
      if (!present) {
        await this.connection.call('PUT', url, {
          body: createReadStream(archive),
          signal: opts.signal,
          timeout: null,
        })
      }
      return digest
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
  }

  /** A build's log entries as they are written, until it ends. */
  async *follow(name: string, buildId: string, opts: FollowOpts = {}): AsyncGenerator<BuildLogEntry> {
    const url = `/templates/${encodeURIComponent(name)}/builds/${encodeURIComponent(buildId)}/logs`
    const opened = await this.connection.open('GET', url, {
      query: { offset: opts.offset ?? 0, follow: 'true' },
      signal: opts.signal,
      timeout: null,
    })
    try {
      for await (const line of lines(opened)) {
        const item = JSON.parse(line) as Wire
        if (item.type !== 'log') continue
        const entry: BuildLogEntry = {
          timestamp: date(item.timestamp),
          level: item.level,
          message: item.message,
        }
        if (item.step != null) entry.step = item.step
        yield entry
      }
    } catch (err) {
      if (err instanceof ConnectionError) {
        throw new ConnectionError(`the build's log stream broke: ${err.message}`, undefined, {
          cause: err,
        })
      }
      throw err
    }
  }

  /** A build's status: waiting, building, ready or error (with its reason). */
  async buildStatus(name: string, buildId: string, opts: RequestOpts = {}): Promise<BuildInfo> {
    const url = `/templates/${encodeURIComponent(name)}/builds/${encodeURIComponent(buildId)}`
    return buildInfo(await this.connection.call<Wire>('GET', url, { signal: opts.signal }))
  }

  /** Built-in and built templates. */
  async list(opts: RequestOpts = {}): Promise<TemplateInfo[]> {
    return (await this.connection.call<Wire[]>('GET', '/templates', opts)).map(templateInfo)
  }

  async get(name: string, opts: RequestOpts = {}): Promise<TemplateInfo> {
    const url = `/templates/${encodeURIComponent(name)}`
    return templateInfo(await this.connection.call<Wire>('GET', url, opts))
  }

  /** Delete a template built here (ConflictError while it has sandboxes). */
  async delete(name: string, opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('DELETE', `/templates/${encodeURIComponent(name)}`, opts)
  }

  /** Name a build (default: the ready one): `Sandbox.create({template: 'name:tag'})`. */
  async tag(name: string, tags: string[], opts: TagOpts = {}): Promise<TemplateInfo> {
    const json: Record<string, unknown> = { tags }
    if (opts.buildId !== undefined) json.build_id = opts.buildId
    const url = `/templates/${encodeURIComponent(name)}/tags`
    return templateInfo(await this.connection.call<Wire>('POST', url, { json, signal: opts.signal }))
  }
}
