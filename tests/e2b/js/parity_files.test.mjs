// Files and watch as E2B's envd does them, driven by the official JS SDK (unmodified): the cases
// of E2B's own js-sdk tests (files/list, entryInfo, remove, metadata, signing, watch) where our
// agent once answered differently. Run by tests/e2b/test_sdk_js.py.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { FilesystemEventType, FileType, Sandbox } from 'e2b'

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

test('mode is the permission bits, permissions Go\'s string', async () => {
  await sbx.files.makeDir('/home/user/pjs/modes/dir')
  await sbx.files.write('/home/user/pjs/modes/file.txt', 'x')
  const dir = await sbx.files.getInfo('/home/user/pjs/modes/dir')
  assert.deepEqual([dir.type, dir.mode, dir.permissions], [FileType.DIR, 0o755, 'drwxr-xr-x'])
  const file = await sbx.files.getInfo('/home/user/pjs/modes/file.txt')
  assert.deepEqual([file.type, file.mode, file.permissions], [FileType.FILE, 0o644, '-rw-r--r--'])
  const tmp = await sbx.files.getInfo('/tmp')
  assert.deepEqual([tmp.mode, tmp.permissions], [0o777, 'dtrwxrwxrwx'])
})

test('a symlink: its target\'s type and mode, its absolute resolved target', async () => {
  await sbx.files.write('/home/user/pjs/links/test.txt', 't')
  await sbx.commands.run('ln -s test.txt link && ln -s link chain && ln -s missing dangling', {
    cwd: '/home/user/pjs/links',
  })
  const listed = await sbx.files.list('/home/user/pjs/links')
  const byName = Object.fromEntries(listed.map((e) => [e.name, e]))
  for (const name of ['link', 'chain']) {
    assert.equal(byName[name].type, FileType.FILE) // JS 2.51 shows the target's type
    assert.equal(byName[name].symlinkTarget, '/home/user/pjs/links/test.txt')
    assert.deepEqual([byName[name].mode, byName[name].permissions], [0o644, 'Lrwxrwxrwx'])
  }
  const dangling = await sbx.files.getInfo('/home/user/pjs/links/dangling')
  assert.equal(dangling.type, undefined) // envd: unspecified
  assert.equal(dangling.symlinkTarget, '/home/user/pjs/links/dangling')
  assert.equal(dangling.mode, 0)
})

test('remove non-existing file', async () => {
  await sbx.files.remove('non_existing_file.txt')
  await sbx.files.remove('/home/user/pjs/no/such/folder')
})

test('overwriting clears stale metadata', async () => {
  const path = '/home/user/pjs/meta.txt'
  await sbx.files.write(path, 'first', { metadata: { author: 'mish' } })
  assert.deepEqual((await sbx.files.getInfo(path)).metadata, { author: 'mish' })
  const info = await sbx.files.write(path, 'second')
  assert.equal(info.metadata, undefined)
  assert.equal((await sbx.files.getInfo(path)).metadata, undefined)
})

test('an expired signature is envd\'s 401', async () => {
  await sbx.files.write('/home/user/pjs/signed.txt', 's')
  const expired = { code: 401, message: 'signature is already expired' }
  const download = await sbx.downloadUrl('/home/user/pjs/signed.txt', { useSignatureExpiration: -120 })
  const got = await fetch(download)
  assert.equal(got.status, 401)
  assert.deepEqual(await got.json(), expired)
  const upload = await sbx.uploadUrl('/home/user/pjs/signed-up.txt', { useSignatureExpiration: -120 })
  const form = new FormData()
  form.append('file', new Blob(['x']), 'signed-up.txt')
  const posted = await fetch(upload, { method: 'POST', body: form })
  assert.equal(posted.status, 401)
  assert.deepEqual(await posted.json(), expired)
})

test('watch: a new file is create, chmod, write', async () => {
  await sbx.files.makeDir('/home/user/pjs/w-new')
  const events = []
  const handle = await sbx.files.watchDir('/home/user/pjs/w-new', (e) => events.push(e))
  await sbx.files.write('/home/user/pjs/w-new/test_watch.txt', 'content')
  await eventually(() => events.length >= 3, 'three events')
  await sleep(100)
  await handle.stop()
  assert.deepEqual(
    events.map((e) => [e.name, e.type]),
    [
      ['test_watch.txt', FilesystemEventType.CREATE],
      ['test_watch.txt', FilesystemEventType.CHMOD],
      ['test_watch.txt', FilesystemEventType.WRITE],
    ],
  )
})

test('watch recursive directory after nested folder addition', async () => {
  await sbx.files.makeDir('/home/user/pjs/w-add')
  const events = []
  const handle = await sbx.files.watchDir('/home/user/pjs/w-add', (e) => events.push(e), {
    recursive: true,
  })
  const seen = (name, type) => events.some((e) => e.name === name && e.type === type)
  await sbx.files.makeDir('/home/user/pjs/w-add/nested')
  await eventually(() => seen('nested', FilesystemEventType.CREATE), 'nested created')
  await sbx.files.write('/home/user/pjs/w-add/nested/test_watch.txt', 'content')
  await eventually(() => seen('nested/test_watch.txt', FilesystemEventType.WRITE), 'file written')
  await sbx.commands.run('mkdir -p /home/user/pjs/w-add/one/two/three')
  await eventually(() => seen('one/two/three', FilesystemEventType.CREATE), 'mkdir -p reported')
  assert.ok(seen('one/two', FilesystemEventType.CREATE))
  await handle.stop()
})
