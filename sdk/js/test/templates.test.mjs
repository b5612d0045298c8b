// Templates: list and get; a small build from a Dockerfile and a context folder (the context
// packed by the SDK's own tar writer: long names, links), a sandbox of it, tags, a failing
// build, and a context the SDK refuses before sending.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import {
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  Templates,
  TemplateBuildError,
} from '../dist/index.js'
import { RUN, sandbox } from './helpers.mjs'

const name = `js-native-${RUN.toLowerCase().replace(/[^a-z0-9-]/g, '')}`
const longDir = 'deep/' + 'a-rather-long-folder-name-'.repeat(5).slice(0, 120)
let templates
let context

before(async () => {
  templates = new Templates()
  context = await mkdtemp(join(tmpdir(), 'sdk-js-context-'))
  await mkdir(join(context, 'app', longDir), { recursive: true })
  await writeFile(join(context, 'app', 'note.txt'), 'copied by the JS SDK\n')
  await writeFile(join(context, 'app', longDir, 'far.txt'), 'far away\n')
  await symlink('note.txt', join(context, 'app', 'link.txt'))
  await writeFile(join(context, 'app', 'ignored.log'), 'not sent')
  await writeFile(join(context, '.dockerignore'), '# logs stay here\n*.log\n')
  await writeFile(
    join(context, 'Dockerfile'),
    'FROM code-interpreter\nENV JS_SDK_VAR=from-the-dockerfile\nCOPY app/ /srv/app/\nWORKDIR /srv/app\n',
  )
})

after(async () => {
  for (const doomed of [name, `${name}-fails`]) {
    await templates.delete(doomed).catch((err) => assert.ok(err instanceof NotFoundError, String(err)))
  }
  await templates.close()
  await rm(context, { recursive: true, force: true })
})

test('list and get: the built-in templates', async () => {
  const listed = await templates.list()
  const builtin = listed.find((t) => t.name === 'code-interpreter')
  assert.deepEqual(builtin, { name: 'code-interpreter', builtin: true, status: 'ready', tags: {} })
  assert.equal((await templates.get('base')).builtin, true)
  await assert.rejects(templates.get('no-such-template'), NotFoundError)
})

test('build from a Dockerfile and a context, then a sandbox of it', { timeout: 200_000 }, async () => {
  const logs = []
  const build = await templates.build(name, {
    dockerfile: join(context, 'Dockerfile'),
    readyCmd: 'true',
    onLog: (entry) => logs.push(entry),
  })
  assert.equal(build.status, 'ready')
  assert.equal(build.template, name)
  assert.ok(build.createdAt instanceof Date && build.finishedAt instanceof Date)
  assert.ok(
    logs.length > 0 && logs.every((e) => e.timestamp instanceof Date && e.level && e.message !== undefined),
  )
  assert.equal((await templates.buildStatus(name, build.id)).status, 'ready')
  const info = await templates.get(name)
  assert.deepEqual([info.builtin, info.buildId, info.status], [false, build.id, 'ready'])

  const sbx = await sandbox('templates', { template: name })
  assert.equal(sbx.info.template, name)
  const run = await sbx.commands.run(
    `pwd; echo $JS_SDK_VAR; cat note.txt link.txt '${longDir}/far.txt'; readlink link.txt; ls ignored.log 2>&1 || true`,
  )
  assert.equal(
    run.stdout,
    '/srv/app\nfrom-the-dockerfile\ncopied by the JS SDK\ncopied by the JS SDK\nfar away\nnote.txt\n' +
      "ls: cannot access 'ignored.log': No such file or directory\n",
  )
  await assert.rejects(templates.delete(name), ConflictError) // it has a sandbox
  await sbx.kill()

  const tagged = await templates.tag(name, ['v1'])
  assert.equal(tagged.tags.v1, build.id)
  const again = await templates.uploadContext(context)
  assert.match(again, /^[0-9a-f]{64}$/) // the same context: the same hash, not sent again
  assert.equal(await templates.uploadContext(context), again)
})

test('a failing step is a TemplateBuildError naming it', { timeout: 120_000 }, async () => {
  const dockerfile = 'FROM code-interpreter\nRUN echo one\nRUN echo broken >&2; exit 3\n'
  await assert.rejects(templates.build(`${name}-fails`, { dockerfile }), (err) => {
    assert.ok(err instanceof TemplateBuildError, String(err))
    // Steps: USER root, WORKDIR / (as Docker's), then the Dockerfile's: the failing RUN is 4.
    assert.equal(err.step, '4')
    assert.match(err.message, /step 4 failed: exit code 3/)
    assert.match(err.message, /broken/)
    return true
  })
  await assert.rejects(
    templates.build(`${name}-fails`, { dockerfile: 'FROM nowhere\n', wait: false }),
    InvalidRequestError,
  )
})

test('a context with a link out of it is refused before it is sent', async () => {
  const bad = await mkdtemp(join(tmpdir(), 'sdk-js-bad-context-'))
  try {
    await symlink('/etc/passwd', join(bad, 'escape'))
    await assert.rejects(templates.uploadContext(bad), (err) => {
      assert.ok(err instanceof InvalidRequestError)
      assert.match(err.message, /escape links out of the build context/)
      return true
    })
  } finally {
    await rm(bad, { recursive: true, force: true })
  }
})
