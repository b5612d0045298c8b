// Lifecycle: create, info, list, connect, timeout, metrics, pause/resume, kill, and errors.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'

import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  InvalidRequestError,
  NotFoundError,
  Sandbox,
  SandboxError,
  ServerError,
} from '../dist/index.js'
import { RUN, adopt, sandbox, tag } from './helpers.mjs'

let sbx
before(async () => {
  sbx = await sandbox('lifecycle', { envs: { FROM_CREATE: 'yes' }, memoryMb: 768, timeout: 120 })
})

test('create: the record, its limits and variables', async () => {
  assert.match(sbx.sandboxId, /^[0-9a-f]+$/)
  assert.equal(sbx.info.id, sbx.sandboxId)
  assert.equal(sbx.info.state, 'running')
  assert.equal(sbx.info.template, 'code-interpreter')
  assert.equal(sbx.info.memoryMb, 768)
  assert.ok(sbx.info.diskMb > 0)
  assert.ok(sbx.info.createdAt instanceof Date)
  const left = sbx.info.expiresAt.getTime() - sbx.info.createdAt.getTime()
  assert.ok(Math.abs(left - 120_000) < 2_000, `${left} ms`)
  assert.deepEqual(sbx.info.metadata, tag('lifecycle'))
  assert.deepEqual(sbx.info.network, { enabled: false, allowOut: [], denyOut: [] })
  assert.equal((await sbx.commands.run('echo $FROM_CREATE')).stdout, 'yes\n')
})

test('list by metadata, connect, getInfo, setTimeout', async () => {
  const listed = await Sandbox.list({ metadata: tag('lifecycle') })
  assert.deepEqual(
    listed.map((s) => s.id),
    [sbx.sandboxId],
  )
  assert.deepEqual(await Sandbox.list({ metadata: { ...tag('lifecycle'), other: 'x' } }), [])
  const same = await Sandbox.connect(sbx.sandboxId)
  assert.equal(same.sandboxId, sbx.sandboxId)
  await sbx.runCode('kept = 41')
  assert.equal((await same.runCode('kept + 1')).text, '42')
  await same.setTimeout(600)
  const left = same.info.expiresAt.getTime() - Date.now()
  assert.ok(left > 590_000 && left <= 601_000, `${left} ms left`)
  assert.equal((await sbx.getInfo()).expiresAt.getTime(), same.info.expiresAt.getTime())
})

test('metrics: samples of memory, CPU and disk', async () => {
  const metrics = await sbx.getMetrics()
  assert.ok(metrics.length >= 1)
  const last = metrics.at(-1)
  assert.ok(last.timestamp instanceof Date)
  assert.ok(last.memUsed > 0 && last.memTotal === 768 * 1024 * 1024, JSON.stringify(last))
  assert.ok(last.cpuCount >= 1 && last.cpuUsedPct >= 0 && last.diskTotal > 0)
  const none = await sbx.getMetrics({ end: new Date(Date.now() - 3_600_000) })
  assert.deepEqual(none, [])
})

test('pause keeps the kernel; resume (or any call) continues it', async () => {
  const other = await sandbox('lifecycle-pause')
  await other.runCode('counter = 7')
  await other.pause()
  assert.equal(other.info.state, 'paused')
  assert.equal((await Sandbox.connect(other.sandboxId)).info.state, 'paused')
  await assert.rejects(other.pause(), ConflictError)
  await other.resume({ timeout: 120 })
  assert.equal(other.info.state, 'running')
  assert.equal((await other.runCode('counter + 1')).text, '8')
  await other.pause({ memory: false })
  assert.equal((await other.runCode('"counter" in globals()')).text, 'False') // resumed, fresh
  assert.equal((await other.getInfo()).state, 'running')
})

test('snapshots: sandboxes made of one, forks, list, delete', async () => {
  const source = await sandbox('lifecycle-snapshot')
  await source.runCode('state = "from the source"')
  const snapshot = await source.createSnapshot({ name: `js-${RUN}`.toLowerCase() })
  assert.equal(snapshot.sandboxId, source.sandboxId)
  assert.equal(snapshot.template, 'code-interpreter')
  assert.equal(snapshot.memory, true)
  assert.equal(snapshot.name, `js-${RUN}`.toLowerCase())
  assert.ok(snapshot.createdAt instanceof Date && snapshot.frozenSeconds >= 0)
  const listed = await Sandbox.listSnapshots({ sandboxId: source.sandboxId })
  assert.deepEqual(
    listed.map((s) => s.id),
    [snapshot.id],
  )
  assert.ok((await Sandbox.listSnapshots()).some((s) => s.id === snapshot.id))

  const child = await sandbox('lifecycle-snapshot', { template: snapshot.id })
  assert.equal((await child.runCode('state')).text, 'from the source')
  const forks = await source.fork({ count: 1, timeout: 120 })
  assert.equal(forks.length, 1)
  const [fork] = forks.map(adopt)
  assert.ok(fork instanceof Sandbox, String(fork))
  assert.notEqual(fork.sandboxId, source.sandboxId)
  assert.equal((await fork.runCode('state')).text, 'from the source')
  await fork.runCode('state = "changed in the fork"')
  assert.equal((await source.runCode('state')).text, 'from the source')

  await assert.rejects(Sandbox.deleteSnapshot(snapshot.id), ConflictError) // the child is of it
  await child.kill()
  await Sandbox.deleteSnapshot(snapshot.id)
  assert.deepEqual(await Sandbox.listSnapshots({ sandboxId: source.sandboxId }), [])
  await assert.rejects(Sandbox.deleteSnapshot(snapshot.id), NotFoundError)
})

test('kill: the sandbox is gone', async () => {
  const other = await sandbox('lifecycle-kill')
  await other.kill()
  await assert.rejects(Sandbox.connect(other.sandboxId), NotFoundError)
  await assert.rejects(other.runCode('1'), (err) => err instanceof NotFoundError && err.statusCode === 404)
})

test('errors: one tree, mapped from the server', async () => {
  await assert.rejects(Sandbox.connect('nope'), (err) => {
    assert.ok(err instanceof NotFoundError && err instanceof SandboxError)
    assert.equal(err.name, 'NotFoundError')
    assert.match(err.message, /^404 SandboxNotFoundError: /)
    return true
  })
  await assert.rejects(Sandbox.list({ apiKey: 'wrong' }), AuthenticationError)
  await assert.rejects(Sandbox.create({ template: 'no-such-template' }), NotFoundError)
  await assert.rejects(Sandbox.create({ cpu: -1 }), InvalidRequestError)
  await assert.rejects(sbx.runCode('1', { language: 'cobol' }), InvalidRequestError)
  await assert.rejects(
    Sandbox.list({ apiUrl: 'http://127.0.0.1:9' }),
    (err) => err instanceof ConnectionError && /ECONNREFUSED|fetch failed/.test(err.message),
  )
  assert.ok(!(new NotFoundError('x') instanceof ServerError))
  const saved = process.env.INTERPRETER_API_KEY
  delete process.env.INTERPRETER_API_KEY
  try {
    await assert.rejects(Sandbox.list(), /no API key/)
  } finally {
    process.env.INTERPRETER_API_KEY = saved
  }
})
