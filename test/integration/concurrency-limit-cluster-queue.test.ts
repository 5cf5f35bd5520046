// concurrency-limit, scope cluster, with a wait queue (`queue: {size, timeout}`),
// against a real redis-server started by the test: requests beyond `max` wait
// and are admitted as permits free up anywhere in the cluster (two gateway
// processes: the upstream never has more than max in flight, all succeed);
// a wait that outlives the queue timeout gets 503 with Retry-After, and the
// waiters cost Redis one acquire per key per poll, not one per waiter; a
// client that leaves gives up its place; a full queue refuses at once; Redis
// stopped while requests wait: the failure policy decides for them (local,
// closed, open), none waits past the queue timeout.
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
import { metric } from '../helpers/metrics.js'
import { startGatewayProcess, startProcs, type GatewayProc } from '../helpers/gateway-process.js'
import { rawConnect, rawRequest, type RawConnection, type RawResponse } from '../helpers/raw-http.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'
import { writeConfig } from '../helpers/yaml-config.js'

let redis: RedisServer
let up: HoldingUpstream
let client: Redis
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-concq-'))

before(async () => {
  redis = await startRedisServer()
  up = await startHoldingUpstream(50)
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

function config (nodeId: string, limit: Record<string, unknown>, prefix: string,
  opts: { upstream?: HoldingUpstream; ports?: { listen: number; admin: number }; commandTimeout?: number } = {}): Record<string, unknown> {
  const ports = opts.ports
  return {
    ...(ports === undefined ? {} : { listen: { host: '127.0.0.1', port: ports.listen }, admin: { host: '127.0.0.1', port: ports.admin } }),
    node: { id: nodeId },
    redis: { url: redis.url, keyPrefix: prefix, commandTimeout: opts.commandTimeout ?? 50, reconnect: { min: 20, max: 100 } },
    upstreams: { app: { nodes: [{ url: (opts.upstream ?? up).url }] } },
    routes: [{ id: 'pay', match: { paths: ['/pay/*'] }, upstream: 'app', plugins: { 'concurrency-limit': { scope: 'cluster', ...limit } } }]
  }
}

async function startProc (nodeId: string, limit: Record<string, unknown>, prefix: string): Promise<GatewayProc & { url: string }> {
  const ports = { listen: await freePort(), admin: await freePort() }
  const file = writeConfig(dir, { ...config(nodeId, limit, prefix, { ports, commandTimeout: 500 }), accessLog: { enabled: false } }, `${nodeId}.yaml`)
  const p = await startGatewayProcess(file)
  return Object.assign(p, { url: `http://127.0.0.1:${ports.listen}` })
}

/** Acquires sent to Redis so far (the acquire script runs by EVALSHA; nothing else uses it). */
async function acquiresSent (): Promise<number> {
  const m = /cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))
  return Number(m?.[1] ?? 0)
}

interface Status { mode: string; inflight: number; queued: number; local: { max: number; inflight: number } }

function status (gw: TestGateway): Status {
  return gw.gw.current.routes.get('pay')!.plugins[0]!.instance.status!() as unknown as Status
}

/** Starts a gateway and adds it to `gws` (stopped by stopAll, whatever fails after). */
async function started (gws: TestGateway[], cfg: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startTestGateway(cfg)
  gws.push(gw)
  return gw
}

/** Ends the held requests (answered by the upstream, connections closed). */
function letGo (held: RawConnection[]): void {
  up.release(true)
  for (const c of held) c.destroy()
}

async function stopAll (gws: TestGateway[]): Promise<void> {
  await Promise.all(gws.map(async (g) => await g.stop()))
}

const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`

/** A request the upstream holds (a permit kept on purpose). */
async function holdOn (port: number, upstream: HoldingUpstream = up): Promise<RawConnection> {
  const before = upstream.held
  const c = await rawConnect(port)
  c.write(get('/pay/hold'))
  await until('upstream holds it', () => upstream.held === before + 1)
  return c
}

/** A request sent now that waits in the queue; resolves with its response and how long it took. */
async function queued (gw: TestGateway, p: string): Promise<{ c: RawConnection; done: Promise<{ r: RawResponse; ms: number }> }> {
  const before = status(gw).queued
  const c = await rawConnect(gw.gw.port)
  const t0 = performance.now()
  c.write(get(p))
  await until('queued', () => status(gw).queued === before + 1)
  return { c, done: c.next().then((r) => ({ r, ms: performance.now() - t0 })) }
}

test('two gateway processes, max 2 with a queue: requests beyond max wait and all succeed; never more than 2 at the upstream', async () => {
  const limit = { max: 2, lease: '2s', timeout: '250ms', queue: { size: 20, timeout: '5s' } }
  const [a, b] = await startProcs([startProc('gw-qa', limit, 'q2:'), startProc('gw-qb', limit, 'q2:')])
  try {
    up.resetMax()
    const [ra, rb] = await Promise.all([
      load(a.url, (i) => `/pay/slow/a${i}`, 15, 8),
      load(b.url, (i) => `/pay/slow/b${i}`, 15, 8)
    ])
    assert.deepEqual([...ra.statuses, ...rb.statuses], [[200, 15], [200, 15]], 'every request admitted after its wait')
    assert.ok(up.maxSince <= 2, `the upstream saw ${up.maxSince} in flight at most (max 2)`)
    assert.equal(up.maxSince, 2, 'both permits were used')
    const fallback = [...a.output, ...b.output].filter((l) => l.includes('redis unavailable'))
    assert.deepEqual(fallback, [], 'shared mode throughout')
    await until('every permit given back', async () => await permitsInRedis(client, 'q2:') === 0)
  } finally {
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')])
  }
})

test('a wait past the queue timeout: 503 with Retry-After; the waiters cost one acquire per poll, not one per waiter', async () => {
  const limit = { max: 2, timeout: '50ms', queue: { size: 10, timeout: '400ms' } }
  const gws: TestGateway[] = []
  const held: RawConnection[] = []
  try {
    const a = await started(gws, config('gw-qt-a', limit, 'qt:'))
    const b = await started(gws, config('gw-qt-b', limit, 'qt:'))
    // the 2 permits of the cluster, one held through each gateway
    held.push(await holdOn(a.gw.port), await holdOn(b.gw.port))
    const waiters = 6
    const sent0 = await acquiresSent()
    const t0 = performance.now()
    const rs = await Promise.all(Array.from({ length: waiters }, async () => {
      const t = performance.now()
      const r = await rawRequest(a.gw.port, get('/pay/x'))
      return { r, ms: performance.now() - t }
    }))
    const elapsed = performance.now() - t0
    const sent = await acquiresSent() - sent0
    for (const { r, ms } of rs) {
      assertEnvelope(r, 503, 'GW_CONCURRENCY_LIMITED', 'queue timeout')
      assert.equal(r.headers['retry-after'], '1', 'Retry-After: the queue timeout rounded up')
      // the queue timeout counts the first Redis check (up to `timeout`, 50 ms) in
      assert.ok(ms >= 400 - 50 - 10 && ms < 400 + 300, `waited the queue timeout (400 ms in all): ${ms.toFixed(0)} ms`)
    }
    // each waiter's own first try (at most), then one acquire per ~25 ms poll for the whole queue
    const bound = waiters + Math.ceil(elapsed / 20) + 2
    console.log(`# ${waiters} waiters for ${elapsed.toFixed(0)} ms: ${sent} acquires (bound ${bound}; one per waiter per poll would be ~${waiters * Math.round(elapsed / 25)})`)
    assert.ok(sent <= bound, `${sent} acquires sent for ${waiters} waiters over ${elapsed.toFixed(0)} ms (bound ${bound})`)
    assert.equal(status(a).queued, 0)
    letGo(held)
    await until('permits given back', async () => await permitsInRedis(client, 'qt:') === 0)
  } finally {
    letGo(held)
    await stopAll(gws)
  }
})

test('a client that leaves while queued frees its place; a full queue refuses at once; a permit freed here goes to the waiter', async () => {
  const limit = { max: 2, queue: { size: 1, timeout: '5s' } }
  const gws: TestGateway[] = []
  const held: RawConnection[] = []
  try {
    const a = await started(gws, config('gw-ql-a', limit, 'ql:'))
    const b = await started(gws, config('gw-ql-b', limit, 'ql:'))
    const heldA = await holdOn(a.gw.port)
    held.push(heldA, await holdOn(b.gw.port))
    const left = await queued(a, '/pay/left')
    held.push(left.c)
    // the queue (size 1 per key) is full: refused at once, Retry-After from the queue timeout
    const t0 = performance.now()
    const full = await rawRequest(a.gw.port, get('/pay/x'))
    assertEnvelope(full, 503, 'GW_CONCURRENCY_LIMITED', 'queue full')
    assert.equal(full.headers['retry-after'], '5')
    assert.ok(performance.now() - t0 < 1000, 'refused without waiting')
    left.c.destroy()
    await until('the leaver gave up its place', () => status(a).queued === 0)
    const next = await queued(a, '/pay/next')
    held.push(next.c)
    // a's held request ends: its permit goes to a's waiter
    up.release()
    assert.equal((await heldA.next()).status, 200)
    const { r } = await next.done
    assert.equal(r.status, 200, 'the waiter took the freed permit')
    assert.ok(!up.requests.some((q) => q.url === '/pay/left'), 'the client that left never reached the upstream')
    await until('b\'s permit only', async () => await permitsInRedis(client, 'ql:') === 1)
    letGo(held)
    await until('permits given back', async () => await permitsInRedis(client, 'ql:') === 0 && status(a).inflight === 0)
  } finally {
    letGo(held)
    await stopAll(gws)
  }
})

test('Redis stopped while requests wait: the failure policy decides for them (local, closed, open), none waits past the queue timeout', async () => {
  const queueTimeout = 1000
  const limit = { max: 2, expectedNodes: 2, timeout: '20ms', queue: { size: 5, timeout: `${queueTimeout}ms` } }
  const ups = await Promise.all([startHoldingUpstream(50), startHoldingUpstream(50), startHoldingUpstream(50)])
  const policies = ['local', 'closed', 'open'] as const
  const gws: TestGateway[] = []
  const held: RawConnection[] = []
  try {
    for (const [i, p] of policies.entries()) {
      await started(gws, config(`gw-qr-${p}`, { ...limit, onRedisFailure: p }, `qr-${p}:`, { upstream: ups[i] }))
    }
    const waits: Array<Array<Promise<{ r: RawResponse; ms: number }>>> = []
    for (let i = 0; i < gws.length; i++) {
      held.push(await holdOn(gws[i]!.gw.port, ups[i]), await holdOn(gws[i]!.gw.port, ups[i]))
      ups[i]!.resetMax()
      const w: Array<Promise<{ r: RawResponse; ms: number }>> = []
      for (let j = 0; j < 3; j++) {
        const q = await queued(gws[i]!, `/pay/slow/${j}`)
        held.push(q.c)
        w.push(q.done)
      }
      waits.push(w)
    }
    await redis.stop()
    const [local, closed, open] = await Promise.all(waits.map(async (w) => await Promise.all(w)))
    for (const [what, rs] of [['local', local!], ['closed', closed!], ['open', open!]] as const) {
      for (const { ms } of rs) assert.ok(ms < queueTimeout + 20 + 100, `${what}: answered within the queue timeout (${ms.toFixed(0)} ms)`)
    }
    // local: ceil(2 / 2) = 1 permit of the fallback, taken by the waiters in turn (next to the 2 held under Redis)
    assert.deepEqual(local!.map(({ r }) => r.status), [200, 200, 200], 'local: counted locally, admitted in turn')
    assert.ok(ups[0]!.maxSince <= 3, `local: the upstream saw ${ups[0]!.maxSince} (2 held + the fallback's 1)`)
    for (const { r } of closed!) {
      assertEnvelope(r, 503, 'GW_LIMIT_UNAVAILABLE', 'closed')
      assert.equal(r.headers['retry-after'], '1')
    }
    assert.deepEqual(open!.map(({ r }) => r.status), [200, 200, 200], 'open: admitted')
    assert.deepEqual(gws.map((g) => status(g).queued), [0, 0, 0])
    assert.equal(status(gws[0]!).mode, 'local')
    for (const g of gws) {
      const m = await (await request(g.adminUrl + '/metrics')).body.text()
      assert.equal(metric(m, 'gateway_plugin_timeouts_total', { plugin: 'concurrency-limit', scope: 'route' }) ?? 0, 0,
        'the plugin always decided before the core\'s deadline')
    }
  } finally {
    for (const u of ups) u.release(true)
    letGo(held)
    await redis.restart()
    await stopAll(gws)
    await Promise.all(ups.map(async (u) => await u.close()))
  }
})
