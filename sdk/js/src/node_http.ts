/**
 * runCode's exchange over Node's own `http`/`https` modules where there are some (Node; Deno and
 * Bun have them too), fetch elsewhere (a browser). fetch (undici) builds a Request, Headers and a
 * web-stream body for every run: `runCode('1+1')` was ~2.9 ms above the raw kernel over it and
 * ~2.0 ms over `http.request` on kept connections, its p99 ~4.9 and ~2.3 ms (BENCHMARKS.md,
 * "Thirteenth pass"; issue 19 asks 1 and 3 ms). One keep-alive agent per scheme, as fetch's
 * own global dispatcher: a connection idle for 4 s is closed by us before the server (uvicorn:
 * 5 s) closes it under a request.
 */

import type * as Http from 'node:http'

import { errorFromAnswer } from './errors.js'
import type { Exchange } from './http.js'

/** Node's request function of a scheme and its agent (kept connections). */
export interface Transport {
  request: typeof Http.request
  agent: Http.Agent
}

const IDLE_MS = 4000
let transports: Promise<Record<string, Transport> | null> | undefined

/** Node's http and https with their kept connections; null where there are none. */
function load(): Promise<Record<string, Transport> | null> {
  transports ??= (async () => {
    try {
      const [http, https] = await Promise.all([import('node:http'), import('node:https')])
      const options = { keepAlive: true, timeout: IDLE_MS }
      return {
        'http:': { request: http.request, agent: new http.Agent(options) },
        'https:': { request: https.request, agent: new https.Agent(options) },
      }
    } catch {
      return null
    }
  })()
  return transports
}

/** What `url`'s requests go over, if Node's http can take them (else null: fetch). */
export async function transportFor(url: string): Promise<Transport | null> {
  return (await load())?.[new URL(url).protocol] ?? null
}

/**
 * Send a request (`body`: its JSON text) and return its body's chunks once its answer is a
 * success, else throw the mapped error (a redirect too: none is followed); as `Connection.open`
 * and `chunks` do over fetch:
 * `exchange` times it (with `idle`, the silence between chunks once the head came) and its
 * signal aborts it. Leaving the chunks early closes the connection (the server sees the
 * request go: a run is interrupted).
 */
export async function send(
  transport: Transport,
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  exchange: Exchange,
  idle: boolean,
): Promise<AsyncGenerator<Uint8Array>> {
  exchange.arm()
  let response: Http.IncomingMessage
  try {
    response = await new Promise<Http.IncomingMessage>((resolve, reject) => {
      const options = { method, headers, agent: transport.agent, signal: exchange.signal }
      const request = transport.request(url, options, resolve)
      request.on('error', reject) // before the answer; after it, its body's reads fail
      request.setNoDelay(true)
      request.end(body) // whole: Node sends its Content-Length
    })
  } catch (err) {
    exchange.done()
    throw exchange.error(err)
  }
  const status = response.statusCode ?? 0
  if (status < 200 || status > 299) {
    let text = ''
    try {
      response.setEncoding('utf8')
      for await (const piece of response) text += piece as string
    } catch (err) {
      exchange.done()
      throw exchange.error(err)
    }
    exchange.done()
    throw errorFromAnswer(status, text)
  }
  if (idle) exchange.disarm() // from here on the reads arm it
  return chunksOf(response, exchange, idle)
}

async function* chunksOf(
  response: Http.IncomingMessage,
  exchange: Exchange,
  idle: boolean,
): AsyncGenerator<Uint8Array> {
  const reading = response[Symbol.asyncIterator]()
  let ended = false
  try {
    for (;;) {
      let next: IteratorResult<Buffer>
      if (idle) exchange.arm()
      try {
        next = await reading.next()
      } catch (err) {
        if (exchange.isCancelled) return
        throw exchange.error(lost(err))
      } finally {
        if (idle) exchange.disarm()
      }
      if (next.done) {
        ended = true
        return
      }
      yield next.value
    }
  } finally {
    exchange.done()
    if (!ended) response.destroy() // its connection closes, not kept half-read
  }
}

/** Node's "aborted" (the server closed the connection before the answer's end), said so. */
function lost(err: unknown): unknown {
  if (!(err instanceof Error) || err.message !== 'aborted') return err
  return new Error('the server closed the connection before the answer ended', { cause: err })
}
