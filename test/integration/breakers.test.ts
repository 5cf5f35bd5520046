// Circuit breakers through a real gateway and real loopback upstreams: a
// failing node is ejected and traffic shifts; the max ejection share holds;
// half-open readmits a recovered node (and a failed trial reopens, longer); a
// slow node trips the slow-call breaker; an open route breaker, or an upstream
// with every node ejected, answers the fallback at once without touching the
// upstream; reloads (a weight edit, a route edit) keep the breakers' state;
// the admin API and the metrics show it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startFaultyUpstream, type FaultyUpstream } from '../helpers/faulty-upstream.js'
import { metric } from '../helpers/metrics.js'
import { rawRequest } from '../helpers/raw-http.js'
import { assertEnvelope } from '../helpers/envelope.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'

interface BreakerStatus { state: string; reason: string | null; trips: number; refusedTrips?: number; halfOpenInMs: number; trialsLeft: number | null }
interface NodeEntry { url: string; available: boolean; health: string; breaker: BreakerStatus | null }
interface RouteEntry { id: string; breaker: BreakerStatus | null; fallback: boolean }

async function get (url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url)
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function adminJson<T> (gw: TestGateway, path: string): Promise<T> {
  const res = await get(gw.adminUrl + path)
  assert.equal(res.status, 200)
  return JSON.parse(res.text) as T
}

async function nodeEntry (gw: TestGateway, upstream: string, url: string): Promise<NodeEntry> {
  const ups = await adminJson<Array<{ name: string; nodes: NodeEntry[] }>>(gw, '/admin/upstreams')
  const node = ups.find((u) => u.name === upstream)?.nodes.find((n) => n.url === url)
  assert.ok(node !== undefined, `node ${url} of ${upstream}`)
  return node
}

async function routeEntry (gw: TestGateway, id: string): Promise<RouteEntry> {
  const routes = await adminJson<RouteEntry[]>(gw, '/admin/routes')
  const r = routes.find((x) => x.id === id)
  assert.ok(r !== undefined, `route ${id}`)
  return r
}

async function metricsText (gw: TestGateway): Promise<string> {
  return (await get(gw.adminUrl + '/metrics')).text
}

/** Sends `n` requests one after another; returns their statuses. */
async function send (gw: TestGateway, n: number, path = '/x'): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await get(gw.url + path)).status)
  return out
}

async function upstreams (...names: string[]): Promise<FaultyUpstream[]> {
  return Promise.all(names.map((n) => startFaultyUpstream(n)))
}

const catchAll = (upstream: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id: 'r', match: { paths: ['/*'] }, upstream, ...extra })

test('a node answering 503s is ejected after N consecutive failures and traffic shifts to the others; admin and metrics show it', async (t) => {
  const [a, b, c] = await upstreams('a', 'b', 'c')
  a!.status = 503
  const gw = await startTestGateway({
    upstreams: { svc: { nodes: [{ url: a!.url }, { url: b!.url }, { url: c!.url }], breaker: { consecutiveFailures: 3, openTime: '1m' } } },
    routes: [catchAll('svc')]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close(), c!.close()]) })

  const ejected = await until('node a ejected', async () => {
    await get(gw.url + '/x')
    const n = await nodeEntry(gw, 'svc', a!.url)
    return n.health === 'ejected' && n
  })
  assert.equal(a!.requests.length, 3, 'three failures in a row, then out')
  assert.equal(ejected.available, false)
  assert.equal(ejected.breaker?.state, 'open')
  assert.equal(ejected.breaker?.reason, 'consecutive-failures')
  assert.equal(ejected.breaker?.trips, 1)
  assert.ok(ejected.breaker!.halfOpenInMs > 50_000 && ejected.breaker!.halfOpenInMs <= 60_000, `halfOpenInMs ${ejected.breaker!.halfOpenInMs}`)
  assert.equal((await nodeEntry(gw, 'svc', b!.url)).breaker?.state, 'closed')

  const before = { a: a!.requests.length, b: b!.requests.length, c: c!.requests.length }
  assert.deepEqual(await send(gw, 20), Array(20).fill(200))
  assert.equal(a!.requests.length, before.a, 'the ejected node gets nothing')
  assert.equal(b!.requests.length - before.b + c!.requests.length - before.c, 20)
  assert.ok(b!.requests.length > before.b && c!.requests.length > before.c, 'both healthy nodes share the traffic')

  const m = await metricsText(gw)
  assert.equal(metric(m, 'gateway_breaker_transitions_total', { scope: 'node', target: a!.url, to: 'open', reason: 'consecutive-failures' }), 1)
  assert.equal(metric(m, 'gateway_upstream_node_health', { upstream: 'svc', node: a!.url, state: 'ejected' }), 1)
  assert.equal(metric(m, 'gateway_upstream_node_health', { upstream: 'svc', node: a!.url, state: 'healthy' }), 0)
  assert.equal(metric(m, 'gateway_upstream_node_health', { upstream: 'svc', node: b!.url, state: 'healthy' }), 1)
  assert.equal(metric(m, 'gateway_upstream_node_available', { upstream: 'svc', node: a!.url }), 0)
})

test('max ejection percent: with 2 of 3 nodes failing and maxEjectionPercent 50, only one is ejected; the other trip is refused and counted', async (t) => {
  const [a, b, c] = await upstreams('a', 'b', 'c')
  a!.status = 503
  b!.status = 503
  const gw = await startTestGateway({
    upstreams: { svc: { nodes: [{ url: a!.url }, { url: b!.url }, { url: c!.url }], breaker: { consecutiveFailures: 2, openTime: '1m', maxEjectionPercent: 50 } } },
    routes: [catchAll('svc')]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close(), c!.close()]) })

  const [out, kept] = await until('one failing node ejected, the other trip refused', async () => {
    await get(gw.url + '/x')
    const na = await nodeEntry(gw, 'svc', a!.url)
    const nb = await nodeEntry(gw, 'svc', b!.url)
    const ejected = [na, nb].filter((n) => n.health === 'ejected')
    const refused = [na, nb].filter((n) => (n.breaker?.refusedTrips ?? 0) >= 1)
    return ejected.length === 1 && refused.length === 1 && [ejected[0]!, refused[0]!]
  })
  assert.notEqual(out.url, kept.url)
  assert.equal(kept.available, true, 'the refused node stays in')
  assert.equal(kept.breaker?.state, 'closed')
  const keptUp = kept.url === a!.url ? a! : b!
  const seen = keptUp.requests.length
  await send(gw, 10)
  assert.ok(keptUp.requests.length > seen, 'the node whose trip was refused still gets traffic')
  const ups = await adminJson<Array<{ name: string; nodes: NodeEntry[] }>>(gw, '/admin/upstreams')
  assert.equal(ups[0]!.nodes.filter((n) => n.health === 'ejected').length, 1, 'never more than floor(3 * 50 %) = 1 node out')
})

test('half-open: a failed trial reopens for twice as long; a recovered node is readmitted after its trials succeed', async (t) => {
  const [a, b] = await upstreams('a', 'b')
  a!.status = 503
  const gw = await startTestGateway({
    upstreams: { svc: { nodes: [{ url: a!.url }, { url: b!.url }], breaker: { consecutiveFailures: 2, openTime: '300ms', maxOpenTime: '10s', halfOpenRequests: 2, maxEjectionPercent: 50 } } },
    routes: [catchAll('svc')]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close()]) })

  await until('node a ejected', async () => {
    await get(gw.url + '/x')
    return (await nodeEntry(gw, 'svc', a!.url)).health === 'ejected'
  })
  // The open time ends on a timer: no traffic needed.
  const half = await until('node a half-open', async () => {
    const n = await nodeEntry(gw, 'svc', a!.url)
    return n.health === 'half-open' && n
  })
  assert.equal(half.breaker?.reason, 'timer')
  assert.equal(half.breaker?.trialsLeft, 2)
  const reopened = await until('the failed trial reopens it', async () => {
    await get(gw.url + '/x')
    const n = await nodeEntry(gw, 'svc', a!.url)
    return n.health === 'ejected' && n
  })
  assert.equal(reopened.breaker?.reason, 'half-open-failure')
  assert.ok(reopened.breaker!.halfOpenInMs > 300, `the second open time doubles (${reopened.breaker!.halfOpenInMs} ms left)`)

  a!.status = 200
  const closed = await until('node a readmitted', async () => {
    await get(gw.url + '/x')
    const n = await nodeEntry(gw, 'svc', a!.url)
    return n.breaker?.state === 'closed' && n
  }, 5000)
  assert.equal(closed.breaker?.reason, 'trials-succeeded')
  assert.equal(closed.health, 'healthy')
  assert.equal(closed.available, true)
  const seen = a!.requests.length
  await send(gw, 10)
  assert.equal(a!.requests.length - seen, 5, 'back in the round robin')

  const m = await metricsText(gw)
  const tr = (to: string, reason: string): number | undefined =>
    metric(m, 'gateway_breaker_transitions_total', { scope: 'node', target: a!.url, to, reason })
  assert.equal(tr('open', 'consecutive-failures'), 1)
  assert.equal(tr('open', 'half-open-failure'), 1)
  assert.equal(tr('half-open', 'timer'), 2)
  assert.equal(tr('closed', 'trials-succeeded'), 1)
})

test('a slow node trips the slow-call breaker and is ejected', async (t) => {
  const [a, b] = await upstreams('a', 'b')
  a!.delayMs = 150
  const gw = await startTestGateway({
    upstreams: {
      svc: {
        nodes: [{ url: a!.url }, { url: b!.url }],
        breaker: { slowCallRatio: 0.5, slowCallThreshold: '50ms', minCalls: 3, openTime: '1m', maxEjectionPercent: 50 }
      }
    },
    routes: [catchAll('svc')]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close()]) })

  const n = await until('slow node a ejected', async () => {
    await get(gw.url + '/x')
    const e = await nodeEntry(gw, 'svc', a!.url)
    return e.health === 'ejected' && e
  })
  assert.equal(n.breaker?.reason, 'slow-calls')
  assert.equal(a!.requests.length, 3, 'judged once minCalls calls were in the window')
  assert.equal((await nodeEntry(gw, 'svc', b!.url)).health, 'healthy', 'the fast node is not slow')
  const seen = a!.requests.length
  await send(gw, 6)
  assert.equal(a!.requests.length, seen)
})

test('an open route breaker answers the fallback at once without touching the upstream; without a fallback, 503 GW_CIRCUIT_OPEN', async (t) => {
  const [a, b] = await upstreams('a', 'b')
  a!.status = b!.status = 503
  a!.delayMs = b!.delayMs = 200
  const breaker = { consecutiveFailures: 2, openTime: '1m' }
  const gw = await startTestGateway({
    upstreams: { svc: { nodes: [{ url: a!.url }, { url: b!.url }] } },
    routes: [
      {
        id: 'degraded',
        match: { paths: ['/degraded/*'] },
        upstream: 'svc',
        breaker,
        fallback: { status: 200, headers: { 'Content-Type': 'application/json', 'X-Degraded': '1' }, body: '{"degraded":true}' }
      },
      { id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'svc', breaker }
    ]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close()]) })

  assert.deepEqual(await send(gw, 2, '/degraded/x'), [503, 503])
  assert.deepEqual(await send(gw, 2, '/plain/x'), [503, 503])
  assert.equal((await routeEntry(gw, 'degraded')).breaker?.state, 'open')
  const seen = a!.requests.length + b!.requests.length
  assert.equal(seen, 4)

  const start = performance.now()
  const res = await get(gw.url + '/degraded/x')
  const elapsed = performance.now() - start
  assert.ok(elapsed < 50, `answered in ${elapsed.toFixed(1)} ms (the upstream takes 200 ms)`)
  assert.equal(res.status, 200)
  assert.equal(res.text, '{"degraded":true}')
  assert.equal(res.headers['content-type'], 'application/json')
  assert.equal(res.headers['x-degraded'], '1')
  assert.equal(res.headers['content-length'], '17')
  assert.equal(typeof res.headers['x-request-id'], 'string')

  const raw = await rawRequest(gw.gw.port, 'GET /plain/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
  const env = assertEnvelope(raw, 503, 'GW_CIRCUIT_OPEN', 'open breaker without fallback')
  assert.equal(env.error.requestId, raw.headers['x-request-id'])
  assert.equal(a!.requests.length + b!.requests.length, seen, 'the upstream saw nothing')

  const r = await routeEntry(gw, 'degraded')
  assert.equal(r.fallback, true)
  assert.equal(r.breaker?.reason, 'consecutive-failures')
  assert.ok(r.breaker!.halfOpenInMs > 50_000)
  const m = await metricsText(gw)
  assert.equal(metric(m, 'gateway_breaker_transitions_total', { scope: 'route', target: 'degraded', to: 'open', reason: 'consecutive-failures' }), 1)
  assert.equal(metric(m, 'gateway_route_breaker_state', { route: 'degraded', state: 'open' }), 1)
  assert.equal(metric(m, 'gateway_route_breaker_state', { route: 'degraded', state: 'closed' }), 0)
  assert.equal(metric(m, 'gateway_errors_total', { code: 'GW_CIRCUIT_OPEN' }), 2, 'the fallback is counted under the reason it was served')
})

test('an upstream whose every node is ejected answers the fallback within milliseconds; without a fallback, 503 GW_UPSTREAM_UNAVAILABLE', async (t) => {
  const [a, b] = await upstreams('a', 'b')
  a!.status = b!.status = 502
  a!.delayMs = b!.delayMs = 200
  const gw = await startTestGateway({
    upstreams: { svc: { nodes: [{ url: a!.url }, { url: b!.url }], breaker: { consecutiveFailures: 1, openTime: '1m', maxEjectionPercent: 100 } } },
    routes: [
      { id: 'degraded', match: { paths: ['/degraded/*'] }, upstream: 'svc', fallback: { status: 503, headers: { 'retry-after': '30' }, body: 'try later' } },
      { id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'svc' }
    ]
  })
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close()]) })

  assert.deepEqual(await send(gw, 2, '/plain/x'), [502, 502])
  await until('both nodes ejected', async () =>
    (await adminJson<Array<{ nodes: NodeEntry[] }>>(gw, '/admin/upstreams'))[0]!.nodes.every((n) => n.health === 'ejected'))
  const seen = a!.requests.length + b!.requests.length

  const start = performance.now()
  const res = await get(gw.url + '/degraded/x')
  const elapsed = performance.now() - start
  assert.ok(elapsed < 50, `answered in ${elapsed.toFixed(1)} ms`)
  assert.equal(res.status, 503)
  assert.equal(res.text, 'try later')
  assert.equal(res.headers['retry-after'], '30')
  const line = await until('its access line', () => gw.logs.find((l) => l.msg === 'access' && l.reqId === res.headers['x-request-id']))
  assert.equal(line.error, 'GW_UPSTREAM_UNAVAILABLE', 'the log says why the fallback was given')
  assert.equal(line.upstream, 'svc', 'and which upstream had no node left')
  assert.equal(line.attempts, 0)
  const raw = await rawRequest(gw.gw.port, 'GET /plain/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
  assertEnvelope(raw, 503, 'GW_UPSTREAM_UNAVAILABLE', 'no node left, no fallback')
  assert.equal(a!.requests.length + b!.requests.length, seen, 'the upstream saw nothing')
})

test('reloads keep breaker state: a weight edit does not readmit an ejected node, a route edit does not reset its breaker; removing the breaker readmits', async (t) => {
  const [a, b, c] = await upstreams('a', 'b', 'c')
  a!.status = 503
  c!.status = 503
  const config = (weightB: number, rbPaths: string[], nodeBreaker = true): Record<string, unknown> => ({
    upstreams: {
      svc: {
        nodes: [{ url: a!.url }, { url: b!.url, weight: weightB }],
        ...(nodeBreaker ? { breaker: { consecutiveFailures: 2, openTime: '1m' } } : {})
      },
      bad: { nodes: [{ url: c!.url }] }
    },
    routes: [
      { id: 'n', match: { paths: ['/n/*'] }, upstream: 'svc' },
      { id: 'rb', match: { paths: rbPaths }, upstream: 'bad', breaker: { consecutiveFailures: 1, openTime: '1m' }, fallback: { status: 200, body: 'fallback' } }
    ]
  })
  const gw = await startTestGateway(config(1, ['/rb/*']))
  t.after(async () => { await gw.stop(); await Promise.all([a!.close(), b!.close(), c!.close()]) })

  await until('node a ejected', async () => {
    await get(gw.url + '/n/x')
    return (await nodeEntry(gw, 'svc', a!.url)).health === 'ejected'
  })
  assert.equal((await get(gw.url + '/rb/x')).status, 503)
  assert.equal((await get(gw.url + '/rb/x')).text, 'fallback')
  const seenA = a!.requests.length
  const seenC = c!.requests.length

  gw.rewrite(config(5, ['/rb/*', '/rb2/*']))
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
  assert.equal(outcome.stats?.upstreamsRebuilt, 1, 'the upstream was rebuilt (weight edit)')
  assert.equal(outcome.stats?.routesCompiled, 1, 'the route was compiled again (match edit)')

  const n = await nodeEntry(gw, 'svc', a!.url)
  assert.equal(n.health, 'ejected')
  assert.equal(n.available, false)
  assert.equal(n.breaker?.trips, 1)
  assert.deepEqual(await send(gw, 10, '/n/x'), Array(10).fill(200))
  assert.equal(a!.requests.length, seenA, 'still ejected after the reload')

  const rb = await routeEntry(gw, 'rb')
  assert.equal(rb.breaker?.state, 'open')
  assert.equal(rb.breaker?.trips, 1)
  assert.equal((await get(gw.url + '/rb2/x')).text, 'fallback')
  assert.equal(c!.requests.length, seenC, 'the route breaker is still open after the reload')

  gw.rewrite(config(5, ['/rb/*', '/rb2/*'], false))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const back = await nodeEntry(gw, 'svc', a!.url)
  assert.equal(back.health, 'healthy', 'no breaker configured any more: the node is readmitted')
  assert.equal(back.breaker, null)
})
