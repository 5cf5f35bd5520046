// concurrency-limit, scope cluster, against a real redis-server started by the
// test: two gateway processes sharing one limit never put more than `max`
// requests in flight at the upstream; a permit is given back exactly once;
// a SIGKILLed gateway's permits come back within the lease; renewal keeps the
// permit of a request longer than the lease; Redis stopped or frozen under
// load: no request waits past the timeout, the local fallback holds, and
// shared mode resumes after a restart.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { startHoldingUpstream, load, permitsInRedis, type HoldingUpstream } from '../helpers/concurrency-upstream.js'
import { assertEnvelope } from '../helpers/envelope.js'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess, startProcs, type GatewayProc } from '../helpers/gateway-process.js'
import { metric } from '../helpers/metrics.js'
import { rawConnect, rawRequest, type RawConnection } from '../helpers/raw-http.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'
import { writeConfig } from '../helpers/yaml-config.js'

let redis: RedisServer
let up: HoldingUpstream
let client: Redis
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-conc-'))

before(async () => {
  redis = await startRedisServer()
  up = await startHoldingUpstream(100)
  client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await client.connect()
})

after(async () => {
  client.disconnect()
  await up.close()
  await redis.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

function config (nodeId: string, limit: Record<string, unknown>, prefix: string, ports?: { listen: number; admin: number },
  commandTimeout = 50): Record<string, unknown> {
  return {
    ...(ports === undefined ? {} : { listen: { host: '127.0.0.1', port: ports.listen }, admin: { host: '127.0.0.1', port: ports.admin } }),
    node: { id: nodeId },
    redis: { url: redis.url, keyPrefix: prefix, commandTimeout, reconnect: { min: 20, max: 100 } },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'pay', match: { paths: ['/pay/*'] }, upstream: 'app', plugins: { 'concurrency-limit': { scope: 'cluster', ...limit } } }]
  }
}

async function startProc (nodeId: string, limit: Record<string, unknown>, prefix: string,
  commandTimeout = 50): Promise<GatewayProc & { url: string; port: number }> {
  const ports = { listen: await freePort(), admin: await freePort() }
  const file = writeConfig(dir, { ...config(nodeId, limit, prefix, ports, commandTimeout), accessLog: { enabled: false } }, `${nodeId}.yaml`)
  const p = await startGatewayProcess(file)
  return Object.assign(p, { url: `http://127.0.0.1:${ports.listen}`, port: ports.listen })
}

interface Status { mode: string; inflight: number; local: { max: number; inflight: number }; expectedNodes: number }

function status (gw: TestGateway): Status {
  return gw.gw.current.routes.get('pay')!.plugins[0]!.instance.status!() as unknown as Status
}

const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`

async function holdOn (port: number, heldBefore: number): Promise<RawConnection> {
  const c = await rawConnect(port)
  c.write(get('/pay/hold'))
  await until('upstream holds it', () => up.held === heldBefore + 1)
  return c
}

test('two gateway processes sharing one cluster limit (max 6): the upstream never has more than 6 in flight', async () => {
  // A timeout that a Redis on this (shared, loaded) machine meets: this test is about the shared count, not the fallback.
  const limit = { max: 6, lease: '2s', timeout: '250ms', expectedNodes: 2 }
  const [a, b] = await startProcs([startProc('gw-a', limit, 'two:', 500), startProc('gw-b', limit, 'two:', 500)])
  try {
    up.resetMax()
    // Bounded by time, not count: refusals are fast, and a gateway whose whole count was refused before the
    // other's first requests ended (100 ms) would never have met a free permit.
    const [ra, rb] = await Promise.all([
      load(a.url, (i) => `/pay/slow/a${i}`, 100_000, 20, { maxMs: 1000 }),
      load(b.url, (i) => `/pay/slow/b${i}`, 100_000, 20, { maxMs: 1000 })
    ])
    const ok = (ra.statuses.get(200) ?? 0) + (rb.statuses.get(200) ?? 0)
    const refused = (ra.statuses.get(503) ?? 0) + (rb.statuses.get(503) ?? 0)
    const sent = ra.durations.length + rb.durations.length
    assert.equal(ok + refused, sent, `only 200 and 503: ${JSON.stringify([...ra.statuses, ...rb.statuses])}`)
    assert.ok(refused > 0 && ok >= 6, `${ok} admitted, ${refused} refused`)
    assert.deepEqual(new Set([...ra.codes.keys(), ...rb.codes.keys()]), new Set(['GW_CONCURRENCY_LIMITED']))
    assert.ok((ra.statuses.get(200) ?? 0) > 0 && (rb.statuses.get(200) ?? 0) > 0, 'both gateways admitted some')
    const fallback = [...a.output, ...b.output].filter((l) => l.includes('redis unavailable'))
    assert.deepEqual(fallback, [], 'Redis answered every check in time (shared mode throughout)')
    assert.ok(up.maxSince <= 6, `the upstream saw ${up.maxSince} in flight at most (max 6)`)
    await until('every permit given back', async () => await permitsInRedis(client, 'two:') === 0)
  } finally {
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')])
  }
})

test('a permit is given back exactly once: completed, client gone, upstream error, refused', async () => {
  const gw = await startTestGateway(config('gw-once', { max: 1 }, 'once:'))
  try {
    const port = gw.gw.port
    const free = async (what: string): Promise<void> => {
      await until(`${what}: permit given back`, async () => status(gw).inflight === 0 && await permitsInRedis(client, 'once:') === 0)
      // exactly one permit: a held request takes it, the next is refused
      const c = await holdOn(port, up.held)
      assert.equal(await permitsInRedis(client, 'once:'), 1, `${what}: one permit in Redis`)
      assertEnvelope(await rawRequest(port, get('/pay/x')), 503, 'GW_CONCURRENCY_LIMITED', `${what}: max 1 holds`)
      up.release()
      assert.equal((await c.next()).status, 200)
      c.destroy()
      await until(`${what}: given back`, async () => status(gw).inflight === 0 && await permitsInRedis(client, 'once:') === 0)
    }
    assert.equal((await rawRequest(port, get('/pay/x'))).status, 200)
    await free('completed')
    const c = await holdOn(port, up.held)
    c.destroy()
    await free('client gone')
    assertEnvelope(await rawRequest(port, get('/pay/fail')), 502, 'GW_UPSTREAM_RESET', 'upstream error')
    await free('upstream error')
    const m = await (await request(gw.adminUrl + '/metrics')).body.text()
    assert.equal(metric(m, 'gateway_limit_redis_mode', { route: 'pay', limit: 'concurrency-limit' }), 0, 'shared')
    assert.equal(metric(m, 'gateway_limit_inflight', { route: 'pay', limit: 'concurrency-limit' }), 0)
    assert.ok((metric(m, 'gateway_limit_rejected_total', { route: 'pay', limit: 'concurrency-limit' }) ?? 0) >= 3)
  } finally {
    await gw.stop()
  }
})

test('a SIGKILLed gateway\'s permits come back within the lease', async () => {
  const lease = 1500
  const limit = { max: 3, lease }
  const [a, b] = await startProcs([startProc('gw-kill-a', limit, 'kill:'), startProc('gw-kill-b', limit, 'kill:')])
  try {
    const held: RawConnection[] = []
    for (let i = 0; i < 3; i++) held.push(await holdOn(a.port, up.held))
    assertEnvelope(await rawRequest(b.port, get('/pay/x')), 503, 'GW_CONCURRENCY_LIMITED', 'a holds all 3')
    await a.stop('SIGKILL')
    const killed = performance.now()
    for (const c of held) c.destroy()
    // b gets a permit once a's have expired: at most `lease` after a's last renewal, so within the lease of the kill
    await until('b admitted again', async () => (await rawRequest(b.port, get('/pay/x'))).status === 200, 2 * lease + 2000)
    const back = performance.now() - killed
    console.log(`# permits of the killed gateway usable again after ${back.toFixed(0)} ms (lease ${lease} ms)`)
    assert.ok(back <= lease + 300, `back within the lease: ${back.toFixed(0)} ms`)
    // and all 3 of them
    const cs: RawConnection[] = []
    for (let i = 0; i < 3; i++) cs.push(await holdOn(b.port, up.held))
    assertEnvelope(await rawRequest(b.port, get('/pay/x')), 503, 'GW_CONCURRENCY_LIMITED', 'b holds all 3')
    up.release(true)
    for (const c of cs) c.destroy()
  } finally {
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')])
  }
})

test('renewal keeps the permit of a request that runs longer than the lease', async () => {
  const lease = 600
  const a = await startTestGateway(config('gw-renew-a', { max: 1, lease }, 'renew:'))
  const b = await startTestGateway(config('gw-renew-b', { max: 1, lease }, 'renew:'))
  try {
    const c = await holdOn(a.gw.port, up.held)
    const t0 = performance.now()
    let tries = 0
    // for 4 leases, b is refused every time
    while (performance.now() - t0 < 4 * lease) {
      assertEnvelope(await rawRequest(b.gw.port, get('/pay/x')), 503, 'GW_CONCURRENCY_LIMITED', `b at ${(performance.now() - t0).toFixed(0)} ms`)
      tries++
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(tries >= 10)
    assert.equal(await permitsInRedis(client, 'renew:'), 1)
    up.release()
    assert.equal((await c.next()).status, 200)
    c.destroy()
    await until('b admitted once a is done', async () => (await rawRequest(b.gw.port, get('/pay/x'))).status === 200)
  } finally {
    await a.stop()
    await b.stop()
  }
})

test('Redis stopped, then frozen, under load: decided within the timeout, the local fallback holds, shared mode comes back', async () => {
  const timeout = 20
  const gw = await startTestGateway(config('gw-outage', { max: 6, expectedNodes: 2, timeout }, 'outage:'))
  const m = async (): Promise<string> => await (await request(gw.adminUrl + '/metrics')).body.text()
  const modeMetric = async (): Promise<number | undefined> => metric(await m(), 'gateway_limit_redis_mode', { route: 'pay', limit: 'concurrency-limit' })
  try {
    await until('shared', () => status(gw).mode === 'shared')
    const phase = async (what: string, maxInflight: number): Promise<void> => {
      up.resetMax()
      const r = await load(gw.url, (i) => `/pay/slow/${i}`, 200, 20)
      const ok = r.statuses.get(200) ?? 0
      assert.equal(ok + (r.statuses.get(503) ?? 0), 200, `${what}: ${JSON.stringify([...r.statuses])}`)
      assert.ok(up.maxSince <= maxInflight, `${what}: upstream saw ${up.maxSince} in flight (limit ${maxInflight})`)
      assert.ok(up.maxSince >= Math.min(maxInflight, 3), `${what}: the load reached the limit (${up.maxSince})`)
      // a request is the limit's decision plus 100 ms at the upstream: none waited on Redis past the timeout
      const slowest = Math.max(...r.durations)
      assert.ok(slowest < 100 + timeout + 250, `${what}: slowest request ${slowest.toFixed(0)} ms`)
    }
    await phase('shared', 6)

    await redis.stop()
    await until('local mode', () => status(gw).mode === 'local')
    assert.equal(status(gw).local.max, 3, 'ceil(6 / expectedNodes 2)')
    assert.equal(await modeMetric(), 1)
    await phase('redis stopped', 3)

    await redis.restart()
    await until('shared again', () => status(gw).mode === 'shared', 5000)
    assert.equal(await modeMetric(), 0)
    await phase('redis back', 6)

    redis.pause()
    try {
      await phase('redis frozen', 3)
      assert.equal(status(gw).mode, 'local')
    } finally {
      redis.resume()
    }
    await until('shared after the thaw', () => status(gw).mode === 'shared', 5000)
    const logs = gw.logs.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('limit: redis'))
    assert.ok(logs.length <= 8, `each change of mode logged once, not per request: ${logs.length} lines`)
    assert.equal(metric(await m(), 'gateway_plugin_timeouts_total', { plugin: 'concurrency-limit', scope: 'route' }) ?? 0, 0,
      'the plugin always decided before the core\'s deadline')
    await until('permits given back', async () => status(gw).inflight === 0 && status(gw).local.inflight === 0)
  } finally {
    await gw.stop()
  }
})

test('closed and open policies while Redis is down', async () => {
  const closed = await startTestGateway(config('gw-closed', { max: 2, onRedisFailure: 'closed' }, 'pol:'))
  const open = await startTestGateway(config('gw-open', { max: 2, onRedisFailure: 'open' }, 'pol:'))
  try {
    await until('shared', () => status(closed).mode === 'shared' && status(open).mode === 'shared')
    await redis.stop()
    await until('down', () => status(closed).mode === 'closed' && status(open).mode === 'open')
    const r = await rawRequest(closed.gw.port, get('/pay/x'))
    assertEnvelope(r, 503, 'GW_LIMIT_UNAVAILABLE', 'closed')
    assert.equal(r.headers['retry-after'], '1')
    assert.equal((await rawRequest(open.gw.port, get('/pay/x'))).status, 200)
  } finally {
    await redis.restart()
    await closed.stop()
    await open.stop()
  }
})
