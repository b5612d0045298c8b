// bench_run_code.py's JS measures: the JS SDK built at `argv[2]` (its dist folder), connected to
// the sandbox named on stdin's first line ({url, key, id}); then one runCode('1+1') per line,
// its seconds answered on stdout (timed in the event loop, as the async Python SDK's).
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const { Sandbox } = await import(pathToFileURL(`${process.argv[2]}/index.js`).href)
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const first = JSON.parse((await input.next()).value)
const sbx = await Sandbox.connect(first.id, { apiUrl: first.url, apiKey: first.key })
console.log('ready')
for (;;) {
  if ((await input.next()).done) break
  const started = performance.now()
  const execution = await sbx.runCode('1+1')
  const seconds = (performance.now() - started) / 1000
  if (execution.text !== '2') throw new Error(`1+1 gave ${execution.text}`)
  console.log(seconds)
}
