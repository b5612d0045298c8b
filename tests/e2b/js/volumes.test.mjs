// E2B's Volume API with its own JS SDK (unmodified `e2b`): create, connect, list, destroy, the
// content API and volumeMounts. Run by tests/e2b/test_sdk_js.py; E2B_VOLUME_API_URL (where the
// SDK sends content calls) is set here to the server, as a user sets it.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Sandbox, Volume } from 'e2b'

process.env.E2B_VOLUME_API_URL ??= process.env.E2B_API_URL
const tag = { test_run: process.env.TEST_RUN ?? 'js', case: 'volumes' }

test('volumes: lifecycle, content, mounts', { timeout: 120_000 }, async () => {
  const volume = await Volume.create(`js-${Math.random().toString(16).slice(2, 8)}`)
  try {
    assert.ok((await Volume.list()).some((v) => v.volumeId === volume.volumeId))
    const same = await Volume.connect(volume.volumeId)
    assert.equal(same.name, volume.name)
    await volume.makeDir('/dir', { force: true })
    const info = await volume.writeFile('/dir/a.txt', 'from js', { mode: 0o640 })
    assert.equal(info.mode, 0o640)
    assert.equal(await volume.readFile('/dir/a.txt'), 'from js')
    assert.deepEqual((await volume.list('/dir')).map((e) => e.name), ['a.txt'])
    const sbx = await Sandbox.create({ volumeMounts: { '/mnt/v': volume }, metadata: tag })
    try {
      assert.equal(await sbx.files.read('/mnt/v/dir/a.txt'), 'from js')
      await sbx.files.write('/mnt/v/b.txt', 'from sandbox')
    } finally {
      await sbx.kill()
    }
    assert.equal(await volume.readFile('/b.txt'), 'from sandbox')
    await volume.remove('/dir')
    assert.equal(await volume.exists('/dir'), false)
  } finally {
    assert.equal(await Volume.destroy(volume.volumeId), true)
  }
})
