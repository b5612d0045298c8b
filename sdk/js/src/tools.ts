/**
 * run_code as a tool for LLM tool calls: its definition for OpenAI and Anthropic, and the
 * handling of a call: run in a given sandbox, answered as content a model reads. The Python
 * SDK's `interpreter_sdk.tools` (sdk/python/interpreter_sdk/tools.py, _tool_schema.py,
 * _tool_content.py), rule for rule: the same schema, the same text for the same run.
 *
 *     import { Sandbox, tools } from 'interpreter-sdk'
 *
 *     const response = await client.messages.create({ ..., tools: [tools.anthropicTool()] })
 *     const sbx = await Sandbox.create()
 *     const results = []
 *     for (const block of response.content) {
 *       if (block.type === 'tool_use') results.push((await tools.handle(block, sbx)).anthropic())
 *     }
 *
 * With OpenAI's Chat Completions: `tools: [tools.openaiTool()]`, then
 * `messages.push(...(await tools.handle(call, sbx)).openai())` for each of `message.tool_calls`.
 *
 * What a run printed, returned and raised comes back as labelled text (`[stdout]`, `[stderr]`,
 * `[result]`, `[error]`) and PNG/JPEG charts as images; text over `budget` characters is cut
 * with a marker naming the file in the sandbox that holds all of it. Code that raises or times
 * out is an error result (`isError`), for the model to read and fix; a sandbox that is gone
 * throws, as everywhere in the SDK.
 */

import { ExecutionTimeoutError, SandboxError, ToolCallError } from './errors.js'
import type { RequestOpts } from './http.js'
import { type CellError, type Context, Execution, type OutputMessage, type Result } from './models.js'
import { DEFAULT_RUN_TIMEOUT, type Sandbox } from './sandbox.js'

export { ToolCallError }

// -- The tool as a model sees it (Python: _tool_schema.py) ------------------------------------

export const RUN_CODE = 'run_code'
export const LANGUAGES: readonly string[] = Object.freeze([
  'python',
  'javascript',
  'typescript',
  'bash',
  'r',
  'java',
])
/** Seconds a model may ask one run to take. */
const MAX_RUN_TIMEOUT = 3600

export const RUN_CODE_DESCRIPTION =
  'Run code in a sandboxed Jupyter kernel and get its output. Languages: python (default; ' +
  'pandas, numpy and matplotlib installed), javascript and typescript (Deno), bash, r, java. ' +
  'State persists between calls: variables, imports and files stay. The value of the ' +
  'last line is returned (a DataFrame as a table); charts come back as images. Long output is ' +
  'cut (the whole of it is saved to a file in the sandbox); each run may take `timeout` ' +
  'seconds (default 300). The sandbox has no internet access unless it was created with it.'

/** A JSON Schema of an object of typed properties, as the tools' schemas are written. */
type ObjectSchema = {
  type: 'object'
  properties: Record<string, Record<string, unknown>>
  required: string[]
  additionalProperties: boolean
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item)
    Object.freeze(value)
  }
  return value
}

/** run_code's arguments (frozen: both definitions share it). */
export const RUN_CODE_PARAMETERS: ObjectSchema = deepFreeze({
  type: 'object',
  properties: {
    code: { type: 'string', description: 'The code to run.', minLength: 1 },
    language: {
      type: 'string',
      enum: [...LANGUAGES],
      description: 'The language of the code (default: python).',
    },
    timeout: {
      type: 'number',
      minimum: 1,
      maximum: MAX_RUN_TIMEOUT,
      description: 'Seconds the run may take before it is interrupted (default 300).',
    },
  },
  required: ['code'],
  additionalProperties: false,
})

/** run_code as an OpenAI Chat Completions function tool (`tools: [...]`). */
export function openaiTool(): {
  type: 'function'
  function: { name: string; description: string; parameters: ObjectSchema }
} {
  return {
    type: 'function',
    function: { name: RUN_CODE, description: RUN_CODE_DESCRIPTION, parameters: RUN_CODE_PARAMETERS },
  }
}

/** run_code as an Anthropic Messages tool (`tools: [...]`). */
export function anthropicTool(): { name: string; description: string; input_schema: ObjectSchema } {
  return { name: RUN_CODE, description: RUN_CODE_DESCRIPTION, input_schema: RUN_CODE_PARAMETERS }
}

/** A model's tool call, whichever API it came from. */
export interface ToolCall {
  readonly id: string | undefined
  readonly name: string
  /** As the model wrote them: a JSON string (OpenAI) or an object (Anthropic). */
  readonly arguments: unknown
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'Array'
  if (typeof value === 'object') return value.constructor?.name ?? 'Object'
  return typeof value
}

/**
 * An OpenAI Chat Completions tool call (`{id, function: {name, arguments}}`) or an Anthropic
 * `tool_use` block (`{id, name, input}`), as those SDKs give them (plain objects).
 *
 * @throws ToolCallError it is neither.
 */
export function readToolCall(toolCall: unknown): ToolCall {
  if (!isRecord(toolCall)) throw new ToolCallError(`not a tool call: ${typeName(toolCall)}`, 'name')
  const call = toolCall
  let name: unknown
  let args: unknown
  if (isRecord(call.function)) {
    // OpenAI
    name = call.function.name
    args = call.function.arguments
  } else if (call.type === 'tool_use') {
    // Anthropic
    name = call.name
    args = call.input
  } else {
    throw new ToolCallError("not a tool call: expected OpenAI's or Anthropic's shape", 'name')
  }
  const id = call.id
  return { id: id == null ? undefined : String(id), name: String(name), arguments: args }
}

/**
 * The call's arguments, decoded from JSON if they are a string, checked against `schema`.
 *
 * @throws ToolCallError they are not JSON, or do not fit (`field` names the argument).
 */
export function parseArguments(call: ToolCall, schema: Record<string, unknown>): Record<string, unknown> {
  let args = call.arguments
  if (args == null || args === '') {
    args = {}
  } else if (typeof args === 'string') {
    try {
      args = JSON.parse(args)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new ToolCallError(`${call.name}: the arguments are not JSON: ${reason}`, 'arguments', {
        cause: err,
      })
    }
  }
  return checkArguments(schema, args, call.name)
}

const TYPES: Readonly<Record<string, (value: unknown) => boolean>> = {
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  object: isRecord,
  array: Array.isArray,
}

/**
 * The arguments of a call to `tool` if they fit `schema` (the part of JSON Schema the tools'
 * schemas use: an object of typed properties, required names, enums, bounds, string maps);
 * `null` for an optional argument counts as leaving it out (models send that).
 *
 * @throws ToolCallError what does not fit, with the argument's name in `field`.
 */
export function checkArguments(
  schema: Record<string, unknown>,
  args: unknown,
  tool: string,
): Record<string, unknown> {
  if (!isRecord(args)) throw new ToolCallError(`${tool}: the arguments must be a JSON object`, 'arguments')
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
  const required = (schema.required ?? []) as string[]
  const given: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(args)) {
    if (value != null || required.includes(key)) given[key] = value
  }
  for (const name of required) {
    if (!Object.prototype.hasOwnProperty.call(given, name)) {
      throw new ToolCallError(`${tool}: '${name}' is required`, name)
    }
  }
  for (const [name, value] of Object.entries(given)) {
    if (!Object.prototype.hasOwnProperty.call(properties, name)) {
      const known = Object.keys(properties).join(', ')
      throw new ToolCallError(`${tool}: unknown argument '${name}' (it takes ${known})`, name)
    }
    checkValue(properties[name], value, `${tool}: '${name}'`, name)
  }
  return given
}

function checkValue(schema: Record<string, unknown>, value: unknown, what: string, field: string): void {
  const kind = schema.type
  if (kind != null) {
    const isKind = TYPES[String(kind)]
    if (isKind === undefined) throw new TypeError(`a schema type the check does not know: ${String(kind)}`)
    if (!isKind(value)) {
      const article = 'aeiou'.includes(String(kind)[0]) ? 'an' : 'a'
      throw new ToolCallError(`${what} must be ${article} ${String(kind)}`, field)
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((choice) => sameJson(choice, value))) {
    const choices = schema.enum.map(pyStr).join(', ')
    throw new ToolCallError(`${what} must be one of ${choices}, not ${pyRepr(value)}`, field)
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) {
      throw new ToolCallError(`${what} must be at least ${pyStr(schema.minimum)}`, field)
    }
    if (typeof schema.maximum === 'number' && value > schema.maximum) {
      throw new ToolCallError(`${what} must be at most ${pyStr(schema.maximum)}`, field)
    }
  }
  if (typeof value === 'string' && codePoints(value) < Number(schema.minLength ?? 0)) {
    throw new ToolCallError(`${what} must not be empty`, field)
  }
  const values = schema.additionalProperties
  if (isRecord(value) && isRecord(values)) {
    for (const [key, item] of Object.entries(value)) checkValue(values, item, `${what}['${key}']`, field)
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b
  return JSON.stringify(a) === JSON.stringify(b)
}

function codePoints(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}

// Python's str() and repr() of JSON values, so that a model reads the same text from both SDKs
// (an enum's refusal, a result given only as JSON).

function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value)
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'number') return pyNumber(value)
  if (typeof value === 'string') return pyReprString(value)
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (typeof value === 'object') {
    const items = Object.entries(value).map(([k, v]) => `${pyReprString(k)}: ${pyRepr(v)}`)
    return `{${items.join(', ')}}`
  }
  return String(value)
}

function pyNumber(value: number): string {
  if (Number.isNaN(value)) return 'nan'
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf'
  if (Number.isInteger(value) && Math.abs(value) < 1e21) return String(value) // a JSON integer
  // A float as repr() writes it: the shortest digits, an exponent below 1e-4 and from 1e16.
  const [mantissa, exp] = value.toExponential().split('e')
  const exponent = Number(exp)
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`
  }
  return String(value)
}

function pyReprString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let out = ''
  for (const char of text) {
    const code = char.codePointAt(0) as number
    if (char === '\\' || char === quote) out += '\\' + char
    else if (char === '\n') out += '\\n'
    else if (char === '\r') out += '\\r'
    else if (char === '\t') out += '\\t'
    else if (code < 0x20 || (code >= 0x7f && code <= 0xa0)) out += '\\x' + code.toString(16).padStart(2, '0')
    else out += char
  }
  return quote + out + quote
}

// -- What a model reads back (Python: _tool_content.py) -----------------------------------------

/** Characters of text one tool result may hold. */
export const DEFAULT_BUDGET = 20_000
/** Images one tool result may carry; more are named, not attached. */
const MAX_IMAGES = 8
const NO_OUTPUT = '(no output)'
/** Where the whole of a cut output is saved, in the sandbox. */
const OVERFLOW_DIR = '/tmp/tool-output'
/** What OpenAI's and Anthropic's APIs take as an image (not SVG: MCP content can carry it). */
type Raster = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp'
const RASTER: ReadonlySet<string> = new Set<Raster>(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

// CSI and OSC sequences: IPython colours its tracebacks, which a model reads as noise.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g
// What Python's str.strip() strips (JS's trim() differs: it strips U+FEFF, keeps U+001C-U+001F).
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
const STRIP = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'g')

export interface Image {
  /** image/png, image/jpeg or image/svg+xml */
  mediaType: string
  /** base64 */
  data: string
}

export interface ToolOutputOpts {
  images?: Image[]
  /** The code raised, timed out, or the call could not be run. */
  isError?: boolean
  /** The tool call's id, which the API wants back. */
  callId?: string
}

/** A `tool_result` content block (Anthropic Messages). */
export interface AnthropicToolResult {
  type: 'tool_result'
  /** null if the output has no call id (one of `runCode`, not of `handle`). */
  tool_use_id: string
  content: Array<
    | { type: 'text'; text: string }
    | { type: 'image'; source: { type: 'base64'; media_type: Raster; data: string } }
  >
  is_error: boolean
}

/** A message to append (OpenAI Chat Completions). */
export type OpenAIMessage =
  /** `tool_call_id` is null if the output has no call id (one of `runCode`, not of `handle`). */
  | { role: 'tool'; tool_call_id: string; content: string }
  | {
      role: 'user'
      content: Array<{ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }>
    }

/** A tool's answer for a model: text, images, and whether it is an error (the code raised,
 * timed out, or the call could not be run). `anthropic()` / `openai()` shape it. */
export class ToolOutput {
  text: string
  images: Image[]
  isError: boolean
  /** The tool call's id, which the API wants back. */
  callId: string | undefined

  constructor(text: string, opts: ToolOutputOpts = {}) {
    this.text = text
    this.images = opts.images ?? []
    this.isError = opts.isError ?? false
    this.callId = opts.callId
  }

  /** A `tool_result` content block for the next user message (Anthropic Messages). */
  anthropic(): AnthropicToolResult {
    const content: AnthropicToolResult['content'] = [{ type: 'text', text: this.textFor(RASTER) }]
    for (const image of this.images) {
      if (RASTER.has(image.mediaType)) {
        const source = { type: 'base64', media_type: image.mediaType as Raster, data: image.data } as const
        content.push({ type: 'image', source })
      }
    }
    return {
      type: 'tool_result',
      tool_use_id: this.callId ?? (null as unknown as string),
      content,
      is_error: this.isError,
    }
  }

  /** Messages to append (OpenAI Chat Completions): the `tool` message, and, when there are
   * images, a `user` message carrying them (a tool message takes text only). */
  openai(): OpenAIMessage[] {
    const callId = this.callId ?? (null as unknown as string)
    const messages: OpenAIMessage[] = [{ role: 'tool', tool_call_id: callId, content: this.textFor(RASTER) }]
    const images = this.images.filter((i) => RASTER.has(i.mediaType))
    if (images.length) {
      const parts: Extract<OpenAIMessage, { role: 'user' }>['content'] = [
        { type: 'text', text: `The images of tool call ${pyStr(this.callId ?? null)}:` },
      ]
      for (const image of images) {
        parts.push({ type: 'image_url', image_url: { url: `data:${image.mediaType};base64,${image.data}` } })
      }
      messages.push({ role: 'user', content: parts })
    }
    return messages
  }

  private textFor(accepted: ReadonlySet<string>): string {
    const leftOut = this.images.filter((i) => !accepted.has(i.mediaType)).map((i) => i.mediaType)
    if (!leftOut.length) return this.text
    return this.text + `\n[not attached: ${leftOut.join(', ')} (the API takes raster images)]`
  }
}

/** The whole text of a run, in sections (`[stdout]`, `[stderr]`, `[result]`, `[error]`), and
 * its images; nothing cut yet. */
function renderExecution(execution: Execution): [string, Image[]] {
  const sections: string[] = []
  const stdout = execution.logs.stdout.join('')
  const stderr = execution.logs.stderr.join('')
  if (stdout) sections.push('[stdout]\n' + rstripNewlines(stripAnsi(stdout)))
  if (stderr) sections.push('[stderr]\n' + rstripNewlines(stripAnsi(stderr)))
  const images: Image[] = []
  for (const result of execution.results) {
    const shown = imagesOf(result)
    if (shown.length && images.length < MAX_IMAGES) {
      const taken = shown.slice(0, MAX_IMAGES - images.length)
      const first = images.length + 1
      const names = taken.map((image, n) => `image ${first + n} (${image.mediaType})`).join(', ')
      images.push(...taken)
      sections.push(`[result]\n${names}`)
    } else if (shown.length) {
      sections.push(`[result]\nan image (${shown[0].mediaType}): not attached, too many`)
    } else {
      const text = textOf(result)
      if (text) sections.push('[result]\n' + text)
    }
  }
  if (execution.error != null) {
    const error = execution.error
    const headline = `${error.name}: ${error.value}`
    let detail = pyStrip(stripAnsi(error.traceback))
    // IPython's traceback ends with it; other kernels' may not.
    if (!detail.includes(headline)) detail = pyStrip(`${headline}\n${detail}`)
    sections.push('[error]\n' + detail)
  }
  return [sections.join('\n') || NO_OUTPUT, images]
}

function imagesOf(result: Result): Image[] {
  const images: Image[] = []
  if (result.png) images.push({ mediaType: 'image/png', data: result.png })
  if (result.jpeg) images.push({ mediaType: 'image/jpeg', data: result.jpeg })
  if (result.svg && !images.length) {
    // A figure given as both: the raster one is enough.
    images.push({ mediaType: 'image/svg+xml', data: base64(result.svg) })
  }
  return images
}

function textOf(result: Result): string {
  // A DataFrame's markdown or text table reads better than its HTML.
  for (const value of [result.markdown, result.text, result.latex]) {
    if (value) return rstripNewlines(stripAnsi(value))
  }
  if (result.json != null) return pyStr(result.json)
  return result.html || ''
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** The base64 of the text's UTF-8 (no Buffer: the SDK runs beyond Node). */
function base64(text: string): string {
  const bytes = new TextEncoder().encode(text)
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i], bytes[i + 1], bytes[i + 2]]
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0)
    out += BASE64[(n >> 18) & 63] + BASE64[(n >> 12) & 63]
    out += b === undefined ? '=' : BASE64[(n >> 6) & 63]
    out += c === undefined ? '=' : BASE64[n & 63]
  }
  return out
}

/** `text` without its ANSI escape sequences (colours, cursor moves, terminal titles). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '')
}

function rstripNewlines(text: string): string {
  return text.replace(/\n+$/, '')
}

function pyStrip(text: string): string {
  return text.replace(STRIP, '')
}

/** A new file in the sandbox for the whole of a cut output. */
async function overflowPath(kind: string): Promise<string> {
  const bytes = new Uint8Array(4)
  const web = (globalThis as { crypto?: { getRandomValues(array: Uint8Array): Uint8Array } }).crypto
  if (web) web.getRandomValues(bytes)
  else (await import('node:crypto')).randomFillSync(bytes) // Node 18: no global crypto
  const token = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${OVERFLOW_DIR}/${kind}-${token}.txt`
}

/**
 * `text` if it fits `budget` characters, else its head and tail with a marker between them
 * that says how much was cut and `where` the rest is. Characters are code points, as in
 * Python (an emoji is one, and is never cut in two).
 */
export function truncate(text: string, budget: number, where: string): string {
  if (fits(text, budget)) return text
  // Code points: the string itself unless it holds surrogate pairs.
  const chars: string | string[] = SURROGATE.test(text) ? Array.from(text) : text
  const n = chars.length
  const slice = (from: number, to?: number): string =>
    typeof chars === 'string' ? chars.slice(from, to) : chars.slice(from, to).join('')
  const tail = Math.floor(budget / 4) // an error and its traceback come last
  let head = budget - tail
  let start = n - tail
  // Cut between lines when one ends near the cut (bounds read as Python's str.rfind/find do).
  const before = lastNewline(chars, pyIndex(head - 200, n), pyIndex(head, n))
  if (before >= 0) head = before + 1
  const after = firstNewline(chars, pyIndex(start, n), pyIndex(start + 200, n))
  if (after >= 0) start = after + 1
  const cut = String(start - head).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const marker = `[... output truncated: ${cut} characters cut; ${where} ...]`
  return `${rstripNewlines(slice(0, pyIndex(head, n)))}\n${marker}\n${slice(pyIndex(start, n))}`
}

const SURROGATE = /[\uD800-\uDFFF]/

/** Whether `text` has at most `budget` characters (code points, as Python counts them). */
function fits(text: string, budget: number): boolean {
  if (text.length <= budget) return true // UTF-16 units: never fewer than code points
  return SURROGATE.test(text) && codePoints(text) <= budget
}

/** A Python slice bound: from the end if negative, clamped to [0, n]. */
function pyIndex(index: number, n: number): number {
  return index < 0 ? Math.max(0, index + n) : Math.min(index, n)
}

function lastNewline(chars: string | string[], from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (chars[i] === '\n') return i
  return -1
}

function firstNewline(chars: string | string[], from: number, to: number): number {
  for (let i = from; i < to; i++) if (chars[i] === '\n') return i
  return -1
}

// -- Running a call (Python: tools.py) ----------------------------------------------------------

export interface HandleOpts extends RequestOpts {
  /** Characters of text the answer may hold (default 20 000). */
  budget?: number
}

export interface RunCodeOpts extends RequestOpts {
  /** python (default), javascript, typescript, bash, r, java (exclusive with `context`). */
  language?: string
  /** A Context (or its id) from `createCodeContext`. */
  context?: Context | string
  /** Seconds before the run is interrupted (default 300; `null`: no limit). */
  timeout?: number | null
  /** Characters of text the answer may hold (default 20 000). */
  budget?: number
}

export interface FitOpts extends RequestOpts {
  /** Characters of text to keep (default 20 000). */
  budget?: number
  /** The saved file's name starts with it (default `output`). */
  kind?: string
}

/**
 * Run a model's run_code call in `sandbox`.
 *
 * @param toolCall an OpenAI tool call or an Anthropic `tool_use` block.
 * @returns The answer, with the call's id; arguments that do not fit the tool give an error
 *   answer naming the argument, for the model to correct.
 * @throws ToolCallError `toolCall` is not a tool call, or calls another tool.
 * @throws SandboxError the sandbox could not run it (e.g. `NotFoundError`: it is gone).
 */
export async function handle(
  toolCall: unknown,
  sandbox: Sandbox,
  opts: HandleOpts = {},
): Promise<ToolOutput> {
  const call = readToolCall(toolCall)
  if (call.name !== RUN_CODE) {
    throw new ToolCallError(`this handles ${RUN_CODE}, not ${pyRepr(call.name)}`, 'name')
  }
  let args: Record<string, unknown>
  try {
    args = parseArguments(call, RUN_CODE_PARAMETERS)
  } catch (err) {
    // The model's to fix: it reads why.
    if (err instanceof ToolCallError) return new ToolOutput(err.message, { isError: true, callId: call.id })
    throw err
  }
  const output = await runCode(sandbox, args.code as string, {
    language: args.language as string | undefined,
    timeout: args.timeout as number | undefined,
    budget: opts.budget,
    signal: opts.signal,
  })
  output.callId = call.id
  return output
}

/** Run `code` and answer as a model reads it (see the module's comment); a timeout is an error
 * answer with what the run printed until then. */
export async function runCode(sandbox: Sandbox, code: string, opts: RunCodeOpts = {}): Promise<ToolOutput> {
  const timeout = opts.timeout === undefined ? DEFAULT_RUN_TIMEOUT : opts.timeout
  const budget = opts.budget ?? DEFAULT_BUDGET
  const seen = new Execution() // what the run sent before it ended: all there is if it timed out
  let execution: Execution
  try {
    execution = await sandbox.runCode(code, {
      language: opts.language,
      context: opts.context,
      timeout,
      signal: opts.signal,
      onStdout: (message: OutputMessage) => void seen.logs.stdout.push(message.text),
      onStderr: (message: OutputMessage) => void seen.logs.stderr.push(message.text),
      onResult: (result: Result) => void seen.results.push(result),
      onError: (error: CellError) => void (seen.error = error),
    })
  } catch (err) {
    if (!(err instanceof ExecutionTimeoutError)) throw err
    const [text, images] = rendered(seen, true, timeout)
    const fitted = await fit(sandbox, text, { budget, kind: RUN_CODE, signal: opts.signal })
    return new ToolOutput(fitted, { images, isError: true })
  }
  const [text, images] = rendered(execution)
  const fitted = await fit(sandbox, text, { budget, kind: RUN_CODE, signal: opts.signal })
  return new ToolOutput(fitted, { images, isError: execution.error != null })
}

/** `text` cut to `budget` characters, the whole of it saved in a file of the sandbox that the
 * marker names (`/tmp/tool-output/KIND-*.txt`). */
export async function fit(sandbox: Sandbox, text: string, opts: FitOpts = {}): Promise<string> {
  const budget = opts.budget ?? DEFAULT_BUDGET
  if (fits(text, budget)) return text
  const path = await overflowPath(opts.kind ?? 'output')
  try {
    await sandbox.files.write(path, text, { signal: opts.signal })
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err
    return truncate(text, budget, `the whole output could not be saved: ${err.message}`)
  }
  return truncate(text, budget, `the whole output is in the file ${path}`)
}

/** The run's text and images, after a notice if it was `interrupted` at its timeout. */
function rendered(
  execution: Execution,
  interrupted = false,
  timeout: number | null = null,
): [string, Image[]] {
  const [text, images] = renderExecution(execution)
  if (!interrupted) return [text, images]
  const limit = timeout !== null ? ` (${formatG(timeout)} s)` : ''
  let notice = `[timeout] the run passed its time limit${limit} and was interrupted; the kernel `
  notice += 'keeps what was defined before'
  return [text === NO_OUTPUT ? notice : `${notice}\n${text}`, images]
}

/** A number as Python's `{:g}` writes it (six significant digits, no trailing zeros). */
function formatG(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf'
  if (value === 0) return Object.is(value, -0) ? '-0' : '0'
  const [mantissa, exp] = value.toExponential(5).split('e')
  const exponent = Number(exp)
  const trim = (digits: string): string => (digits.includes('.') ? digits.replace(/\.?0+$/, '') : digits)
  if (exponent < -4 || exponent >= 6) {
    return `${trim(mantissa)}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`
  }
  return trim(value.toFixed(5 - exponent))
}
