// Gateway.stop() closes the plugin instances for good: after the drain, every
// instance of the snapshot in force and of those still retiring, global and
// route, exactly once each; a close() that hangs holds the stop at most the
// cap (logged), one that throws is logged; and the Redis connection is closed
// only after them, so a close() may still release state in Redis. A start-up
// that fails to listen closes the instances it made too.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { probe, probePluginModule } from '../helpers/probe-plugin.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { listenLoopback } from '../helpers/listen.js'
import { until } from '../helpers/until.js'

let registry: PluginRegistry
let up: Upstream
/** Responses the upstream holds (requests under /hold) until released. */
const held: Array<() => void> = []

before(async () => {
  registry = await loadPluginRegistry([probePluginModule])
  up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      const answer = (): void => { res.end('ok') }
      if (req.url?.startsWith('/hold')) held.push(answer)
      else answer()
    }
  })
})

after(async () => {
  for (const r of held.splice(0)) r()
  await up.close()
})

/** How many times close() was called on the instances of each tag in `tags`. */
function closeCounts (tags: string[]): Record<string, number> {
  return Object.fromEntries(tags.map((t) => [t, probe.closed.filter((c) => c === t).length]))
}

test('stop() closes every instance in force and of a snapshot still retiring, global and route, once each', { timeout: 15_000 }, async () => {
  const routes = (aTag: string): Array<Record<string, unknown>> => [
    { id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: aTag } } },
    { id: 'hold', match: { paths: ['/hold/*'] }, upstream: 'app', plugins: { probe: { tag: 's1-hold' }, 'probe-low': { tag: 's1-hold-low' } } },
    { id: 'none', match: { paths: ['/none/*'] }, upstream: 'app' }
  ]
  const cfg = (aTag: string): Record<string, unknown> => ({
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: { probe: { tag: 's1-g' }, 'probe-low': { tag: 's1-g-low' } },
    routes: routes(aTag)
  })
  const gw = await startTestGateway(cfg('s1-a'), { plugins: registry })
  // A request held on the first snapshot: once a reload replaces route a's
  // instance, the old snapshot (and its instance s1-a) is still retiring.
  const pending = request(gw.url + '/hold/x').then(async (r) => { await r.body.text(); return r.statusCode })
  await until('the request reached the upstream', () => held.length === 1)
  gw.rewrite(cfg('s1-a-2'))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const old = gw.gw.reloader.live[1]
  assert.ok(old !== undefined && old.inflight === 1, 'the replaced snapshot is still retiring')
  const tags = ['s1-g', 's1-g-low', 's1-a', 's1-a-2', 's1-hold', 's1-hold-low']
  assert.deepEqual(closeCounts(tags), { 's1-g': 0, 's1-g-low': 0, 's1-a': 0, 's1-a-2': 0, 's1-hold': 0, 's1-hold-low': 0 })

  const stopping = gw.stop()
  await until('the gateway is draining', () => gw.gw.draining)
  assert.equal(probe.closed.filter((c) => tags.includes(c)).length, 0, 'nothing closed while a request is in flight')
  const refused = await gw.gw.reloader.reload('test')
  assert.deepEqual([refused.result, refused.errors, gw.gw.current.version], ['failed', ['the gateway is stopping'], 2], 'no reload once stopping')
  for (const r of held.splice(0)) r()
  assert.equal(await pending, 200, 'the held request finished during the drain')
  await stopping
  assert.deepEqual(closeCounts(tags), { 's1-g': 1, 's1-g-low': 1, 's1-a': 1, 's1-a-2': 1, 's1-hold': 1, 's1-hold-low': 1 })
  // The old snapshot's retirement (a timer, every 50 ms while its requests run)
  // must not close s1-a a second time now that its request is done: wait past
  // several of its periods. (Proving an absence takes a wait.)
  assert.equal(old.inflight, 0)
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.deepEqual(closeCounts(tags), { 's1-g': 1, 's1-g-low': 1, 's1-a': 1, 's1-a-2': 1, 's1-hold': 1, 's1-hold-low': 1 }, 'still once each')
})

test('a close() that hangs holds stop() for the cap only, and is logged; one that throws is logged; the others are closed', { timeout: 15_000 }, async () => {
  const gw = await startTestGateway({
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: { probe: { tag: 's2-g-hang', close: 'hang' } },
    routes: [
      { id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: 's2-a-throw', close: 'throw' }, 'probe-low': { tag: 's2-a-low' } } }
    ]
  }, { plugins: registry })
  const t0 = performance.now()
  await gw.stop()
  const ms = performance.now() - t0
  assert.deepEqual(closeCounts(['s2-g-hang', 's2-a-throw', 's2-a-low']), { 's2-g-hang': 1, 's2-a-throw': 1, 's2-a-low': 1 })
  assert.ok(ms >= 1900 && ms < 4000, `stop() waited the 2 s cap for the hanging close(), not more: ${Math.round(ms)} ms`)
  const late = gw.logs.find((l) => l.msg === 'plugin close() still running after 2000 ms: stopping without it')
  assert.ok(late !== undefined, 'the hanging close() is logged')
  assert.equal(late.level, 40)
  assert.deepEqual(late.pending, [{ plugin: 'probe', scope: 'global' }])
  const failed = gw.logs.find((l) => l.msg === 'plugin close() failed')
  assert.ok(failed !== undefined, 'the throwing close() is logged')
  assert.equal(failed.level, 50)
  assert.deepEqual({ plugin: failed.plugin, route: failed.route }, { plugin: 'probe', route: 'a' })
  assert.match(String((failed.err as { message: string }).message), /s2-a-throw close throws/)
  assert.ok(gw.logs.some((l) => l.msg === 'gateway stopped'), 'the stop went on to the end')
})

test('the Redis connection is closed after the plugin instances: their close() can still write to Redis', { timeout: 20_000 }, async (t) => {
  let redis: RedisServer | undefined
  try {
    redis = await startRedisServer()
  } catch (err) {
    t.skip(String((err as Error).message))
    return
  }
  const reader = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true })
  t.after(async () => { reader.disconnect(); await redis.stop() })
  const gw = await startTestGateway({
    redis: { url: redis.url, keyPrefix: 'stop:' },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: { probe: { tag: 's3-g', scope: 'cluster', close: 'redis' } },
    routes: [{ id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: 's3-a', scope: 'cluster', close: 'redis' } } }]
  }, { plugins: registry })
  const svc = gw.gw.current.services.redis!
  await until('redis ready', () => svc.state === 'ready')
  await gw.stop()
  assert.equal(svc.closed, true, 'the connection is closed by the stop')
  await reader.connect()
  assert.deepEqual(await reader.mget('stop:closed:s3-g', 'stop:closed:s3-a'), ['1', '1'], 'both close() writes reached Redis')
})

test('a start-up that cannot listen closes the plugin instances it created', { timeout: 15_000 }, async (t) => {
  const busy = net.createServer()
  const port = await listenLoopback(busy)
  t.after(() => { busy.close() })
  await assert.rejects(startTestGateway({
    listen: { host: '127.0.0.1', port },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: { probe: { tag: 's4-g' } },
    routes: [{ id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: 's4-a' } } }]
  }, { plugins: registry }), /EADDRINUSE/)
  assert.deepEqual(closeCounts(['s4-g', 's4-a']), { 's4-g': 1, 's4-a': 1 })
})
