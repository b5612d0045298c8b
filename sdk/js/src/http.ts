/**
 * The SDK's HTTP: configuration, one request (JSON or a stream), its timeouts and abort signals,
 * NDJSON lines, upload bodies, and the mapping of failures to the error tree. Only what Node 18
 * has built in: `fetch`, web streams, `AbortController` (and, for runCode, `node:http`).
 */

import { ConnectionError, SandboxError, errorFromAnswer } from './errors.js'
import * as nodeHttp from './node_http.js'

export const DEFAULT_API_URL = 'http://127.0.0.1:49999'
/** Seconds an ordinary call may take (not runs, streams, uploads, creates, pauses). */
export const DEFAULT_REQUEST_TIMEOUT = 60

/** Where the server is; default `INTERPRETER_API_URL` / `INTERPRETER_API_KEY`. */
export interface ConnectionOpts {
  /** Default `INTERPRETER_API_URL`, else http://127.0.0.1:49999. */
  apiUrl?: string
  /** Default `INTERPRETER_API_KEY`. */
  apiKey?: string
  /** Seconds an ordinary call may take (default 60). */
  requestTimeout?: number
}

/** What every call that talks to the server can take: an `AbortSignal` ends it. */
export interface RequestOpts {
  signal?: AbortSignal
}

/** Text, bytes, a Blob, a web ReadableStream, or any (async) iterable of chunks such as a Node
 * `fs.createReadStream(...)`: streams and iterables are sent as they are read. */
export type Upload =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>

type Query = Record<string, string | number | boolean | readonly string[] | undefined | null>

export interface Call {
  query?: Query
  json?: unknown
  body?: Upload
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Seconds: undefined → the connection's request timeout; null → none. */
  timeout?: number | null
  /** The timeout counts silence while reading (reset by every chunk), not the whole call. */
  idle?: boolean
  /** The error a timeout becomes (default: a ConnectionError). */
  onTimeout?: () => SandboxError
}

function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
  return proc?.env?.[name] || undefined
}

let untimed: object | null | undefined

/**
 * Node's fetch (undici) ends a response whose headers take, or whose body is silent for, 300 s.
 * Watches and command streams are silent as long as nothing happens, and a pause or a create
 * may take long: give fetch an agent of Node's own undici without those two timeouts (the SDK
 * keeps its own). Elsewhere (no undici global), fetch is used as it is.
 */
async function dispatcher(): Promise<object | null> {
  if (untimed !== undefined) return untimed
  const key = Symbol.for('undici.globalDispatcher.1')
  const global = globalThis as unknown as Record<symbol, unknown>
  try {
    if (global[key] === undefined) await (await fetch('data:,')).arrayBuffer() // loads undici
    const agent = global[key] as { constructor?: unknown } | undefined
    const Agent = agent?.constructor as (new (options: Record<string, unknown>) => object) | undefined
    untimed =
      typeof Agent === 'function' && Agent.name === 'Agent'
        ? new Agent({ bodyTimeout: 0, headersTimeout: 0 })
        : null
  } catch {
    untimed = null
  }
  return untimed
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  let text = `${err.name}: ${err.message}`
  const cause = (err as { cause?: unknown }).cause
  if (cause instanceof Error && cause.message && !text.includes(cause.message)) {
    text += ` (${cause.message})`
  }
  return text
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason
  const error = new Error('This operation was aborted')
  error.name = 'AbortError'
  return error
}

/**
 * One request and its response: one AbortController fed by the caller's signal, the client's
 * close() and the timeout; knows which of them ended it, to throw the right error.
 */
export class Exchange {
  readonly controller = new AbortController()
  private timer: ReturnType<typeof setTimeout> | undefined
  private timedOut = false
  private cancelled = false
  private readonly listeners: Array<[AbortSignal, () => void]> = []

  constructor(
    private readonly signals: Array<AbortSignal | undefined>,
    private readonly closed: AbortSignal,
    private readonly seconds: number | null,
    private readonly onTimeout: () => SandboxError,
  ) {
    for (const signal of [...signals, closed]) {
      if (!signal) continue
      if (signal.aborted) {
        this.controller.abort()
        continue
      }
      const listener = () => this.controller.abort()
      signal.addEventListener('abort', listener, { once: true })
      this.listeners.push([signal, listener])
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Whether `cancel()` ended it (a stop asked for: not an error). */
  get isCancelled(): boolean {
    return this.cancelled
  }

  /** (Re)start the timeout. */
  arm(): void {
    this.disarm()
    if (this.seconds === null || this.controller.signal.aborted) return
    this.timer = setTimeout(() => {
      this.timedOut = true
      this.controller.abort()
    }, this.seconds * 1000)
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** End it on purpose (a watch stopped, a stream left). */
  cancel(): void {
    this.cancelled = true
    this.controller.abort()
  }

  done(): void {
    this.disarm()
    for (const [signal, listener] of this.listeners.splice(0)) {
      signal.removeEventListener('abort', listener)
    }
  }

  /** What to throw for a failure of this exchange. */
  error(err: unknown): unknown {
    if (err instanceof SandboxError) return err
    for (const signal of this.signals) {
      if (signal?.aborted) return abortReason(signal)
    }
    if (this.closed.aborted) return new ConnectionError('the client was closed', undefined)
    if (this.timedOut) return this.onTimeout()
    return new ConnectionError(describe(err), undefined, { cause: err })
  }
}

export interface Opened {
  response: Response
  exchange: Exchange
}

/** The server and its key; one per Sandbox / Templates object. */
export class Connection {
  private readonly closer = new AbortController()

  constructor(
    readonly apiUrl: string,
    readonly apiKey: string,
    readonly requestTimeout: number = DEFAULT_REQUEST_TIMEOUT,
  ) {}

  static resolve(opts: ConnectionOpts = {}): Connection {
    const url = opts.apiUrl || env('INTERPRETER_API_URL') || DEFAULT_API_URL
    const key = opts.apiKey || env('INTERPRETER_API_KEY')
    if (!key) throw new SandboxError('no API key: pass apiKey or set INTERPRETER_API_KEY')
    return new Connection(url.replace(/\/+$/, ''), key, opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT)
  }

  /** The same server and key, with a close() of its own (for another Sandbox object). */
  twin(): Connection {
    return new Connection(this.apiUrl, this.apiKey, this.requestTimeout)
  }

  /** Abort every request and stream still open through this connection. */
  close(): void {
    this.closer.abort()
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.apiUrl + '/v1' + path)
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue
      for (const item of Array.isArray(value) ? value : [value]) {
        url.searchParams.append(name, String(item))
      }
    }
    return url.toString()
  }

  /** Send a request; the response (its body unread) once it succeeded, else the mapped error. */
  async open(method: string, path: string, call: Call = {}): Promise<Opened> {
    const exchange = this.exchange(call)
    const headers = this.headers(call)
    let body: unknown
    if (call.json !== undefined) body = JSON.stringify(call.json)
    else if (call.body !== undefined) body = uploadBody(call.body)
    // No redirect followed (as the Python SDK's httpx): fetch would carry X-API-Key on, to
    // another host too (it drops only Authorization and cookies); a 3xx is an error here.
    const init: Record<string, unknown> = {
      method,
      headers,
      body,
      signal: exchange.signal,
      redirect: 'manual',
    }
    if (body instanceof ReadableStream) init.duplex = 'half'
    const agent = await dispatcher()
    if (agent) init.dispatcher = agent
    exchange.arm()
    let response: Response
    try {
      response = await fetch(this.url(path, call.query), init as RequestInit)
    } catch (err) {
      exchange.done()
      throw exchange.error(err)
    }
    if (!response.ok) {
      let text: string
      try {
        text = await response.text()
      } catch (err) {
        exchange.done()
        throw exchange.error(err)
      }
      exchange.done()
      throw errorFromAnswer(response.status, text)
    }
    if (call.idle) exchange.disarm() // from here on the reads arm it
    return { response, exchange }
  }

  /** A request whose answer is NDJSON, its body `call.json`: the answer's non-blank lines as
   * they arrive. Over Node's own http where there is one (node_http.ts: runCode's), else fetch. */
  async openLines(method: string, path: string, call: Call = {}): Promise<AsyncGenerator<string>> {
    const url = this.url(path, call.query)
    const transport = call.body === undefined ? await nodeHttp.transportFor(url) : null
    if (!transport) return lines(await this.open(method, path, call), call.idle)
    const exchange = this.exchange(call)
    const body = call.json !== undefined ? JSON.stringify(call.json) : undefined
    const headers = this.headers(call)
    return linesOf(await nodeHttp.send(transport, url, method, headers, body, exchange, call.idle ?? false))
  }

  /** A call's headers: the key, the caller's, and JSON's type when its body is JSON. */
  private headers(call: Call): Record<string, string> {
    const headers: Record<string, string> = { 'X-API-Key': this.apiKey, ...call.headers }
    if (call.json !== undefined) headers['Content-Type'] = 'application/json'
    return headers
  }

  /** A call's exchange: its signals (the caller's, this connection's close), its timeout. */
  private exchange(call: Call): Exchange {
    const seconds = call.timeout === undefined ? this.requestTimeout : call.timeout
    const onTimeout =
      call.onTimeout ?? (() => new ConnectionError(`no answer from ${this.apiUrl} within ${seconds} s`))
    const exchange = new Exchange([call.signal], this.closer.signal, seconds, onTimeout)
    if (exchange.signal.aborted) {
      exchange.done()
      throw exchange.error(undefined)
    }
    return exchange
  }

  /** A request whose answer is JSON (or empty): its decoded body. */
  async call<T = unknown>(method: string, path: string, call: Call = {}): Promise<T> {
    const { response, exchange } = await this.open(method, path, call)
    let text: string
    try {
      text = await response.text()
    } catch (err) {
      throw exchange.error(err)
    } finally {
      exchange.done()
    }
    return (text ? JSON.parse(text) : undefined) as T
  }
}

/**
 * The chunks of a response's body. A failure becomes the exchange's error; a stop asked for
 * (`exchange.cancel()`) just ends it. Leaving early cancels the body (the connection closes).
 */
export async function* chunks(opened: Opened, idle = false): AsyncGenerator<Uint8Array> {
  const { response, exchange } = opened
  const body = response.body
  if (!body) {
    exchange.done()
    return
  }
  const reader = body.getReader()
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>
      if (idle) exchange.arm()
      try {
        next = await reader.read()
      } catch (err) {
        if (exchange.isCancelled) return
        throw exchange.error(err)
      } finally {
        if (idle) exchange.disarm()
      }
      if (next.done) return
      yield next.value
    }
  } finally {
    exchange.done()
    reader.cancel().catch(() => undefined)
  }
}

/** The non-blank lines of an NDJSON body, as they arrive. */
export function lines(opened: Opened, idle = false): AsyncGenerator<string> {
  return linesOf(chunks(opened, idle))
}

async function* linesOf(pieces: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of pieces) {
    buffer += decoder.decode(chunk, { stream: true })
    let newline: number
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line.trim()) yield line
    }
  }
  buffer += decoder.decode()
  if (buffer.trim()) yield buffer
}

const encoder = new TextEncoder()

function asBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? encoder.encode(chunk) : chunk
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return typeof (value as AsyncIterable<unknown>)?.[Symbol.asyncIterator] === 'function'
}

/** What fetch sends for an Upload: bytes as they are, anything else as a stream. */
export function uploadBody(data: Upload): Uint8Array | Blob | ReadableStream<Uint8Array> {
  if (typeof data === 'string') return encoder.encode(data)
  if (data instanceof Uint8Array || data instanceof Blob || data instanceof ReadableStream) {
    return data
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  const iterator = isAsyncIterable(data)
    ? data[Symbol.asyncIterator]()
    : (data as Iterable<Uint8Array | string>)[Symbol.iterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next()
      if (next.done) controller.close()
      else controller.enqueue(asBytes(next.value))
    },
    async cancel(reason) {
      await iterator.return?.(reason)
    },
  })
}
