// Commands: run (streamed output, exit codes, envs, cwd, user, timeout), background handles,
// stdin, kill, list, connect; the pty.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'

import { CommandExitError, CommandHandle, NotFoundError, SandboxError } from '../dist/index.js'
import { sandbox, sleep } from './helpers.mjs'

let sbx
before(async () => {
  sbx = await sandbox('commands')
})

test('run: output streamed and kept, exit code, envs, cwd, user', async () => {
  const seen = []
  const started = Date.now()
  const result = await sbx.commands.run('echo one; sleep 1; echo two >&2; echo $GREETING; pwd; id -un', {
    envs: { GREETING: 'hi' },
    cwd: '/tmp',
    onStdout: (data) => seen.push(['out', data, Date.now() - started]),
    onStderr: (data) => seen.push(['err', data, Date.now() - started]),
  })
  assert.deepEqual(result, { stdout: 'one\nhi\n/tmp\nuser\n', stderr: 'two\n', exitCode: 0 })
  assert.equal(seen[0][1], 'one\n')
  assert.ok(seen.find((s) => s[0] === 'err')[2] - seen[0][2] >= 900, 'output came as it was printed')
  assert.equal((await sbx.commands.run('id -u', { user: 'root' })).stdout, '0\n')
})

test('a non-zero exit: CommandExitError, or the result with check: false', async () => {
  await assert.rejects(sbx.commands.run('echo out; echo bad >&2; exit 3'), (err) => {
    assert.ok(err instanceof CommandExitError && err instanceof SandboxError)
    assert.equal(err.exitCode, 3)
    assert.equal(err.stdout, 'out\n')
    assert.equal(err.stderr, 'bad\n')
    assert.equal(err.message, 'command exited with code 3: bad')
    return true
  })
  const result = await sbx.commands.run('exit 4', { check: false })
  assert.equal(result.exitCode, 4)
  const started = Date.now()
  const slow = await sbx.commands.run('sleep 30', { timeout: 1, check: false })
  assert.ok(Date.now() - started < 15_000)
  assert.notEqual(slow.exitCode, 0)
  assert.match(slow.error, /timed out/)
})

test('background: start, list, connect, wait, kill', async () => {
  const job = await sbx.commands.start('for i in 1 2 3; do echo tick $i; sleep 0.3; done', { tag: 'ticker' })
  assert.ok(job instanceof CommandHandle && job.pid > 0)
  const listed = (await sbx.commands.list()).find((c) => c.pid === job.pid)
  assert.equal(listed.tag, 'ticker')
  assert.equal(listed.status, 'running')
  assert.ok(listed.startedAt instanceof Date)
  const again = await sbx.commands.connect(job.pid)
  const result = await again.wait()
  assert.equal(result.stdout, 'tick 1\ntick 2\ntick 3\n')
  assert.equal((await job.info()).status, 'completed')

  const server = await sbx.commands.start('python3 -m http.server 8123')
  await sleep(500)
  assert.equal((await server.info()).status, 'running')
  await server.kill()
  const ended = await server.wait({ check: false })
  assert.notEqual(ended.exitCode, 0)
  assert.ok(['cancelled', 'failed'].includes((await server.info()).status), (await server.info()).status)
  const sleeper = await sbx.commands.start('sleep 60')
  await sleeper.kill('KILL')
  await assert.rejects(sleeper.wait(), CommandExitError)
  await assert.rejects(sbx.commands.connect(999999), NotFoundError)
})

test('stdin: send, close', async () => {
  const cat = await sbx.commands.start('cat | tr a-z A-Z', { stdin: true })
  await cat.sendStdin('hello ')
  await cat.sendStdin(new TextEncoder().encode('world\n'))
  await cat.closeStdin()
  assert.equal((await cat.wait()).stdout, 'HELLO WORLD\n')
})

test('wait with an AbortSignal leaves the process running', async () => {
  const job = await sbx.commands.start('sleep 1; echo done')
  await assert.rejects(job.wait({ signal: AbortSignal.timeout(200) }), (err) => err.name === 'TimeoutError')
  assert.equal((await job.info()).status, 'running')
  assert.equal((await job.wait()).stdout, 'done\n')
})

test('pty: an interactive bash on a terminal', async () => {
  const shell = await sbx.pty.create({ cols: 100, rows: 30 })
  const seen = []
  const ended = shell.wait({ onStdout: (data) => seen.push(data) })
  const until = async (pattern) => {
    for (let i = 0; i < 100 && !pattern.test(seen.join('')); i++) await sleep(100)
    assert.match(seen.join(''), pattern)
  }
  await shell.sendStdin('stty size; tty; echo "hi $((6 * 7))"\n')
  await until(/hi 42/)
  await shell.resize(120, 40)
  await shell.sendStdin('stty size; exit\n')
  const result = await ended
  assert.match(result.stdout, /30 100\r\n\/dev\/pts\/\d+\r\nhi 42/)
  assert.match(result.stdout, /40 120/)
  assert.equal(seen.join(''), result.stdout)
  assert.equal(result.exitCode, 0)
  const info = (await sbx.commands.list()).find((c) => c.pid === shell.pid)
  assert.equal(info.pty, true)
})
