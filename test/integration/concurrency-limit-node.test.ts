// concurrency-limit, scope node, through a real gateway and real upstreams:
// the upstream never sees more than `max` requests in flight under a load of
// many clients; a permit is released exactly once however a request ends; the
// queue (admitted after a wait, refused at its timeout, a place given up by a
// client that left); keys forgotten at zero; reloads that keep or replace the
// limit.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { request } from 'undici'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { startHoldingUpstream, load, type HoldingUpstream } from '../helpers/concurrency-upstream.js'
import { assertEnvelope } from '../helpers/envelope.js'
import { metric } from '../helpers/metrics.js'
import { probePluginModule } from '../helpers/probe-plugin.js'
import { rawConnect, rawRequest, type RawConnection } from '../helpers/raw-http.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'

let up: HoldingUpstream
let plugins: PluginRegistry
let gw: TestGateway

function route (id: string, limit: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, match: { paths: [`/${id}/*`] }, upstream: 'app', plugins: { 'concurrency-limit': limit, ...extra } }
}

function config (opts: { oneMax?: number; extraRoute?: boolean } = {}): Record<string, unknown> {
  const routes = [
    route('load', { max: 5 }),
    route('one', { max: opts.oneMax ?? 1 }),
    // a later plugin (probe-low, priority 10) refuses / never decides / an earlier one (probe, 5000) answers
    route('refused', { max: 1 }, { 'probe-low': { tag: 'refuse', access: 'throw' } }),
    route('deadline', { max: 1 }, { 'probe-low': { tag: 'deadline', access: 'never', accessTimeout: 50 } }),
    route('earlier', { max: 1 }, { probe: { tag: 'earlier', access: 'answer-async' } }),
    route('queued', { max: 1, queue: { size: 1, timeout: '5s' } }),
    route('qshort', { max: 1, queue: { size: 1, timeout: '200ms' } }),
    route('users', { max: 1, key: ['header:x-user'] })
  ]
  if (opts.extraRoute === true) routes.push({ id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'app' })
  return { upstreams: { app: { nodes: [{ url: up.url }] } }, routes }
}

before(async () => {
  up = await startHoldingUpstream(100)
  plugins = await loadPluginRegistry([probePluginModule])
  gw = await startTestGateway(config(), { plugins })
})

after(async () => {
  await gw.stop()
  await up.close()
})

interface LimitStatus {
  scope: string
  max: number
  inflight: number
  queued: number
  busiest: Array<{ key: string; inflight: number; waiting: number }>
}

function status (routeId: string): LimitStatus {
  const r = gw.gw.current.routes.get(routeId)!
  return r.plugins.find((p) => p.name === 'concurrency-limit')!.instance.status!() as unknown as LimitStatus
}

async function metrics (): Promise<string> {
  return await (await request(gw.adminUrl + '/metrics')).body.text()
}

const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${headers}\r\n`

/** A request kept in flight at the upstream (its permit held) on its own connection. */
async function holdOne (path: string, heldBefore: number): Promise<RawConnection> {
  const c = await rawConnect(gw.gw.port)
  c.write(get(path))
  await until(`upstream holds ${path}`, () => up.held === heldBefore + 1)
  return c
}

/**
 * The permit of `routeId` is free, and counted exactly once: a held request
 * takes it, another is refused, and once that one is answered the count is 0
 * (a double release would show -1, or let the second one in).
 */
async function assertOnePermitFree (routeId: string, what: string): Promise<void> {
  await until(`${what}: ${routeId} permit released`, () => status(routeId).inflight <= 0)
  assert.equal(status(routeId).inflight, 0, `${what}: released exactly once`)
  assert.equal(metric(await metrics(), 'gateway_limit_inflight', { route: routeId, limit: 'concurrency-limit' }), 0, `${what}: gauge`)
  const c = await holdOne(`/${routeId}/hold`, up.held)
  assert.equal(status(routeId).inflight, 1)
  const refused = await rawRequest(gw.gw.port, get(`/${routeId}/x`))
  assertEnvelope(refused, 503, 'GW_CONCURRENCY_LIMITED', `${what}: max 1 still enforced`)
  up.release()
  const r = await c.next()
  assert.equal(r.status, 200)
  c.destroy()
  await until(`${what}: held permit released`, () => status(routeId).inflight === 0)
  assert.deepEqual(status(routeId).busiest, [], `${what}: the key is forgotten at 0`)
}

test('node scope: the upstream never has more than max in flight under 40 concurrent clients; refusals are 503 with Retry-After', async () => {
  const before = up.maxInflight
  assert.ok(before <= 5)
  const r = await load(gw.url, (i) => `/load/slow/${i}`, 400, 40, { maxMs: 20_000 })
  const ok = r.statuses.get(200) ?? 0
  const refused = r.statuses.get(503) ?? 0
  assert.equal(ok + refused, 400, `only 200 and 503: ${JSON.stringify([...r.statuses])}`)
  assert.ok(ok >= 5, `some were admitted: ${ok}`)
  assert.ok(refused > 0, 'the load exceeded the limit')
  assert.deepEqual([...r.codes.keys()], ['GW_CONCURRENCY_LIMITED'])
  assert.deepEqual([...r.retryAfter], ['1'])
  assert.equal(up.maxInflight, 5, 'the upstream saw exactly max in flight at its busiest, never more')
  await until('all permits released', () => status('load').inflight === 0)
  const m = await metrics()
  assert.equal(metric(m, 'gateway_limit_admitted_total', { route: 'load', limit: 'concurrency-limit' }), ok)
  assert.equal(metric(m, 'gateway_limit_rejected_total', { route: 'load', limit: 'concurrency-limit' }), refused)
  assert.equal(metric(m, 'gateway_limit_inflight', { route: 'load', limit: 'concurrency-limit' }), 0)
  // Listed by the admin API as a node-scope route limit, with its max and usage.
  const limits = await (await request(gw.adminUrl + '/admin/limits?route=load')).body.json() as
    { node: { route: Array<{ route: string, name: string, max: number, inflight: number }> } }
  assert.deepEqual(limits.node.route.map((l) => [l.route, l.name, l.max, l.inflight]), [['load', 'concurrency-limit', 5, 0]])
})

test('a permit is released exactly once when the request completes', async () => {
  const r = await rawRequest(gw.gw.port, get('/one/x'))
  assert.equal(r.status, 200)
  await assertOnePermitFree('one', 'completed')
})

test('... when the client goes away while the upstream holds the request', async () => {
  const c = await holdOne('/one/hold', up.held)
  assert.equal(status('one').inflight, 1)
  const m = await metrics()
  assert.equal(metric(m, 'gateway_limit_inflight', { route: 'one', limit: 'concurrency-limit' }), 1)
  c.destroy()
  await until('upstream saw the abort', () => up.held === 0)
  await assertOnePermitFree('one', 'client abort')
})

test('... when the upstream fails (502)', async () => {
  const r = await rawRequest(gw.gw.port, get('/one/fail'))
  assertEnvelope(r, 502, 'GW_UPSTREAM_RESET', 'upstream error')
  await assertOnePermitFree('one', 'upstream error')
})

/** On a route whose later plugin answers every request: each one gets past the limit (its permit freed, exactly once, by the one before). */
async function assertLaterAnswers (routeId: string, status0: number, code: string, what: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    assertEnvelope(await rawRequest(gw.gw.port, get(`/${routeId}/x`)), status0, code, `${what} ${i}`)
    await until(`${what} ${i}: permit released`, () => status(routeId).inflight <= 0)
    assert.equal(status(routeId).inflight, 0, `${what} ${i}: released exactly once`)
  }
  // in parallel: max 1 still holds (one reaches the later plugin at a time, the others are refused by the limit)
  const rs = await Promise.all([1, 2, 3].map(async () => await rawRequest(gw.gw.port, get(`/${routeId}/x`))))
  assert.ok(rs.some((r) => r.status === status0), `${what}: one got past the limit`)
  await until(`${what}: permits released`, () => status(routeId).inflight <= 0)
  assert.equal(status(routeId).inflight, 0)
  assert.equal(metric(await metrics(), 'gateway_limit_inflight', { route: routeId, limit: 'concurrency-limit' }), 0, `${what}: gauge`)
}

test('... when a later plugin refuses the request', async () => {
  await assertLaterAnswers('refused', 500, 'GW_INTERNAL', 'a later plugin threw')
})

test('... when the core answers at a later plugin\'s deadline', async () => {
  await assertLaterAnswers('deadline', 503, 'GW_PLUGIN_TIMEOUT', 'deadline')
})

test('an earlier plugin answered: nothing taken, nothing released', async () => {
  const r = await rawRequest(gw.gw.port, get('/earlier/x'))
  assert.equal(r.status, 200)
  assert.match(r.body, /answered by earlier/)
  assert.equal(status('earlier').inflight, 0)
})

test('a refused request releases nothing (the holder keeps its permit)', async () => {
  const c = await holdOne('/one/hold', up.held)
  for (let i = 0; i < 3; i++) assertEnvelope(await rawRequest(gw.gw.port, get('/one/x')), 503, 'GW_CONCURRENCY_LIMITED', `refusal ${i}`)
  assert.equal(status('one').inflight, 1)
  up.release()
  assert.equal((await c.next()).status, 200)
  c.destroy()
  await assertOnePermitFree('one', 'after refusals')
})

test('queue: a request waits for the permit and is admitted when it is released', async () => {
  const a = await holdOne('/queued/hold', up.held)
  const b = await rawConnect(gw.gw.port)
  b.write(get('/queued/x'))
  await until('b queued', () => status('queued').queued === 1)
  // the queue holds 1: a third is refused at once, Retry-After from the queue timeout (5 s)
  const c = await rawRequest(gw.gw.port, get('/queued/x'))
  assertEnvelope(c, 503, 'GW_CONCURRENCY_LIMITED', 'queue full')
  assert.equal(c.headers['retry-after'], '5')
  up.release()
  assert.equal((await a.next()).status, 200)
  const rb = await b.next()
  assert.equal(rb.status, 200, 'the queued request was admitted')
  a.destroy()
  b.destroy()
  await until('all released', () => status('queued').inflight === 0 && status('queued').queued === 0)
  const m = await metrics()
  assert.equal(metric(m, 'gateway_limit_queue_wait_seconds_count', { route: 'queued', limit: 'concurrency-limit' }), 1)
})

test('queue: a request still waiting at the queue timeout is refused (503, Retry-After)', async () => {
  const a = await holdOne('/qshort/hold', up.held)
  const t0 = performance.now()
  const r = await rawRequest(gw.gw.port, get('/qshort/x'))
  const waited = performance.now() - t0
  assertEnvelope(r, 503, 'GW_CONCURRENCY_LIMITED', 'queue timeout')
  assert.equal(r.headers['retry-after'], '1')
  assert.ok(waited >= 190 && waited < 1000, `waited the queue timeout (200 ms): ${waited.toFixed(0)} ms`)
  assert.equal(status('qshort').queued, 0)
  up.release()
  a.destroy()
  await assertOnePermitFree('qshort', 'after a queue timeout')
})

test('queue: a client that leaves while queued gives up its place (and never takes the permit)', async () => {
  const a = await holdOne('/queued/hold', up.held)
  const b = await rawConnect(gw.gw.port)
  b.write(get('/queued/x'))
  await until('b queued', () => status('queued').queued === 1)
  b.destroy()
  await until('b left the queue', () => status('queued').queued === 0)
  // the queue (size 1) has room again: c waits, and gets the permit when a's is released
  const c = await rawConnect(gw.gw.port)
  c.write(get('/queued/x'))
  await until('c queued', () => status('queued').queued === 1)
  up.release()
  assert.equal((await a.next()).status, 200)
  assert.equal((await c.next()).status, 200, 'c took the permit, not the client that left')
  a.destroy()
  c.destroy()
  await until('all released', () => status('queued').inflight === 0)
  assert.equal(status('queued').inflight, 0)
})

test('counted per key (a header), keys forgotten at zero, a missing header counts under ""', async () => {
  const a = await rawConnect(gw.gw.port)
  a.write(get('/users/hold', 'x-user: alice\r\n'))
  await until('alice held', () => up.held === 1)
  assertEnvelope(await rawRequest(gw.gw.port, get('/users/x', 'x-user: alice\r\n')), 503, 'GW_CONCURRENCY_LIMITED', 'alice again')
  assert.equal((await rawRequest(gw.gw.port, get('/users/x', 'x-user: bob\r\n'))).status, 200, 'bob has his own permit')
  assert.equal((await rawRequest(gw.gw.port, get('/users/x'))).status, 200, 'no header: its own key')
  assert.deepEqual(status('users').busiest, [{ key: 'alice', inflight: 1, waiting: 0 }])
  for (let i = 0; i < 50; i++) await rawRequest(gw.gw.port, get('/users/x', `x-user: u${i}\r\n`))
  assert.equal(status('users').busiest.length, 1, 'only the key in use is kept')
  up.release()
  await a.next()
  a.destroy()
  await until('no key left', () => status('users').busiest.length === 0)
})

test('reload: an unchanged limit keeps its count across a reload; requests in flight release on it', async () => {
  const a = await holdOne('/one/hold', up.held)
  const before = gw.gw.current.routes.get('one')!.plugins[0]!.instance
  gw.rewrite(config({ extraRoute: true }))
  const outcome = await gw.gw.reloader.reload('test')
  assert.notEqual(outcome.result, 'failed', outcome.errors.join('\n'))
  assert.equal(gw.gw.current.routes.get('one')!.plugins[0]!.instance, before, 'same instance')
  assert.equal(status('one').inflight, 1, 'the count survived')
  assertEnvelope(await rawRequest(gw.gw.port, get('/one/x')), 503, 'GW_CONCURRENCY_LIMITED', 'still limited after the reload')
  up.release()
  assert.equal((await a.next()).status, 200)
  a.destroy()
  await assertOnePermitFree('one', 'in flight across a reload')
})

test('reload: a changed limit starts from zero; requests in flight release on the old one', async () => {
  const a = await holdOne('/one/hold', up.held)
  const old = gw.gw.current.routes.get('one')!.plugins[0]!.instance
  gw.rewrite(config({ oneMax: 2 }))
  const outcome = await gw.gw.reloader.reload('test')
  assert.notEqual(outcome.result, 'failed', outcome.errors.join('\n'))
  assert.equal(status('one').max, 2)
  assert.equal(status('one').inflight, 0, 'the new limit starts from zero')
  const b = await holdOne('/one/hold', up.held)
  assert.equal(status('one').inflight, 1)
  assert.equal((old.status!() as unknown as LimitStatus).inflight, 1, 'a is still counted by the old limit')
  up.release(true)
  assert.equal((await a.next()).status, 200)
  assert.equal((await b.next()).status, 200)
  a.destroy()
  b.destroy()
  await until('both released', () => status('one').inflight === 0 && (old.status!() as unknown as LimitStatus).inflight === 0)
  const m = await metrics()
  assert.equal(metric(m, 'gateway_limit_inflight', { route: 'one', limit: 'concurrency-limit' }), 0, 'the gauge adds both')
  gw.rewrite(config())
  await gw.gw.reloader.reload('test')
})
