// A redirect is not followed, by runCode (Node's http) or any other call (fetch): the API key
// would go on with it, to another host too (fetch drops only Authorization and cookies).
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, test } from 'node:test'

import { Connection } from '../dist/http.js'
import { Sandbox, ServerError } from '../dist/index.js'
import { sandbox } from './helpers.mjs'

const seen = [] // the keys the redirect's target was sent
let target, redirector, through

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

before(async () => {
  const sbx = await sandbox('redirects')
  target = http.createServer((req, res) => {
    seen.push(req.headers['x-api-key'])
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}')
  })
  const elsewhere = `http://127.0.0.1:${await listen(target)}`
  redirector = http.createServer((req, res) => {
    res.writeHead(307, { Location: elsewhere + req.url }).end()
  })
  const port = await listen(redirector)
  // The sandbox reached through the redirector.
  through = new Sandbox(sbx.info, new Connection(`http://127.0.0.1:${port}`, process.env.INTERPRETER_API_KEY))
})

after(() => {
  target?.close()
  redirector?.close()
})

test('a run redirected is an error, its key not sent on', async () => {
  await assert.rejects(through.runCode('1'), (err) => err instanceof ServerError && err.message.startsWith('307'))
  assert.deepEqual(seen, [])
})

test('a call redirected is an error, its key not sent on', async () => {
  await assert.rejects(through.getInfo(), (err) => err instanceof ServerError && err.message.startsWith('307'))
  assert.deepEqual(seen, [])
})
