/**
 * AgentRuntimeClient: agents deployed with `interpreter agent launch`, invoked in sessions
 * (AgentCore's call names: `invokeAgentRuntime(agentId, payload, { runtimeSessionId })`).
 *
 *     const client = new AgentRuntimeClient()
 *     const answer = await client.invokeAgentRuntime('agent_my-agent_v1', { prompt: 'hi' })
 *     console.log(answer.runtimeSessionId, answer.response) // JSON, or an async iterable
 */

import { errorFromFault } from './errors.js'
import { Connection, type ConnectionOpts, type Opened, type RequestOpts, chunks } from './http.js'
import { date } from './models.js'

const SESSION_HEADER = 'X-Interpreter-Session-Id'

export interface AgentInfo {
  /** agent_<name>_v<version> */
  id: string
  name: string
  version: number
  template: string
  createdAt: Date
}

export interface InvokeAgentOpts extends RequestOpts {
  /** The session (default: a new one, named in the answer). */
  runtimeSessionId?: string
  /** Variables of a new session's sandbox. */
  envVars?: Record<string, string>
  /** Seconds the agent may take to answer (a stream: between two chunks). */
  timeout?: number
}

export interface RegisterAgentOpts extends RequestOpts {
  /** Default: the next one. */
  version?: number
}

export interface AgentInvocation {
  runtimeSessionId: string
  contentType: string
  /** The JSON answer, or for a streamed one its events' data as they arrive. */
  response: unknown | AsyncIterable<unknown>
}

type Wire = Record<string, any> // JSON as the server sent it

function sessionPath(agentId: string, sessionId: string): string {
  return `/agents/${encodeURIComponent(agentId)}/sessions/${encodeURIComponent(sessionId)}`
}

function agentInfo(data: Wire): AgentInfo {
  return {
    id: data.id,
    name: data.name,
    version: Number(data.version),
    template: data.template,
    createdAt: date(data.created_at),
  }
}

/** A body's lines, empty ones too (they end server-sent events; http.ts's `lines` skips them). */
async function* eventLines(opened: Opened): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of chunks(opened)) {
    buffer += decoder.decode(chunk, { stream: true })
    let newline: number
    while ((newline = buffer.indexOf('\n')) >= 0) {
      yield buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
    }
  }
  buffer += decoder.decode()
  if (buffer) yield buffer
}

/** Server-sent events' data (JSON decoded when it is); an `event: error` is thrown. */
async function* events(source: AsyncIterable<string>): AsyncGenerator<unknown> {
  let kind = ''
  let data: string[] = []
  const dispatch = (): unknown[] => {
    if (data.length === 0) {
      kind = ''
      return []
    }
    const text = data.join('\n')
    const isError = kind === 'error'
    data = []
    kind = ''
    let item: unknown = text
    try {
      item = JSON.parse(text)
    } catch {
      // not JSON: the text itself
    }
    if (isError) {
      const error = (item as Wire | null)?.error
      throw errorFromFault(typeof error === 'object' && error ? error : { message: text })
    }
    return [item]
  }
  for await (const raw of source) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line === '') {
      yield* dispatch()
      continue
    }
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') kind = value
  }
  yield* dispatch()
}

/** The service's agents; `apiUrl` / `apiKey` default to `INTERPRETER_API_URL` /
 * `INTERPRETER_API_KEY`. */
export class AgentRuntimeClient {
  private readonly connection: Connection

  constructor(opts: ConnectionOpts = {}) {
    this.connection = Connection.resolve(opts)
  }

  /** End this object's requests still open. */
  async close(): Promise<void> {
    this.connection.close()
  }

  /** Invoke agent `agentId` (`agent_<name>_v<version>`; `agent_<name>`: its newest) with
   * `payload` (bytes or text as they are, anything else as JSON). */
  async invokeAgentRuntime(
    agentId: string,
    payload: unknown,
    opts: InvokeAgentOpts = {},
  ): Promise<AgentInvocation> {
    const body =
      payload instanceof Uint8Array || typeof payload === 'string' ? payload : JSON.stringify(payload)
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }
    if (opts.runtimeSessionId !== undefined) headers[SESSION_HEADER] = opts.runtimeSessionId
    const env = Object.entries(opts.envVars ?? {}).map(([k, v]) => `${k}=${v}`)
    const opened = await this.connection.open('POST', `/agents/${encodeURIComponent(agentId)}/invocations`, {
      body,
      headers,
      query: { env, timeout: opts.timeout },
      signal: opts.signal,
      timeout: null, // the service's invocation timeout bounds the wait
    })
    const contentType = opened.response.headers.get('content-type') ?? ''
    const runtimeSessionId = opened.response.headers.get(SESSION_HEADER) ?? ''
    if (contentType.startsWith('text/event-stream')) {
      return { runtimeSessionId, contentType, response: events(eventLines(opened)) }
    }
    let text: string
    try {
      text = await opened.response.text()
    } catch (err) {
      throw opened.exchange.error(err)
    } finally {
      opened.exchange.done()
    }
    return { runtimeSessionId, contentType, response: text ? JSON.parse(text) : null }
  }

  async listAgentRuntimes(opts: RequestOpts = {}): Promise<AgentInfo[]> {
    return (await this.connection.call<Wire[]>('GET', '/agents', opts)).map(agentInfo)
  }

  async getAgentRuntime(agentId: string, opts: RequestOpts = {}): Promise<AgentInfo> {
    return agentInfo(await this.connection.call<Wire>('GET', `/agents/${encodeURIComponent(agentId)}`, opts))
  }

  /** A new version of agent `name` served by `template` (the next one unless given). */
  async registerAgentRuntime(
    name: string,
    template: string,
    opts: RegisterAgentOpts = {},
  ): Promise<AgentInfo> {
    const json: Wire = { name, template }
    if (opts.version !== undefined) json.version = opts.version
    return agentInfo(await this.connection.call<Wire>('POST', '/agents', { json, signal: opts.signal }))
  }

  /** The agent's `/ping` status in that session: "Healthy" or "HealthyBusy". */
  async pingRuntimeSession(
    agentId: string,
    runtimeSessionId: string,
    opts: RequestOpts = {},
  ): Promise<string> {
    const url = `${sessionPath(agentId, runtimeSessionId)}/ping`
    return String((await this.connection.call<Wire>('GET', url, opts)).status)
  }

  /** End the session: its sandbox is killed. */
  async stopRuntimeSession(agentId: string, runtimeSessionId: string, opts: RequestOpts = {}): Promise<void> {
    await this.connection.call('DELETE', sessionPath(agentId, runtimeSessionId), opts)
  }
}
