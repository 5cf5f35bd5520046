// The demo upstreams' fault switch, used by the README's resilience how-tos.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startDemoUpstreams } from '../../gateway/demo/demo-upstreams.js'
import { freePort } from '../helpers/free-port.js'

test('a demo upstream goes down on POST /_demo/down (503 to everything, /healthz too) and back on POST /_demo/up', async (t) => {
  const port = await freePort()
  const demo = await startDemoUpstreams('127.0.0.1', { blue: port })
  t.after(() => demo.close())
  const base = `http://127.0.0.1:${port}`
  const status = async (path: string, method = 'GET'): Promise<number> => {
    const res = await fetch(base + path, { method })
    await res.arrayBuffer()
    return res.status
  }
  assert.equal(await status('/hello'), 200)
  assert.equal(await status('/healthz'), 200)
  assert.equal(await status('/_demo/down', 'POST'), 200)
  assert.equal(await status('/hello'), 503)
  assert.equal(await status('/healthz'), 503)
  assert.equal(await status('/_demo/up', 'POST'), 200)
  assert.equal(await status('/hello'), 200)
  assert.equal(await status('/healthz'), 200)
})
