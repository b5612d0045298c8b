// runCode: streaming callbacks, results (text, html, data, png, chart), errors, envs, languages,
// contexts, timeouts and aborts.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'

import { ExecutionTimeoutError, Execution, NotFoundError, OutputMessage, Result } from '../dist/index.js'
import { sandbox } from './helpers.mjs'

let sbx
before(async () => {
  sbx = await sandbox('code')
})

test('output streams to the callbacks as it happens', async () => {
  const seen = []
  const started = Date.now()
  const execution = await sbx.runCode(
    'import sys, time\nprint("one", flush=True)\ntime.sleep(1.5)\nprint("two", file=sys.stderr)\n6 * 7',
    {
      onStdout: (m) => seen.push(['out', m.text, Date.now() - started, m]),
      onStderr: (m) => seen.push(['err', m.text, Date.now() - started, m]),
      onResult: (r) => seen.push(['result', r.text]),
    },
  )
  assert.ok(execution instanceof Execution)
  assert.deepEqual(
    seen.map((s) => s.slice(0, 2)),
    [
      ['out', 'one\n'],
      ['err', 'two\n'],
      ['result', '42'],
    ],
  )
  assert.ok(seen[1][2] - seen[0][2] >= 1000, 'stdout came before the sleep ended')
  const [message] = seen[0].slice(3)
  assert.ok(message instanceof OutputMessage && message.error === false)
  assert.ok(message.timestamp instanceof Date && String(message) === 'one\n')
  assert.equal(seen[1][3].error, true)
  assert.deepEqual(execution.logs, { stdout: ['one\n'], stderr: ['two\n'] })
  assert.equal(execution.text, '42')
  assert.equal(execution.error, undefined)
  assert.ok(execution.executionCount >= 1)
  assert.equal(JSON.parse(JSON.stringify(execution)).text, '42')
})

test('an async callback is awaited before the next event', async () => {
  const order = []
  await sbx.runCode('print("a", flush=True)\nprint("b", flush=True)', {
    onStdout: async (m) => {
      order.push(`start ${m.text.trim()}`)
      await new Promise((r) => setTimeout(r, 200))
      order.push(`end ${m.text.trim()}`)
    },
  })
  assert.deepEqual(order.slice(0, 2), ['start a', 'end a'])
})

test('results: a DataFrame (html, data), a figure (png, chart), display()', async () => {
  const frame = await sbx.runCode("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})")
  const [table] = frame.results
  assert.ok(table instanceof Result && table.isMainResult)
  assert.match(table.html, /<table/)
  assert.deepEqual(table.data, { a: [1, 2], b: ['x', 'y'] })
  assert.ok(table.formats().includes('html') && table.formats().includes('text'))

  const figure = await sbx.runCode(
    'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title("squares")\nplt.show()',
  )
  const png = figure.results.find((r) => r.png)
  assert.ok(png, JSON.stringify(figure))
  assert.ok(Buffer.from(png.png, 'base64').subarray(1, 4).toString() === 'PNG')
  assert.equal(png.chart.type, 'line')
  assert.equal(png.chart.title, 'squares')
  assert.equal(png.isMainResult, false)

  const shown = await sbx.runCode(
    "from IPython.display import display, HTML, Markdown\ndisplay(HTML('<b>hi</b>'))\ndisplay(Markdown('# md'))",
  )
  assert.deepEqual(
    shown.results.map((r) => [r.html, r.markdown]),
    [
      ['<b>hi</b>', undefined],
      [undefined, '# md'],
    ],
  )
  assert.equal(shown.text, undefined)
})

test('code that raises is execution.error, with a callback', async () => {
  const errors = []
  const failed = await sbx.runCode('x = 1\n1 / 0', { onError: (e) => errors.push(e) })
  assert.equal(failed.error.name, 'ZeroDivisionError')
  assert.equal(failed.error.value, 'division by zero')
  assert.match(failed.error.traceback, /ZeroDivisionError/)
  assert.deepEqual(errors, [failed.error])
  assert.equal((await sbx.runCode('x')).text, '1')
})

test('per-run envs and other languages', async () => {
  const env = await sbx.runCode('import os\nos.environ.get("RUN_VAR")', { envs: { RUN_VAR: 'this-run' } })
  assert.equal(env.text, 'this-run')
  assert.equal((await sbx.runCode('import os\nos.environ.get("RUN_VAR")')).text, undefined)
  const js = await sbx.runCode('console.log("js"); [1, 2, 3].length', { language: 'js' })
  assert.deepEqual(js.logs.stdout, ['js\n'])
  assert.equal(js.text, '3')
  const bash = await sbx.runCode('echo from bash', { language: 'bash' })
  assert.deepEqual(bash.logs.stdout, ['from bash\n'])
})

test('contexts: create, list, run in, restart, remove', async () => {
  const context = await sbx.createCodeContext({ cwd: '/tmp' })
  assert.equal(context.language, 'python')
  assert.equal(context.cwd, '/tmp')
  await sbx.runCode('here = 1', { context })
  assert.equal((await sbx.runCode('import os; os.getcwd()', { context: context.id })).text, '/tmp')
  assert.equal((await sbx.runCode('"here" in globals()')).text, 'False') // the default one
  const ids = (await sbx.listCodeContexts()).map((c) => c.id)
  assert.ok(ids.includes(context.id))
  await sbx.restartCodeContext(context)
  assert.equal((await sbx.runCode('"here" in globals()', { context })).text, 'False')
  const js = await sbx.createCodeContext({ language: 'javascript' })
  assert.equal(js.language, 'javascript')
  await sbx.removeCodeContext(js.id)
  await sbx.removeCodeContext(context)
  assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === context.id))
  await assert.rejects(sbx.runCode('1', { context }), NotFoundError)
})

test('timeout: ExecutionTimeoutError, the kernel is interrupted and stays usable', async () => {
  const started = Date.now()
  await assert.rejects(sbx.runCode('import time\ntime.sleep(30)', { timeout: 1 }), ExecutionTimeoutError)
  assert.ok(Date.now() - started < 15_000)
  assert.equal((await sbx.runCode('1 + 1')).text, '2')
})

test('runs on a kept connection, and after it sat idle past the server keep-alive', async () => {
  assert.equal((await sbx.runCode('1')).text, '1')
  assert.equal((await sbx.runCode('2')).text, '2')
  await new Promise((resolve) => setTimeout(resolve, 5500)) // uvicorn closes idle ones at 5 s
  assert.equal((await sbx.runCode('3')).text, '3')
})

test('AbortSignal: the run is abandoned and its kernel interrupted', async () => {
  const controller = new AbortController()
  const seen = []
  const run = sbx.runCode(
    'import time\nprint("started", flush=True)\nfor i in range(300): time.sleep(0.1)\n"finished"',
    {
      signal: controller.signal,
      onStdout: (m) => {
        seen.push(m.text)
        controller.abort()
      },
    },
  )
  await assert.rejects(run, (err) => err.name === 'AbortError')
  assert.deepEqual(seen, ['started\n'])
  const started = Date.now()
  const next = await sbx.runCode('"after"')
  assert.equal(next.text, 'after')
  assert.ok(Date.now() - started < 15_000, 'the kernel was interrupted, not left to finish')

  const reason = new Error('my reason')
  await assert.rejects(sbx.runCode('1', { signal: AbortSignal.abort(reason) }), (err) => err === reason)
})
