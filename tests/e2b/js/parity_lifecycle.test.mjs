// E2B's lifecycle and commands as its own JS SDK tests expect them (unmodified `e2b`): lists
// newest first, a paused sandbox stays paused until connect, broken UTF-8 at the end of output,
// sudo for `user`, a sandbox killed while a command runs.
// Run by tests/e2b/test_sdk_js.py with E2B_API_URL / E2B_SANDBOX_URL / E2B_API_KEY set.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Sandbox, SandboxError } from 'e2b'

const tag = { test_run: process.env.TEST_RUN ?? 'js', case: 'parity-lifecycle' }

test('list: newest first, one per page', { timeout: 120_000 }, async () => {
  const older = await Sandbox.create({ metadata: tag })
  const newer = await Sandbox.create({ metadata: tag })
  try {
    const paginator = Sandbox.list({ query: { metadata: tag }, limit: 1 })
    assert.deepEqual((await paginator.nextItems()).map((s) => s.sandboxId), [newer.sandboxId])
    assert.equal(paginator.hasNext, true)
    assert.deepEqual((await paginator.nextItems()).map((s) => s.sandboxId), [older.sandboxId])
    assert.equal(paginator.hasNext, false)
  } finally {
    await older.kill()
    await newer.kill()
  }
})

test('a paused sandbox stays paused until connect', { timeout: 120_000 }, async () => {
  const sbx = await Sandbox.create({ metadata: tag })
  try {
    await sbx.pause()
    assert.equal(await sbx.isRunning(), false)
    const resumed = await Sandbox.connect(sbx.sandboxId)
    assert.equal(await resumed.isRunning(), true)
  } finally {
    await sbx.kill()
  }
})

test('commands: broken UTF-8, sudo, a kill under a running command', { timeout: 120_000 }, async () => {
  const sbx = await Sandbox.create({ metadata: tag })
  const broken = await sbx.commands.run(`printf "${'a'.repeat(8191)}\\xe2"`)
  assert.equal(broken.stdout, 'a'.repeat(8191) + '\ufffd')
  const sudo = await sbx.commands.run('sudo whoami; sudo echo "$FOO"')
  assert.equal(sudo.stdout, 'root\n\n')
  const cmd = await sbx.commands.run('sleep 60', { background: true })
  await sbx.kill()
  await assert.rejects(cmd.wait(), (error) => {
    assert.ok(error instanceof SandboxError, String(error))
    assert.match(error.message, /sandbox was killed or reached its end of life/)
    return true
  })
})
