/** Files inside a sandbox (`sandbox.files`): read, write, list, info, watch, signed URLs. */

import { ConnectionError, NotFoundError } from './errors.js'
import { type Connection, type Opened, type RequestOpts, type Upload, chunks, lines } from './http.js'
import { type EntryInfo, type FilesystemEvent, entryInfo, filesystemEvent } from './models.js'

/** Who acts inside the sandbox. */
export type User = 'user' | 'root'

export interface UserOpts extends RequestOpts {
  /** Who acts inside the sandbox (default `user`). */
  user?: User
}

export interface ListFilesOpts extends UserOpts {
  /** Levels deep (default 1). */
  depth?: number
}

export interface WatchOpts extends UserOpts {
  /** Also what happens in subfolders (and folders made later). */
  recursive?: boolean
}

export interface SignedUrlOpts extends UserOpts {
  /** Seconds the URL stays valid (default 300). */
  expiresIn?: number
}

/** One file for `writeFiles`. */
export interface WriteEntry {
  path: string
  data: Upload
}

/** A folder being watched: iterate `events()` (or the handle itself); `stop()` ends it. */
export class WatchHandle implements AsyncIterable<FilesystemEvent> {
  private readonly lines: AsyncGenerator<string>

  constructor(
    private readonly opened: Opened,
    lineStream: AsyncGenerator<string>,
  ) {
    this.lines = lineStream
  }

  /** Events as they happen (ends when stopped or when the folder is removed). */
  async *events(): AsyncGenerator<FilesystemEvent> {
    for await (const line of this.lines) yield filesystemEvent(line)
  }

  [Symbol.asyncIterator](): AsyncGenerator<FilesystemEvent> {
    return this.events()
  }

  /** End the watch (an iteration in progress ends, without an error). */
  async stop(): Promise<void> {
    this.opened.exchange.cancel()
    await this.lines.return(undefined)
  }
}

/** Paths are absolute or relative to /home/user. */
export class Files {
  private readonly url: string

  constructor(
    private readonly connection: Connection,
    sandboxId: string,
  ) {
    this.url = `/sandboxes/${encodeURIComponent(sandboxId)}/files`
  }

  /** A file's content as text (UTF-8; undecodable bytes become U+FFFD). */
  async read(path: string, opts: UserOpts = {}): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path, opts))
  }

  /** A file's content as bytes. */
  async readBytes(path: string, opts: UserOpts = {}): Promise<Uint8Array> {
    const opened = await this.openRead(path, opts)
    const parts: Uint8Array[] = []
    let size = 0
    for await (const chunk of chunks(opened)) {
      parts.push(chunk)
      size += chunk.byteLength
    }
    const out = new Uint8Array(size)
    let offset = 0
    for (const part of parts) {
      out.set(part, offset)
      offset += part.byteLength
    }
    return out
  }

  /** A file's content as a web ReadableStream of chunks, for large files (memory stays
   * bounded); async-iterable in Node (`for await`), `Readable.fromWeb` makes a Node stream. */
  async readStream(path: string, opts: UserOpts = {}): Promise<ReadableStream<Uint8Array>> {
    const source = chunks(await this.openRead(path, opts))
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await source.next()
          if (next.done) controller.close()
          else controller.enqueue(next.value)
        } catch (err) {
          controller.error(err)
        }
      },
      async cancel() {
        await source.return(undefined)
      },
    })
  }

  private openRead(path: string, opts: UserOpts): Promise<Opened> {
    return this.connection.open('GET', this.url, {
      query: { path, user: opts.user ?? 'user' },
      signal: opts.signal,
      timeout: null,
    })
  }

  /** Create or replace a file; `data` is text, bytes, a Blob, or a stream / async iterable
   * (e.g. `fs.createReadStream`, sent as it is read). Parent folders are made. */
  async write(path: string, data: Upload, opts: UserOpts = {}): Promise<EntryInfo> {
    const result = await this.connection.call<Record<string, unknown>>('PUT', this.url, {
      query: { path, user: opts.user ?? 'user' },
      body: data,
      signal: opts.signal,
      timeout: null,
    })
    return entryInfo(result)
  }

  /** Write several files, one after the other. */
  async writeFiles(files: WriteEntry[], opts: UserOpts = {}): Promise<EntryInfo[]> {
    const written: EntryInfo[] = []
    for (const { path, data } of files) written.push(await this.write(path, data, opts))
    return written
  }

  /** A folder's entries, `depth` levels deep. */
  async list(path: string, opts: ListFilesOpts = {}): Promise<EntryInfo[]> {
    const query = { path, depth: opts.depth ?? 1, user: opts.user ?? 'user' }
    const data = await this.call<Record<string, unknown>[]>('GET', '/list', query, opts)
    return data.map(entryInfo)
  }

  /** Type, size, mode, permissions, owner, group, modified time, symlink target, metadata. */
  async getInfo(path: string, opts: UserOpts = {}): Promise<EntryInfo> {
    const query = { path, user: opts.user ?? 'user' }
    return entryInfo(await this.call<Record<string, unknown>>('GET', '/info', query, opts))
  }

  /** Whether the path exists. */
  async exists(path: string, opts: UserOpts = {}): Promise<boolean> {
    try {
      await this.getInfo(path, opts)
    } catch (err) {
      if (err instanceof NotFoundError) return false
      throw err
    }
    return true
  }

  /** Make a folder with its parents; false if it already existed. */
  async makeDir(path: string, opts: UserOpts = {}): Promise<boolean> {
    const query = { path, user: opts.user ?? 'user' }
    const data = await this.call<{ created: boolean }>('POST', '/mkdir', query, opts)
    return Boolean(data.created)
  }

  /** Remove a file or a whole folder. */
  async remove(path: string, opts: UserOpts = {}): Promise<void> {
    await this.call('DELETE', '', { path, user: opts.user ?? 'user' }, opts)
  }

  /** Move or rename; returns the entry at its new path. */
  async rename(oldPath: string, newPath: string, opts: UserOpts = {}): Promise<EntryInfo> {
    const query = { source: oldPath, destination: newPath, user: opts.user ?? 'user' }
    return entryInfo(await this.call<Record<string, unknown>>('POST', '/rename', query, opts))
  }

  /** Watch a folder; returns once the watch is armed. */
  async watchDir(path: string, opts: WatchOpts = {}): Promise<WatchHandle> {
    const opened = await this.connection.open('GET', this.url + '/watch', {
      query: { path, recursive: opts.recursive ?? false, user: opts.user ?? 'user' },
      signal: opts.signal,
      timeout: null,
    })
    const stream = lines(opened)
    const first = await stream.next() // the agent's `start`: the watch is armed
    if (first.done || filesystemEvent(first.value).type !== 'start') {
      await stream.return(undefined)
      throw new ConnectionError('the watch did not start')
    }
    return new WatchHandle(opened, stream)
  }

  /** A URL that downloads this file (GET) without the API key, valid `expiresIn` s. */
  async downloadUrl(path: string, opts: SignedUrlOpts = {}): Promise<string> {
    return this.signedUrl(path, 'read', opts)
  }

  /** A URL that uploads this file (PUT the content) without the API key. */
  async uploadUrl(path: string, opts: SignedUrlOpts = {}): Promise<string> {
    return this.signedUrl(path, 'write', opts)
  }

  private async signedUrl(path: string, operation: string, opts: SignedUrlOpts): Promise<string> {
    const query = { path, operation, expires_in: opts.expiresIn ?? 300, user: opts.user ?? 'user' }
    return String((await this.call<{ url: string }>('POST', '/url', query, opts)).url)
  }

  private call<T>(
    method: string,
    path: string,
    query: Record<string, string | number | boolean>,
    opts: RequestOpts,
  ): Promise<T> {
    return this.connection.call<T>(method, this.url + path, { query, signal: opts.signal })
  }
}
