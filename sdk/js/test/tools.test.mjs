// tools: run_code as an LLM tool. Without a server: the definitions, the argument checks, the
// reading of tool calls, the rendering and cutting of runs (fixed Executions through a fake
// sandbox), each compared with what the Python SDK's interpreter_sdk.tools gives for the same
// input; then one real sandbox (a chart, a raising cell, a cut output, a timeout, a gone sandbox).
//
// Only the tests without a server: node --test --test-skip-pattern='real sandbox' test/tools.test.mjs
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  Execution,
  ExecutionTimeoutError,
  InvalidRequestError,
  NotFoundError,
  OutputMessage,
  Result,
  SandboxError,
  ToolCallError,
  tools,
} from '../dist/index.js'
import { sandbox } from './helpers.mjs'

// The repository's Python, with the Python SDK (scripts/setup.sh).
const PYTHON = fileURLToPath(new URL('../../../.venv/bin/python', import.meta.url))
const PNG = 'iVBORw0KGgo='
const PATH = /\/tmp\/tool-output\/run_code-[0-9a-f]{8}\.txt/g

// -- The fixtures, run through both SDKs -------------------------------------------------------

const lines = (n, width = 0) =>
  Array.from({ length: n }, (_, i) => `line ${i}`.padEnd(width, '.') + '\n').join('')
const png = (n) => ({ png: `${PNG}${n}` })

/** Executions as JSON (the Python SDK's field names). */
const EXECUTIONS = {
  sections: {
    results: [
      { text: '<Figure size 640x480 with 1 Axes>', png: PNG },
      { text: '   a\n0  1', html: '<table/>', is_main_result: true },
    ],
    logs: { stdout: ['hello\n'], stderr: ['careful\n'] },
    error: { name: 'ValueError', value: 'bad', traceback: '\x1b[0;31mTraceback\x1b[0m\nValueError: bad' },
  },
  empty: {},
  svg: {
    results: [{ svg: '<svg>é ✓ 😀</svg>' }, { png: PNG, svg: '<svg/>' }, { png: PNG, jpeg: '/9j/' }],
  },
  manyImages: {
    results: [
      ...Array.from({ length: 7 }, (_, i) => png(i)),
      { png: PNG, jpeg: '/9j/' }, // the 8th image taken, its JPEG not
      png(9),
      { svg: '<svg/>' },
      { text: 'after' },
    ],
  },
  formats: {
    results: [
      { markdown: '| a |\n|---|\n', text: 'plain' },
      { text: '\x1b[1mbold\x1b[0m\n\n' },
      { latex: '$x^2$' },
      { json: { a: 1, b: [true, null, "it's", 'say "hi"'], c: 1.5, d: 'é\n', e: 1e-7, f: 123456.75 } },
      { json: 'a JSON string' },
      { json: [0.0001, 0.5, -2] },
      { html: '<b>only html</b>' },
      { pdf: 'JVBERi0=' },
      { text: '' },
    ],
    logs: { stdout: ['a', 'b\n\n\n'], stderr: ['\x1b]0;title\x07warn\x1b[K\n'] },
  },
  errorBare: { error: { name: 'Err', value: 'v', traceback: '' } },
  errorOtherKernel: { error: { name: 'Err', value: 'v', traceback: '  at line 1\n  at line 2  \n' } },
  errorSpaces: { error: { name: 'TB', value: 'x', traceback: '\x1c\ufeffTB: x\x1f \u3000' } },
  stdoutOnly: { logs: { stdout: ['6 * 7 = ', '42\n'] } },
}

/** Runs through tools.runCode on a fake sandbox: the execution, its options, and how it ends. */
const RUNS = {
  ...Object.fromEntries(Object.keys(EXECUTIONS).map((name) => [name, { execution: name }])),
  cut: { execution: { logs: { stdout: [lines(3000)] } }, budget: 1000 },
  cutUnsaved: { execution: { logs: { stdout: [lines(3000)] } }, budget: 1000, writeFails: 'disk full' },
  cutError: {
    execution: {
      logs: { stdout: [lines(500, 30)] },
      error: { name: 'KeyError', value: "'k'", traceback: lines(80) + "KeyError: 'k'" },
    },
    budget: 2000,
  },
  cutEmoji: {
    execution: { logs: { stdout: ['😀'.repeat(900) + '\n' + 'é😀\n'.repeat(300)] } },
    budget: 700,
  },
  fitsExactly: { execution: { logs: { stdout: ['x'.repeat(991)] } }, budget: 1000 }, // "[stdout]\n" + 991
  emojiFits: { execution: { logs: { stdout: ['😀'.repeat(991)] } }, budget: 1000 }, // 1000 code points
  timedOut: { execution: { logs: { stdout: ['a\n'] } }, timeout: 2, timesOut: true },
  timedOutSilent: { execution: {}, timeout: 1.5, timesOut: true },
  timedOutNoLimit: { execution: { results: [png(1)] }, timeout: null, timesOut: true },
  timedOutLong: { execution: { logs: { stderr: ['e\n'] } }, timeout: 1234567, timesOut: true },
  timedOutDefault: { execution: { error: { name: 'E', value: 'x', traceback: 'E: x' } }, timesOut: true },
}

const TRUNCATIONS = []
for (const text of [lines(15), lines(26), lines(600, 37), 'x'.repeat(5000), 'ab\n'.repeat(2000)]) {
  for (const budget of [0, 1, 7, 100, 150, 250, 267, 300, 1000, 4999]) {
    TRUNCATIONS.push({ text, budget, where: `somewhere ${budget}` })
  }
}
TRUNCATIONS.push({ text: '😀\n'.repeat(400), budget: 301, where: 'emoji' })
TRUNCATIONS.push({ text: '\n'.repeat(50) + 'y'.repeat(2000) + '\n'.repeat(50), budget: 400, where: 'blank' })

const CHECKS = [
  {},
  { code: 3 },
  { code: '' },
  { code: '1', language: 'cobol' },
  { code: '1', language: "perl's" },
  { code: '1', timeout: true },
  { code: '1', timeout: '5' },
  { code: '1', timeout: 0 },
  { code: '1', timeout: 4000 },
  { code: '1', colour: 'red' },
  { code: null },
  { code: '1', language: null, timeout: null },
  { code: '1', language: 'r', timeout: 2.5 },
  [],
  null,
  'print(1)',
]

const OUTPUTS = [
  { text: '42', images: [['image/png', PNG], ['image/svg+xml', 'PHN2Zy8+']], call_id: 'c1' },
  { text: 'x' },
  {
    text: 'boom',
    images: [['image/gif', 'R0lG'], ['image/webp', 'UklG'], ['image/svg+xml', 'PA==']],
    is_error: true,
  },
  { text: 'only svg', images: [['image/svg+xml', 'PA==']], call_id: 'toolu_2' },
  { text: 'no id, an image', images: [['image/jpeg', '/9j/']] },
]

// What the Python SDK gives for the same fixtures (a fake sandbox of the same behaviour).
const PYTHON_SIDE = String.raw`
import json, sys
from interpreter_sdk import CellError, Execution, ExecutionTimeoutError, Logs, OutputMessage, Result
from interpreter_sdk import SandboxError, ToolCallError, tools

fixtures = json.load(sys.stdin)

def execution_of(data):
    return Execution(
        results=[Result(**r) for r in data.get("results", [])],
        logs=Logs(**data.get("logs", {})),
        error=CellError(**data["error"]) if data.get("error") else None,
    )

class Files:
    def __init__(self, fails):
        self.fails, self.written = fails, []
    def write(self, path, data):
        if self.fails:
            raise SandboxError(self.fails)
        self.written.append([path, data])

class FakeSandbox:
    def __init__(self, data, times_out=False, fails=None):
        self.data, self.times_out, self.files = data, times_out, Files(fails)
    def run_code(self, code, language=None, context=None, timeout=None, on_stdout=None,
                 on_stderr=None, on_result=None, on_error=None):
        execution = execution_of(self.data)
        if not self.times_out:
            return execution
        for text in execution.logs.stdout:
            on_stdout(OutputMessage(text, None))
        for text in execution.logs.stderr:
            on_stderr(OutputMessage(text, None, True))
        for result in execution.results:
            on_result(result)
        if execution.error:
            on_error(execution.error)
        raise ExecutionTimeoutError("timed out")

def run(case):
    data = case["execution"]
    if isinstance(data, str):
        data = fixtures["executions"][data]
    sbx = FakeSandbox(data, case.get("timesOut", False), case.get("writeFails"))
    options = {"budget": case["budget"]} if "budget" in case else {}
    if "timeout" in case:
        options["timeout"] = case["timeout"]
    output = tools.run_code(sbx, "code", **options)
    images = [[i.media_type, i.data] for i in output.images]
    return {"text": output.text, "images": images, "isError": output.is_error,
            "written": sbx.files.written}

def check(arguments):
    try:
        return {"ok": tools.check_arguments(tools.RUN_CODE_PARAMETERS, arguments, "run_code")}
    except ToolCallError as exc:
        return {"field": exc.field, "message": str(exc)}

def shapes(case):
    images = [tools.Image(t, d) for t, d in case.get("images", [])]
    output = tools.ToolOutput(case["text"], images, case.get("is_error", False), case.get("call_id"))
    return {"anthropic": output.anthropic(), "openai": output.openai()}

print(json.dumps({
    "openai": tools.openai_tool(),
    "anthropic": tools.anthropic_tool(),
    "runs": {name: run(case) for name, case in fixtures["runs"].items()},
    "truncations": [tools.truncate(c["text"], c["budget"], c["where"]) for c in fixtures["truncations"]],
    "checks": [check(a) for a in fixtures["checks"]],
    "outputs": [shapes(c) for c in fixtures["outputs"]],
}))
`

let python
before(() => {
  assert.ok(existsSync(PYTHON), `no ${PYTHON}: run scripts/setup.sh`)
  const fixtures = {
    executions: EXECUTIONS,
    runs: RUNS,
    truncations: TRUNCATIONS,
    checks: CHECKS,
    outputs: OUTPUTS,
  }
  const input = JSON.stringify(fixtures)
  const out = execFileSync(PYTHON, ['-c', PYTHON_SIDE], { input, maxBuffer: 1 << 26 })
  python = JSON.parse(out.toString())
})

function executionOf(data) {
  const execution = new Execution()
  for (const { is_main_result: isMainResult, ...fields } of data.results ?? []) {
    execution.results.push(new Result({ ...fields, isMainResult: Boolean(isMainResult) }))
  }
  execution.logs = { stdout: [...(data.logs?.stdout ?? [])], stderr: [...(data.logs?.stderr ?? [])] }
  if (data.error) execution.error = { ...data.error }
  return execution
}

/** Enough of a Sandbox for tools.runCode: runCode answers `data` (or streams it to the handlers
 * and times out), files.write keeps what it is given (or fails). */
function fakeSandbox(data, { timesOut = false, writeFails } = {}) {
  const fake = {
    calls: [],
    written: [],
    async runCode(code, opts) {
      fake.calls.push({ code, ...opts })
      const execution = executionOf(data)
      if (!timesOut) return execution
      for (const text of execution.logs.stdout) await opts.onStdout(new OutputMessage(text, undefined))
      for (const text of execution.logs.stderr) await opts.onStderr(new OutputMessage(text, undefined, true))
      for (const result of execution.results) await opts.onResult(result)
      if (execution.error) await opts.onError(execution.error)
      throw new ExecutionTimeoutError('timed out')
    },
    files: {
      async write(path, text) {
        if (writeFails) throw new SandboxError(writeFails)
        fake.written.push([path, text])
        return {}
      },
    },
  }
  return fake
}

async function runJs(case_) {
  const data = typeof case_.execution === 'string' ? EXECUTIONS[case_.execution] : case_.execution
  const sbx = fakeSandbox(data, case_)
  const opts = {}
  if ('budget' in case_) opts.budget = case_.budget
  if ('timeout' in case_) opts.timeout = case_.timeout
  const output = await tools.runCode(sbx, 'code', opts)
  assert.ok(output instanceof tools.ToolOutput)
  const images = output.images.map((i) => [i.mediaType, i.data])
  return { text: output.text, images, isError: output.isError, written: sbx.written }
}

const bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))

/** The random name of the file a cut output is saved in, made comparable. */
const named = (run) => ({
  ...run,
  text: run.text.replace(PATH, '<file>'),
  written: run.written.map(([path, text]) => [path.replace(PATH, '<file>'), text]),
})

// -- The definitions ---------------------------------------------------------------------------

test('the definitions are the Python SDK’s, text for text', () => {
  assert.deepEqual(tools.openaiTool(), python.openai)
  assert.deepEqual(tools.anthropicTool(), python.anthropic)
  const openai = tools.openaiTool()
  const anthropic = tools.anthropicTool()
  assert.equal(openai.type, 'function')
  assert.equal(openai.function.name, tools.RUN_CODE)
  assert.equal(openai.function.parameters, anthropic.input_schema) // one schema
  assert.equal(anthropic.input_schema, tools.RUN_CODE_PARAMETERS)
  assert.deepEqual(tools.RUN_CODE_PARAMETERS.properties.language.enum, [...tools.LANGUAGES])
  assert.ok(Object.isFrozen(tools.RUN_CODE_PARAMETERS.properties.language.enum), 'shared, so frozen')
  assert.equal(tools.DEFAULT_BUDGET, 20_000)
  JSON.parse(JSON.stringify([openai, anthropic])) // plain JSON
})

// -- Arguments and tool calls ------------------------------------------------------------------

test('arguments are checked as the Python SDK checks them, each refusal naming its field', () => {
  CHECKS.forEach((args, i) => {
    let got
    try {
      got = { ok: tools.checkArguments(tools.RUN_CODE_PARAMETERS, args, 'run_code') }
    } catch (err) {
      assert.ok(err instanceof ToolCallError && err instanceof InvalidRequestError, String(err))
      assert.ok(err instanceof SandboxError)
      got = { field: err.field, message: err.message }
    }
    assert.deepEqual(got, python.checks[i], JSON.stringify(args))
  })
  const refusal = (args) => {
    try {
      tools.checkArguments(tools.RUN_CODE_PARAMETERS, args, 'run_code')
    } catch (err) {
      return [err.field, err.message]
    }
    return undefined
  }
  assert.deepEqual(refusal({ code: '1', language: 'cobol' }), [
    'language',
    'run_code: ' +
      "'language' must be one of python, javascript, typescript, bash, r, java, not 'cobol'",
  ])
  assert.deepEqual(refusal({ code: '1', timeout: undefined }), undefined) // left out, as null
})

test('tool calls of both APIs are read', () => {
  const openai = {
    id: 'call_1',
    type: 'function',
    function: { name: 'run_code', arguments: '{"code": "1 + 1"}' },
  }
  const anthropic = { type: 'tool_use', id: 'toolu_1', name: 'run_code', input: { code: '2' } }
  const a = tools.readToolCall(openai)
  const b = tools.readToolCall(anthropic)
  assert.deepEqual(a, { id: 'call_1', name: 'run_code', arguments: '{"code": "1 + 1"}' })
  assert.deepEqual(tools.parseArguments(a, tools.RUN_CODE_PARAMETERS), { code: '1 + 1' })
  assert.deepEqual(tools.parseArguments(b, tools.RUN_CODE_PARAMETERS), { code: '2' })
  const noArguments = tools.readToolCall({ function: { name: 'run_code', arguments: '' } })
  assert.equal(noArguments.id, undefined)
  assert.throws(() => tools.parseArguments(noArguments, tools.RUN_CODE_PARAMETERS), {
    name: 'ToolCallError',
    field: 'code',
    message: "run_code: 'code' is required",
  })
  const bad = tools.readToolCall({ id: 'c', function: { name: 'run_code', arguments: '{code' } })
  assert.throws(() => tools.parseArguments(bad, tools.RUN_CODE_PARAMETERS), (err) => {
    assert.ok(err instanceof ToolCallError && err.field === 'arguments')
    assert.match(err.message, /^run_code: the arguments are not JSON: /)
    assert.ok(err.cause instanceof SyntaxError)
    return true
  })
  for (const notACall of [{ role: 'assistant' }, [], 'run_code', null, undefined]) {
    assert.throws(() => tools.readToolCall(notACall), { name: 'ToolCallError', field: 'name' })
  }
  assert.throws(() => tools.readToolCall([]), { message: 'not a tool call: Array' })
})

test('handle answers bad arguments for the model, throws at a call of another tool', async () => {
  const sbx = fakeSandbox({ results: [{ text: '42', is_main_result: true }] })
  const call = { type: 'tool_use', id: 'toolu_9', name: 'run_code', input: { language: 'r' } }
  const refused = await tools.handle(call, sbx)
  assert.equal(refused.isError, true)
  assert.equal(refused.text, "run_code: 'code' is required")
  assert.equal(refused.callId, 'toolu_9')
  assert.equal(sbx.calls.length, 0, 'nothing ran')
  await assert.rejects(tools.handle({ ...call, name: 'search' }, sbx), {
    name: 'ToolCallError',
    field: 'name',
    message: "this handles run_code, not 'search'",
  })
  await assert.rejects(tools.handle({ role: 'assistant' }, sbx), ToolCallError)

  const openai = {
    id: 'call_7',
    type: 'function',
    function: { name: 'run_code', arguments: JSON.stringify({ code: '6 * 7', language: 'r', timeout: 9 }) },
  }
  const answer = await tools.handle(openai, sbx)
  assert.deepEqual([answer.text, answer.isError, answer.callId], ['[result]\n42', false, 'call_7'])
  const [ran] = sbx.calls
  assert.deepEqual([ran.code, ran.language, ran.timeout], ['6 * 7', 'r', 9])
  await tools.handle({ ...call, input: { code: '1', timeout: null } }, sbx)
  assert.equal(sbx.calls[1].timeout, 300, 'the default timeout')
  const small = await tools.handle({ ...call, input: { code: '1' } }, sbx, { budget: 3 })
  assert.match(small.text, /^\[re\n\[\.\.\. output truncated: 8 characters cut; the whole output is in /)
  assert.equal(sbx.written.length, 1, 'the budget reached fit')
})

test('what is not a sandbox error is not an answer: it throws', async () => {
  const sbx = fakeSandbox({})
  const error = new NotFoundError('404 SandboxNotFoundError: gone')
  sbx.runCode = async () => {
    throw error
  }
  const call = { type: 'tool_use', id: 't', name: 'run_code', input: { code: '1' } }
  await assert.rejects(tools.handle(call, sbx), (err) => err === error)
  const reason = new Error('aborted')
  const flood = fakeSandbox({ logs: { stdout: ['x'.repeat(100)] } })
  flood.files.write = async () => {
    throw reason // not a SandboxError (an abort): not answered as "could not be saved"
  }
  await assert.rejects(tools.runCode(flood, 'x', { budget: 10 }), (err) => err === reason)
})

// -- What a model reads back -------------------------------------------------------------------

for (const name of Object.keys(RUNS)) {
  test(`a run reads as the Python SDK renders it: ${name}`, async () => {
    const js = await runJs(RUNS[name])
    const expected = python.runs[name]
    assert.deepEqual(named(js), named(expected))
    for (const [path, text] of js.written) {
      assert.ok(js.text.includes(`the whole output is in the file ${path} ...]`), 'the marker names it')
      assert.match(text, /^\[stdout\]\n/)
    }
  })
}

test('the renderings say what they should (not only what Python says)', async () => {
  const sections = await runJs(RUNS.sections)
  assert.equal(
    sections.text,
    '[stdout]\nhello\n[stderr]\ncareful\n[result]\nimage 1 (image/png)\n' +
      '[result]\n   a\n0  1\n[error]\nTraceback\nValueError: bad',
  )
  assert.deepEqual(sections.images, [['image/png', PNG]])
  assert.equal(sections.isError, true)
  assert.equal((await runJs(RUNS.empty)).text, '(no output)')
  const svg = await runJs(RUNS.svg)
  assert.equal(new TextDecoder().decode(bytesOf(svg.images[0][1])), '<svg>é ✓ 😀</svg>')
  assert.deepEqual(
    svg.images.map((i) => i[0]),
    ['image/svg+xml', 'image/png', 'image/png', 'image/jpeg'],
  )
  const many = await runJs(RUNS.manyImages)
  assert.equal(many.images.length, 8)
  assert.match(many.text, /\nimage 8 \(image\/png\)\n\[result\]\nan image \(image\/png\): not attached/)
  const cut = await runJs(RUNS.cut)
  assert.ok(cut.text.length < 1000 + 120, 'the budget, and the marker')
  const [head, tail] = cut.text.split(/\n\[\.\.\. output truncated: 27,906 characters cut; [^\n]+ \.\.\.\]\n/)
  assert.ok(head.endsWith('\nline 92') && tail.startsWith('line 2975\n'), 'cut between lines')
  assert.ok(tail.endsWith('line 2999'), 'the tail kept')
  assert.deepEqual(cut.written.length, 1)
  assert.equal(cut.written[0][1], '[stdout]\n' + lines(3000).replace(/\n$/, ''))
  const unsaved = await runJs(RUNS.cutUnsaved)
  assert.match(unsaved.text, /characters cut; the whole output could not be saved: disk full \.\.\.\]/)
  const timedOut = await runJs(RUNS.timedOut)
  assert.equal(
    timedOut.text,
    '[timeout] the run passed its time limit (2 s) and was interrupted; the kernel keeps what was ' +
      'defined before\n[stdout]\na',
  )
  assert.equal(timedOut.isError, true)
  assert.match((await runJs(RUNS.timedOutLong)).text, /limit \(1\.23457e\+06 s\)/)
  assert.match((await runJs(RUNS.timedOutNoLimit)).text, /time limit and was interrupted/)
})

test('truncation cuts as the Python SDK does: head and tail, between lines, in code points', () => {
  TRUNCATIONS.forEach((c, i) => {
    const what = `${c.budget}: ${c.text.slice(0, 20)}`
    assert.equal(tools.truncate(c.text, c.budget, c.where), python.truncations[i], what)
  })
  assert.equal(tools.truncate('short', 1000, 'nowhere'), 'short')
  const emojis = '😀'.repeat(10)
  assert.equal(tools.truncate(emojis, 10, 'x'), emojis, 'ten characters (twenty UTF-16 units)')
  const emoji = tools.truncate('😀'.repeat(100), 40, 'x')
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
  assert.ok(!lone.test(emoji), 'no pair cut in two')
  assert.equal(tools.stripAnsi('\x1b[0;31mred\x1b[0m \x1b]0;title\x07done'), 'red done')
})

test('answers take the shapes of both APIs, as the Python SDK shapes them', () => {
  OUTPUTS.forEach((c, i) => {
    const images = (c.images ?? []).map(([mediaType, data]) => ({ mediaType, data }))
    const output = new tools.ToolOutput(c.text, { images, isError: c.is_error, callId: c.call_id })
    // JSON: what is sent (and how Python's None is null).
    assert.deepEqual(JSON.parse(JSON.stringify(output.anthropic())), python.outputs[i].anthropic, c.text)
    assert.deepEqual(JSON.parse(JSON.stringify(output.openai())), python.outputs[i].openai, c.text)
  })
  const output = new tools.ToolOutput('42', {
    images: [
      { mediaType: 'image/png', data: PNG },
      { mediaType: 'image/svg+xml', data: 'PHN2Zy8+' },
    ],
    callId: 'c1',
  })
  const block = output.anthropic()
  assert.equal(block.type, 'tool_result')
  assert.equal(block.tool_use_id, 'c1')
  const source = { type: 'base64', media_type: 'image/png', data: PNG }
  assert.deepEqual(block.content[1], { type: 'image', source })
  assert.match(block.content[0].text, /not attached: image\/svg\+xml/)
  const [toolMessage, images] = output.openai()
  assert.deepEqual([toolMessage.role, toolMessage.tool_call_id], ['tool', 'c1'])
  assert.equal(images.content[1].image_url.url, `data:image/png;base64,${PNG}`)
  assert.deepEqual(new tools.ToolOutput('x').openai(), [{ role: 'tool', tool_call_id: null, content: 'x' }])
  assert.deepEqual([output.isError, new tools.ToolOutput('x').images], [false, []])
})

// -- Through a real sandbox --------------------------------------------------------------------

test('through a real sandbox: a chart as an image, a raise as an error, a cut output saved', async () => {
  const sbx = await sandbox('tools')
  const plot = "import matplotlib.pyplot as plt\nprint('hi')\nplt.plot([1, 2])\nplt.show()\n6 * 7"
  const call = { type: 'tool_use', id: 'toolu_1', name: 'run_code', input: { code: plot } }
  const output = await tools.handle(call, sbx)
  assert.equal(output.text, '[stdout]\nhi\n[result]\nimage 1 (image/png)\n[result]\n42')
  const block = output.anthropic()
  assert.deepEqual([block.tool_use_id, block.is_error], ['toolu_1', false])
  assert.equal(block.content[1].type, 'image')
  assert.equal(block.content[1].source.media_type, 'image/png')
  const bytes = bytesOf(block.content[1].source.data)
  assert.deepEqual([...bytes.slice(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG')
  const [, images] = output.openai()
  assert.match(images.content[1].image_url.url, /^data:image\/png;base64,iVBOR/)

  const raised = await tools.handle({ ...call, input: { code: '1 / 0' } }, sbx)
  assert.equal(raised.isError, true)
  assert.match(raised.text, /ZeroDivisionError: division by zero/)
  assert.equal(raised.anthropic().is_error, true)

  const flood = {
    id: 'call_1',
    type: 'function',
    function: { name: 'run_code', arguments: JSON.stringify({ code: "print('x' * 50000)" }) },
  }
  const [message] = (await tools.handle(flood, sbx, { budget: 2000 })).openai()
  assert.deepEqual([message.role, message.tool_call_id], ['tool', 'call_1'])
  assert.ok(message.content.includes('output truncated') && message.content.length < 2300)
  const saved = /in the file (\S+) \.\.\./.exec(message.content)
  assert.ok(saved, message.content)
  assert.equal(await sbx.files.read(saved[1]), '[stdout]\n' + 'x'.repeat(50000))

  const slow = { code: "import time\nprint('a', flush=True)\ntime.sleep(20)", timeout: 1 }
  const timedOut = await tools.handle({ ...call, input: slow }, sbx)
  assert.equal(timedOut.isError, true)
  assert.match(timedOut.text, /^\[timeout\] the run passed its time limit \(1 s\)/)
  assert.match(timedOut.text, /\n\[stdout\]\na$/)
  assert.equal((await tools.handle({ ...call, input: { code: '6 * 7' } }, sbx)).text, '[result]\n42')

  await sbx.kill()
  await assert.rejects(tools.handle(call, sbx), NotFoundError) // a gone sandbox throws
})
