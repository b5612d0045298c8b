// The official E2B JS SDK (unmodified) driving envd: files, commands, PTY, watch.
// Run by tests/e2b/test_sdk_js.py with E2B_API_URL / E2B_SANDBOX_URL / E2B_API_KEY set.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import {
  CommandExitError,
  FileNotFoundError,
  FilesystemEventType,
  FileType,
  Sandbox,
  TimeoutError,
} from 'e2b'

let sbx

before(async () => {
  sbx = await Sandbox.create({ metadata: { test_run: process.env.TEST_RUN ?? 'js' }, timeoutMs: 300_000 })
})

after(async () => {
  await sbx?.kill()
})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function eventually(check, what) {
  for (let i = 0; i < 50; i++) {
    if (check()) return
    await sleep(100)
  }
  assert.fail(`never happened: ${what}`)
}

test('files: write, read, list, info, rename, remove', async () => {
  const info = await sbx.files.write('/home/user/js/hello.txt', 'héllo')
  assert.equal(info.path, '/home/user/js/hello.txt')
  assert.equal(await sbx.files.read('/home/user/js/hello.txt'), 'héllo')
  const bytes = new Uint8Array(256).map((_, i) => i)
  await sbx.files.write('/home/user/js/bytes.bin', bytes.buffer)
  assert.deepEqual(await sbx.files.read('/home/user/js/bytes.bin', { format: 'bytes' }), bytes)
  const blob = await sbx.files.read('/home/user/js/bytes.bin', { format: 'blob' })
  assert.equal(blob.size, 256)
  const stream = await sbx.files.read('/home/user/js/hello.txt', { format: 'stream' })
  let streamed = ''
  for await (const chunk of stream) streamed += Buffer.from(chunk).toString()
  assert.equal(streamed, 'héllo')
  await sbx.files.write([
    { path: '/home/user/js/many/a.txt', data: 'a' },
    { path: '/home/user/js/many/sub/b.txt', data: 'b' },
  ])
  const deep = await sbx.files.list('/home/user/js/many', { depth: 2 })
  assert.deepEqual(deep.map((e) => e.path).sort(), [
    '/home/user/js/many/a.txt',
    '/home/user/js/many/sub',
    '/home/user/js/many/sub/b.txt',
  ])
  assert.equal(deep.find((e) => e.name === 'sub').type, FileType.DIR)
  const stat = await sbx.files.getInfo('/home/user/js/hello.txt')
  assert.equal(stat.size, 6)
  assert.equal(stat.owner, 'user')
  assert.ok(stat.modifiedTime instanceof Date)
  assert.equal(await sbx.files.makeDir('/home/user/js/dir'), true)
  assert.equal(await sbx.files.makeDir('/home/user/js/dir'), false)
  const moved = await sbx.files.rename('/home/user/js/hello.txt', '/home/user/js/moved.txt')
  assert.equal(moved.name, 'moved.txt')
  assert.equal(await sbx.files.exists('/home/user/js/hello.txt'), false)
  await sbx.files.remove('/home/user/js/moved.txt')
  assert.equal(await sbx.files.exists('/home/user/js/moved.txt'), false)
  await assert.rejects(sbx.files.read('/home/user/js/missing'), FileNotFoundError)
  await sbx.files.write('/home/user/js/gz.txt', 'zip '.repeat(1000), { gzip: true })
  assert.equal(await sbx.files.read('/home/user/js/gz.txt', { gzip: true }), 'zip '.repeat(1000))
})

test('files: signed download and upload URLs', async () => {
  await sbx.files.write('/home/user/js/url.txt', 'by url')
  const download = await sbx.downloadUrl('/home/user/js/url.txt')
  assert.equal(await (await fetch(download)).text(), 'by url')
  const upload = await sbx.uploadUrl('/home/user/js/up.txt')
  const form = new FormData()
  form.append('file', new Blob(['uploaded']), 'up.txt')
  assert.equal((await fetch(upload, { method: 'POST', body: form })).status, 200)
  assert.equal(await sbx.files.read('/home/user/js/up.txt'), 'uploaded')
})

test('watch: stream, recursive', async () => {
  await sbx.files.makeDir('/home/user/js/watched')
  const events = []
  const handle = await sbx.files.watchDir('/home/user/js/watched', (e) => events.push(e), {
    recursive: true,
  })
  await sbx.files.write('/home/user/js/watched/a.txt', 'a')
  await sbx.files.makeDir('/home/user/js/watched/sub')
  await sleep(300)
  await sbx.files.write('/home/user/js/watched/sub/b.txt', 'b')
  const seen = (name, type) => events.some((e) => e.name === name && e.type === type)
  await eventually(() => seen('a.txt', FilesystemEventType.CREATE), 'a.txt created')
  await eventually(() => seen('sub/b.txt', FilesystemEventType.WRITE), 'sub/b.txt written')
  await handle.stop()
})

test('commands: run, exit codes, envs, background, stdin, kill, timeout', async () => {
  const result = await sbx.commands.run('echo $A; echo err >&2; pwd', { envs: { A: 'aa' }, cwd: '/tmp' })
  assert.equal(result.stdout, 'aa\n/tmp\n')
  assert.equal(result.stderr, 'err\n')
  assert.equal((await sbx.commands.run('whoami', { user: 'root' })).stdout, 'root\n')
  await assert.rejects(sbx.commands.run('exit 4'), (err) => err instanceof CommandExitError && err.exitCode === 4)
  const chunks = []
  await sbx.commands.run('echo one; echo two', { onStdout: (d) => chunks.push(d) })
  assert.equal(chunks.join(''), 'one\ntwo\n')

  const cat = await sbx.commands.run('cat', { background: true, stdin: true })
  await sbx.commands.sendStdin(cat.pid, 'fed\n')
  await sbx.commands.closeStdin(cat.pid)
  assert.equal((await cat.wait()).stdout, 'fed\n')

  const sleeper = await sbx.commands.run('sleep 30', { background: true })
  assert.ok((await sbx.commands.list()).some((p) => p.pid === sleeper.pid))
  const again = await sbx.commands.connect(sleeper.pid)
  assert.equal(again.pid, sleeper.pid)
  assert.equal(await sbx.commands.kill(sleeper.pid), true)
  await assert.rejects(sleeper.wait(), CommandExitError)
  assert.equal(await sbx.commands.kill(sleeper.pid), false)

  await assert.rejects(sbx.commands.run('sleep 20', { timeoutMs: 1000 }), TimeoutError)
})

test('pty: create, input, resize, kill', async () => {
  const output = []
  const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => output.push(d) })
  await sbx.pty.resize(terminal.pid, { cols: 120, rows: 40 })
  await sbx.pty.sendInput(terminal.pid, new TextEncoder().encode('stty size; exit\n'))
  await terminal.wait()
  assert.match(Buffer.concat(output).toString(), /40 120/)
  const other = await sbx.pty.create({ cols: 20, rows: 5, onData: () => {} })
  assert.equal(await sbx.pty.kill(other.pid), true)
  await assert.rejects(other.wait())
})

test('killed sandbox: envd calls fail', async () => {
  const doomed = await Sandbox.create({ timeoutMs: 60_000 })
  await doomed.kill()
  assert.equal(await doomed.isRunning(), false)
  await assert.rejects(doomed.files.read('/home/user/x'), /not found|not running|killed/i)
  await assert.rejects(doomed.commands.run('true'), /not found|not running|killed/i)
})
