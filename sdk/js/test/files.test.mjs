// Files: text, bytes and streams both ways, list, info, exists, mkdir, remove, rename, watch,
// signed URLs, users and errors.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, test } from 'node:test'

import {
  ConnectionError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  Sandbox,
  WatchHandle,
} from '../dist/index.js'
import { sandbox, sleep } from './helpers.mjs'

let sbx
let scratch
before(async () => {
  sbx = await sandbox('files')
  scratch = await mkdtemp(join(tmpdir(), 'sdk-js-files-'))
})
after(async () => {
  await rm(scratch, { recursive: true, force: true })
})

test('text and bytes round trips; the kernel sees the same files', async () => {
  const info = await sbx.files.write('notes/hello.txt', 'héllo\n')
  assert.deepEqual(
    [info.path, info.type, info.size, info.owner],
    ['/home/user/notes/hello.txt', 'file', 7, 'user'],
  )
  assert.equal(await sbx.files.read('/home/user/notes/hello.txt'), 'héllo\n')
  const blob = new Uint8Array(1024).map((_, i) => i % 256)
  await sbx.files.write('blob.bin', blob)
  assert.deepEqual(await sbx.files.readBytes('blob.bin'), blob)
  await sbx.files.write('buffer.bin', blob.buffer) // an ArrayBuffer
  await sbx.files.write('blob2.bin', new Blob([blob]))
  assert.deepEqual(await sbx.files.readBytes('blob2.bin'), blob)
  await sbx.files.write('bad.txt', new Uint8Array([0x61, 0xff, 0x62]))
  assert.equal(await sbx.files.read('bad.txt'), 'a\ufffdb')
  const shown = await sbx.runCode("print(open('notes/hello.txt').read(), end='')")
  assert.deepEqual(shown.logs.stdout, ['héllo\n'])
})

test('streams: a large file up from disk and back down in chunks', async () => {
  const size = 24 * 1024 * 1024 + 17
  const local = join(scratch, 'big.bin')
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4096) data.writeUInt32LE(i, i)
  await writeFile(local, data)
  const sha = createHash('sha256').update(data).digest('hex')
  const info = await sbx.files.write('big.bin', createReadStream(local, { highWaterMark: 1 << 20 }))
  assert.equal(info.size, size)
  const stream = await sbx.files.readStream('big.bin')
  assert.ok(stream instanceof ReadableStream)
  const hash = createHash('sha256')
  let chunks = 0
  let total = 0
  for await (const chunk of stream) {
    hash.update(chunk)
    chunks += 1
    total += chunk.byteLength
  }
  assert.equal(total, size)
  assert.ok(chunks > 1)
  assert.equal(hash.digest('hex'), sha)
  const remote = await sbx.commands.run('sha256sum big.bin')
  assert.equal(remote.stdout.split(' ')[0], sha)

  // A web ReadableStream and an async generator upload too; a stream can be left early.
  const web = Readable.toWeb(Readable.from([Buffer.from('web '), Buffer.from('stream')]))
  await sbx.files.write('web.txt', web)
  assert.equal(await sbx.files.read('web.txt'), 'web stream')
  async function* parts() {
    yield 'gen'
    yield new TextEncoder().encode('erated')
  }
  await sbx.files.write('gen.txt', parts())
  assert.equal(await sbx.files.read('gen.txt'), 'generated')
  const partial = await sbx.files.readStream('big.bin')
  const reader = partial.getReader()
  assert.ok((await reader.read()).value.byteLength > 0)
  await reader.cancel()
})

test('list, info, exists, makeDir, remove, rename, writeFiles', async () => {
  assert.equal(await sbx.files.makeDir('a/b/c'), true)
  assert.equal(await sbx.files.makeDir('a/b/c'), false)
  const written = await sbx.files.writeFiles([
    { path: 'a/one.txt', data: '1' },
    { path: 'a/b/two.txt', data: '22' },
  ])
  assert.deepEqual(
    written.map((e) => e.size),
    [1, 2],
  )
  await sbx.commands.run('ln -s /home/user/a/one.txt /home/user/a/link')
  const top = await sbx.files.list('a')
  assert.deepEqual(
    top.map((e) => [e.name, e.type]),
    [
      ['b', 'dir'],
      ['link', 'symlink'],
      ['one.txt', 'file'],
    ],
  )
  const deep = (await sbx.files.list('a', { depth: 3 })).map((e) => e.path)
  assert.ok(deep.includes('/home/user/a/b/c') && deep.includes('/home/user/a/b/two.txt'))
  const link = await sbx.files.getInfo('a/link')
  assert.equal(link.symlinkTarget, '/home/user/a/one.txt')
  assert.equal(link.targetType, 'file')
  const info = await sbx.files.getInfo('a/b/two.txt')
  assert.deepEqual([info.size, info.permissions, info.group], [2, '-rw-r--r--', 'user'])
  assert.ok(info.modifiedTime instanceof Date && info.modifiedTime.getFullYear() >= 2024)
  assert.equal(info.symlinkTarget, undefined)
  assert.deepEqual(info.metadata, {})
  assert.equal(await sbx.files.exists('a/one.txt'), true)
  assert.equal(await sbx.files.exists('a/nope'), false)
  const moved = await sbx.files.rename('a/one.txt', 'a/uno.txt')
  assert.equal(moved.path, '/home/user/a/uno.txt')
  await sbx.files.remove('a')
  assert.equal(await sbx.files.exists('a'), false)
})

test('users and errors', async () => {
  await sbx.files.write('/root-only.txt', 'secret', { user: 'root' })
  assert.equal((await sbx.files.getInfo('/root-only.txt')).owner, 'root')
  await assert.rejects(sbx.files.write('/etc/passwd', 'x'), PermissionDeniedError)
  await assert.rejects(sbx.files.read('missing.txt'), NotFoundError)
  await assert.rejects(sbx.files.readStream('missing.txt'), NotFoundError)
  await assert.rejects(sbx.files.list('missing'), NotFoundError)
  await assert.rejects(
    sbx.files.read('/home'),
    (e) => e instanceof InvalidRequestError && /is a directory/.test(e.message),
  )
  await sbx.files.write('plain.txt', 'x')
  await assert.rejects(sbx.files.write('plain.txt/below.txt', 'y'), /not a directory/)
  // A stream whose upload is refused before the server reads it is still an error of the tree.
  async function* body() {
    yield 'z'
  }
  await assert.rejects(sbx.files.write('plain.txt/below.txt', body()), InvalidRequestError)
  const odd = 'we\nird \'name\' "q" ü?&=#.txt'
  await sbx.files.write(odd, 'odd')
  assert.equal(await sbx.files.read(odd), 'odd')
})

test('watch: events as an async iterator, until stopped', async () => {
  await sbx.files.makeDir('watched')
  const watch = await sbx.files.watchDir('watched', { recursive: true })
  assert.ok(watch instanceof WatchHandle)
  await sbx.files.write('watched/new.txt', 'one')
  await sbx.files.makeDir('watched/sub')
  await sleep(200) // a recursive watch adds the new folder
  await sbx.files.write('watched/sub/deep.txt', 'two')
  await sbx.files.remove('watched/new.txt')
  const events = []
  for await (const event of watch) {
    events.push([event.type, event.name])
    if (event.type === 'remove') break
  }
  const names = events.map(([type, name]) => `${type} ${name}`)
  assert.ok(names.includes('create /home/user/watched/new.txt'), names.join('\n'))
  assert.ok(names.includes('create /home/user/watched/sub/deep.txt'), names.join('\n'))
  assert.ok(names.includes('remove /home/user/watched/new.txt'), names.join('\n'))

  const second = await sbx.files.watchDir('watched')
  const collected = (async () => {
    const seen = []
    for await (const event of second.events()) seen.push(event.type)
    return seen
  })()
  await sbx.files.write('watched/later.txt', 'x')
  await sleep(300)
  await second.stop() // ends the iteration without an error
  assert.ok((await collected).includes('create'))
  await assert.rejects(sbx.files.watchDir('no-such-folder'), NotFoundError)

  const idle = await sbx.files.watchDir('watched')
  await idle.stop() // before any iteration
  for await (const event of idle) assert.fail(`no event after stop: ${event.type}`)

  // close() ends what a Sandbox object has open: the sandbox runs on.
  const other = await Sandbox.connect(sbx.sandboxId)
  const open = await other.files.watchDir('watched')
  const pending = (async () => {
    for await (const event of open) void event
  })()
  await other.close()
  await assert.rejects(pending, (err) => err instanceof ConnectionError && /closed/.test(err.message))
  await assert.rejects(other.getInfo(), ConnectionError)
  assert.equal((await sbx.getInfo()).state, 'running')
})

test('signed URLs: download and upload without the API key', async () => {
  await sbx.files.write('shared.txt', 'for curl')
  const down = await sbx.files.downloadUrl('shared.txt', { expiresIn: 60 })
  assert.ok(!down.includes(process.env.INTERPRETER_API_KEY))
  const got = await fetch(down)
  assert.equal(got.status, 200)
  assert.equal(await got.text(), 'for curl')
  const up = await sbx.files.uploadUrl('uploaded.txt')
  const put = await fetch(up, { method: 'PUT', body: 'via url' })
  assert.equal(put.status, 200)
  assert.equal(await sbx.files.read('uploaded.txt'), 'via url')
  const wrongWay = await fetch(up) // a write URL does not read
  assert.ok(wrongWay.status >= 400)
  await wrongWay.arrayBuffer()
})
