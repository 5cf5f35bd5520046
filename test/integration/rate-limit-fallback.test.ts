// The window in which Redis goes away, end to end: a gateway with a
// cluster-scope rate limit (rate 40 per 2 s over 2 gateways: a local share of
// 20) admits 15 through Redis, Redis is stopped, and the `local` fallback
// admits only the 5 left of the gateway's share in that window (not 20 more);
// in the next window, its whole share.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Agent, request } from 'undici'
import type { PluginInstance } from '../../plugins/types.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'
import { clearOfWindowEdge } from '../helpers/window-edge.js'

let redis: RedisServer
let up: Upstream
const agent = new Agent({ connections: 8 })

before(async () => {
  redis = await startRedisServer()
  up = await startUpstream({ handler: (_req, res) => { res.end('ok') } })
})
after(async () => {
  await agent.close()
  await up.close()
  if (redis.running) await redis.stop()
})

function instanceOf (gw: TestGateway): PluginInstance {
  return gw.gw.current.routes.get('r')!.plugins.find((p) => p.name === 'rate-limit')!.instance
}

/** `count` requests one after the other: how many got a 200. */
async function admitted (url: string, count: number): Promise<number> {
  let ok = 0
  for (let i = 0; i < count; i++) {
    const res = await request(url, { dispatcher: agent })
    await res.body.dump()
    if (res.statusCode === 200) ok++
    else assert.equal(res.statusCode, 429)
  }
  return ok
}

test('the window Redis goes away in: the local fallback admits what is left of the gateway\'s share after what it admitted through Redis; the next window, the whole share', async () => {
  const windowMs = 2000
  const gw = await startTestGateway({
    node: { id: 'gw-1' },
    redis: { url: redis.url, keyPrefix: 'fb:', commandTimeout: 50, reconnect: { min: 20, max: 100 } },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [{
      id: 'r',
      match: { paths: ['/r'] },
      upstream: 'app',
      plugins: { 'rate-limit': { scope: 'cluster', rate: 40, window: '2s', expectedNodes: 2, timeout: '10ms' } }
    }]
  })
  const url = gw.url + '/r'
  const mode = (): unknown => instanceOf(gw).status!().mode
  try {
    await until('shared mode', () => mode() === 'shared')
    await clearOfWindowEdge(windowMs, 1500)
    const w = Math.floor(Date.now() / windowMs)
    assert.equal(await admitted(url, 15), 15, 'through Redis')

    await redis.stop()
    await until('local mode', () => mode() === 'local', 3000)
    const down = await admitted(url, 30)
    assert.equal(Math.floor(Date.now() / windowMs), w, 'still the window of the outage (test timing)')
    assert.equal(down, 20 - 15, 'the rest of the local share of 20')

    await until('the next window', () => Math.floor(Date.now() / windowMs) > w, windowMs + 1000)
    assert.equal(await admitted(url, 30), 20, 'the whole local share')
  } finally {
    await gw.stop()
  }
})
