// The official @e2b/code-interpreter JS SDK, unmodified, against our server. Run by
// tests/e2b/test_sdk_js.py with E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY set.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { Sandbox } from '@e2b/code-interpreter'

const tag = { test_run: process.env.TEST_RUN ?? 'js', suite: 'js-code-interpreter' }
let sbx

before(async () => {
  sbx = await Sandbox.create({ metadata: tag, envs: { SANDBOX_VAR: 'from-create' } })
})

after(async () => {
  await sbx?.kill()
})

test('create, info and list', async () => {
  const info = await sbx.getInfo()
  assert.equal(info.sandboxId, sbx.sandboxId)
  assert.equal(info.state, 'running')
  assert.deepEqual(info.metadata, tag)
  const paginator = Sandbox.list({ query: { metadata: tag, state: ['running'] } })
  const listed = await paginator.nextItems()
  assert.deepEqual(listed.map((s) => s.sandboxId), [sbx.sandboxId])
  assert.equal(await sbx.isRunning(), true)
  const metrics = await sbx.getMetrics()
  assert.ok(metrics[0].memUsed > 0 && metrics[0].memTotal > metrics[0].memUsed)
})

test('connect, set timeout, pause and resume', async () => {
  const other = await Sandbox.create({ metadata: tag })
  try {
    await other.runCode('kept = 41')
    const same = await Sandbox.connect(other.sandboxId)
    assert.equal((await same.runCode('kept + 1')).text, '42')
    await other.setTimeout(600_000)
    const left = (await other.getInfo()).endAt.getTime() - Date.now()
    assert.ok(left > 500_000 && left <= 600_000, `${left} ms left`)
    assert.equal(await other.pause(), true)
    assert.equal((await Sandbox.getInfo(other.sandboxId)).state, 'paused')
    const resumed = await Sandbox.connect(other.sandboxId)
    assert.equal((await resumed.runCode('kept + 1')).text, '42')
    assert.equal((await resumed.getInfo()).state, 'running')
  } finally {
    await other.kill()
  }
})

test('runCode: output, results, errors', async () => {
  const stdout = []
  const execution = await sbx.runCode('print("hello")\nx = 20\nx + 22', {
    onStdout: (msg) => stdout.push(msg.line),
  })
  assert.deepEqual(execution.logs.stdout, ['hello\n'])
  assert.deepEqual(stdout, ['hello\n'])
  assert.equal(execution.text, '42')
  assert.equal(execution.results[0].isMainResult, true)
  assert.deepEqual(execution.results[0].extra, {})

  const failed = await sbx.runCode('1 / 0')
  assert.equal(failed.error.name, 'ZeroDivisionError')
  assert.match(failed.error.traceback, /ZeroDivisionError/)

  const env = await sbx.runCode('import os; os.environ["SANDBOX_VAR"] + os.environ["RUN_VAR"]', {
    envs: { RUN_VAR: '+run' },
  })
  assert.equal(env.text, 'from-create+run')
})

test('other languages', async () => {
  const js = await sbx.runCode('console.log("js"); [1, 2, 3].length', { language: 'js' })
  assert.deepEqual(js.logs.stdout, ['js\n'])
  assert.equal(js.text, '3')
  const ts = await sbx.runCode('const n: number = 4; n * 2', { language: 'typescript' })
  assert.equal(ts.text, '8')
  const bash = await sbx.runCode('echo $SANDBOX_VAR', { language: 'bash' })
  assert.deepEqual(bash.logs.stdout, ['from-create\n'])
})

test('charts and data', async () => {
  const execution = await sbx.runCode(`
import matplotlib.pyplot as plt
import pandas as pd
fig, ax = plt.subplots()
ax.bar(["a", "b"], [3, 5])
ax.set_title("Bars")
plt.show()
pd.DataFrame({"a": [1, 2, 3]})
`)
  assert.equal(execution.error, undefined)
  const [chart, frame] = execution.results
  assert.equal(chart.chart.type, 'bar')
  assert.equal(chart.chart.title, 'Bars')
  assert.deepEqual(
    chart.chart.elements.map((e) => [e.label, e.value]),
    [['a', 3], ['b', 5]],
  )
  assert.ok(chart.png.length > 100)
  assert.deepEqual(chart.extra, {})
  assert.deepEqual(frame.data.a, [1, 2, 3])
})

test('contexts', async () => {
  const context = await sbx.createCodeContext({ cwd: '/tmp' })
  assert.equal(context.cwd, '/tmp')
  assert.equal(context.language, 'python')
  const cwd = await sbx.runCode('import os; os.getcwd()', { context })
  assert.equal(cwd.text, '/tmp')
  await sbx.runCode('private = 1', { context })
  const isolated = await sbx.runCode("'private' in dir()")
  assert.equal(isolated.text, 'False')
  const contexts = await sbx.listCodeContexts()
  assert.equal(contexts.at(-1).id, context.id)
  await sbx.restartCodeContext(context)
  const cleared = await sbx.runCode("'private' in dir()", { context })
  assert.equal(cleared.text, 'False')
  await sbx.removeCodeContext(context)
  assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === context.id))
})

test('timeout interrupts, the next run works', async () => {
  await assert.rejects(
    sbx.runCode('import time\ntime.sleep(60)', { timeoutMs: 2000 }),
    (err) => err.name === 'TimeoutError',
  )
  const started = Date.now()
  const next = await sbx.runCode('"still here"')
  assert.equal(next.text, 'still here')
  assert.ok(Date.now() - started < 10000)
})

test('kill, also during an execution', async () => {
  const busy = await Sandbox.create({ metadata: tag })
  const killer = setTimeout(() => Sandbox.kill(busy.sandboxId), 1500)
  await assert.rejects(
    busy.runCode('import time\ntime.sleep(60)'),
    (err) => err.name === 'TimeoutError' && /sandbox was killed/.test(err.message),
  )
  clearTimeout(killer)

  const other = await Sandbox.create({ metadata: tag })
  assert.equal(await Sandbox.kill(other.sandboxId), true)
  assert.equal(await other.isRunning(), false)
  assert.equal(await Sandbox.kill(other.sandboxId), false)
  await assert.rejects(Sandbox.connect(other.sandboxId), (err) => err.name === 'SandboxNotFoundError' || err.name === 'NotFoundError')
})
