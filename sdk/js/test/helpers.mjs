// Shared by the suites: every sandbox they make is tagged with the test run (TEST_RUN, set by
// tests/e2e/test_sdk_js_native.py) and killed at the end of its suite.
import { after } from 'node:test'

import { NotFoundError, Sandbox } from '../dist/index.js'

export const RUN = process.env.TEST_RUN ?? 'js-native'
export const tag = (suite) => ({ test_run: RUN, suite })

const made = []

/** A sandbox killed when the suite ends. */
export async function sandbox(suite, opts = {}) {
  const sbx = await Sandbox.create({ ...opts, metadata: { ...tag(suite), ...opts.metadata } })
  made.push(sbx)
  return sbx
}

/** Kill this one at the end of the suite too (a fork). */
export function adopt(sbx) {
  made.push(sbx)
  return sbx
}

after(async () => {
  for (const sbx of made.splice(0)) {
    try {
      await sbx.kill()
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err // the test killed it
    }
  }
})

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
