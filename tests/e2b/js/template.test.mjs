// The official E2B JS SDK's Template builder (unmodified): a template built through E2B's
// templates API (file upload, steps, logs), then a sandbox from it.
// Run by tests/e2b/test_sdk_js.py with E2B_API_URL / E2B_SANDBOX_URL / E2B_API_KEY set.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { BuildError, Sandbox, Template, waitForPort } from 'e2b'

const context = fileURLToPath(new URL('./template_context', import.meta.url))
const name = `js-template-${(process.env.TEST_RUN ?? 'js').toLowerCase().replace(/[^a-z0-9-]/g, '')}`

test('Template.build, then a sandbox from it', { timeout: 240_000 }, async () => {
  const template = Template({ fileContextPath: context })
    .fromTemplate('code-interpreter')
    .copy('app', '/home/user/app')
    .setEnvs({ JS_VAR: 'from-js' })
    .runCmd('echo built-by-js > /home/user/built.txt')
    .setWorkdir('/home/user/app')
    .setStartCmd('python3 -m http.server 8125', waitForPort(8125))
  const logs = []
  const info = await Template.build(template, name, { onBuildLogs: (entry) => logs.push(entry.message) })
  assert.equal(info.name, name)
  assert.ok(logs.some((m) => m.includes('snapshot taken')), logs.join('\n'))
  assert.equal(await Template.exists(name), true)

  const sbx = await Sandbox.create(name, { timeoutMs: 120_000 })
  try {
    const run = await sbx.commands.run(
      'pwd; cat note.txt /home/user/built.txt; echo $JS_VAR; curl -s -o /dev/null -w "%{http_code}" localhost:8125'
    )
    assert.equal(run.stdout, '/home/user/app\ncopied by the JS SDK\nbuilt-by-js\nfrom-js\n200')
  } finally {
    await sbx.kill()
  }
})

test('a failing step is a BuildError naming it', { timeout: 120_000 }, async () => {
  const template = Template().fromTemplate('code-interpreter').runCmd('echo one').runCmd('echo broken >&2; exit 3')
  await assert.rejects(Template.build(template, `${name}-fails`), (error) => {
    assert.ok(error instanceof BuildError, String(error))
    assert.match(error.message, /step 2 failed: exit code 3/)
    assert.match(error.message, /broken/)
    return true
  })
})
