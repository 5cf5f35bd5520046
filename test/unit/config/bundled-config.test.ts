// The bundled demo config (what `npm start` serves): valid, and its data plane
// on loopback unless LISTEN_HOST says otherwise.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { formatIssue, loadConfig } from '../../../gateway/config/load-config.js'

/** dist/test/unit/config/ -> the checkout's config/gateway.yaml */
const BUNDLED = fileURLToPath(new URL('../../../../config/gateway.yaml', import.meta.url))

function listenOf (env: NodeJS.ProcessEnv): { host: string; port: number } {
  const result = loadConfig(BUNDLED, env)
  if (!result.ok) assert.fail(result.issues.map(formatIssue).join('\n'))
  return result.config.listen
}

test('the demo data plane listens on 127.0.0.1 unless LISTEN_HOST says otherwise', () => {
  assert.deepEqual(listenOf({}), { host: '127.0.0.1', port: 8080 })
  assert.deepEqual(listenOf({ LISTEN_HOST: '' }), { host: '127.0.0.1', port: 8080 })
  assert.deepEqual(listenOf({ LISTEN_HOST: '::' }), { host: '::', port: 8080 })
  assert.deepEqual(listenOf({ LISTEN_HOST: '0.0.0.0' }), { host: '0.0.0.0', port: 8080 })
})
