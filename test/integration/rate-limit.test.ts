// The rate-limit plugin at node scope, through a real gateway and upstream:
// exactly `rate` admitted per window under concurrent load, the 429 envelope
// with Retry-After and the RateLimit fields (raw bytes), the fields on admitted
// responses when configured, the burst bucket, metrics and status(), and what
// a reload keeps (counters of an unchanged limit) or restarts (a changed one).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Agent, request } from 'undici'
import type { PluginInstance } from '../../plugins/types.js'
import { metric } from '../helpers/metrics.js'
import { rawRequest } from '../helpers/raw-http.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'

let up: Upstream
const agent = new Agent({ connections: 64 })

before(async () => {
  up = await startUpstream({ handler: (_req, res) => { res.end('ok') } })
})
after(async () => {
  await up.close()
  await agent.close()
})

function config (routes: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstreams: { app: { nodes: [{ url: up.url }] } }, routes, ...extra }
}

function route (id: string, path: string, plugins: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, match: { paths: [path] }, upstream: 'app', plugins }
}

/** `n` requests, `concurrency` at a time; the statuses in order of completion. */
async function load (url: string, n: number, concurrency = 32, headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++
      const res = await request(url, { dispatcher: agent, headers })
      await res.body.dump()
      statuses.push(res.statusCode)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return statuses
}

const count = (statuses: number[], s: number): number => statuses.filter((x) => x === s).length

function instanceOf (gw: TestGateway, routeId: string): PluginInstance {
  const r = gw.gw.current.routes.get(routeId)!
  return r.plugins.find((p) => p.name === 'rate-limit')!.instance
}

test('node scope: exactly `rate` admitted per window under concurrent load, per key', async () => {
  const gw = await startTestGateway(config([
    route('one', '/one', { 'rate-limit': { rate: 100, window: '1m' } }),
    route('per-user', '/user', { 'rate-limit': { rate: 25, window: '1m', key: ['header:x-user'] } })
  ]))
  try {
    const one = await load(gw.url + '/one', 400, 64)
    assert.equal(count(one, 200), 100)
    assert.equal(count(one, 429), 300)
    const [a, b, none] = await Promise.all([
      load(gw.url + '/user', 100, 16, { 'x-user': 'alice' }),
      load(gw.url + '/user', 100, 16, { 'x-user': 'bob' }),
      load(gw.url + '/user', 60, 16)
    ])
    assert.equal(count(a, 200), 25, 'alice')
    assert.equal(count(b, 200), 25, 'bob')
    assert.equal(count(none, 200), 25, 'no x-user: one counter under the empty value')
    const m = await (await request(gw.adminUrl + '/metrics')).body.text()
    assert.equal(metric(m, 'gateway_limit_admitted_total', { route: 'one', limit: 'rate-limit' }), 100)
    assert.equal(metric(m, 'gateway_limit_rejected_total', { route: 'one', limit: 'rate-limit' }), 300)
    assert.equal(metric(m, 'gateway_limit_admitted_total', { route: 'per-user', limit: 'rate-limit' }), 75)
    assert.equal(metric(m, 'gateway_limit_redis_mode', { route: 'one', limit: 'rate-limit' }), undefined, 'node scope has no Redis mode')

    const st = instanceOf(gw, 'per-user').status!()
    assert.equal(st.scope, 'node')
    assert.deepEqual(st.key, ['header:x-user'])
    assert.equal(st.keys, 3)
    const busiest = st.busiest as Array<{ key: string, count: number }>
    assert.equal(busiest.length, 3)
    assert.ok(busiest[0]!.count >= busiest[2]!.count)
    assert.deepEqual(busiest.map((b) => b.key).sort(), ['', 'alice', 'bob'])

    // The admin API lists both limits, as node-scope route limits, with their key and usage.
    const limits = await (await request(gw.adminUrl + '/admin/limits')).body.json() as
      { node: { route: Array<{ route: string, name: string, key: string[], rate: number, keys?: number }> }, cluster: { route: unknown[] } }
    assert.deepEqual(limits.node.route.map((l) => [l.route, l.name, l.rate]), [['one', 'rate-limit', 100], ['per-user', 'rate-limit', 25]])
    assert.deepEqual(limits.node.route[1]!.key, ['header:x-user'])
    assert.equal(limits.node.route[1]!.keys, 3)
    assert.deepEqual(limits.cluster.route, [])
  } finally {
    await gw.stop()
  }
})

test('node scope: a 1 s window admits `rate` again once it has passed', async () => {
  const gw = await startTestGateway(config([route('r', '/r', { 'rate-limit': { rate: 20, window: '1s' } })]))
  try {
    const first = await load(gw.url + '/r', 60, 30)
    assert.equal(count(first, 200), 20)
    // The window ends 1 s after its first request: wait until one passes, then the rest of that window.
    await until('next window', async () => (await load(gw.url + '/r', 1, 1))[0] === 200, 3000)
    const second = await load(gw.url + '/r', 60, 30)
    assert.equal(count(second, 200), 19)
  } finally {
    await gw.stop()
  }
})

test('a refusal: 429 GW_RATE_LIMITED in the envelope, Retry-After, RateLimit-Policy and RateLimit (raw bytes)', async () => {
  const gw = await startTestGateway(config([route('r', '/r', { 'rate-limit': { rate: 2, window: '1m', name: 'orders' } })]))
  try {
    const port = Number(new URL(gw.url).port)
    const req = 'GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const reached = up.requests.length
    for (let i = 0; i < 2; i++) {
      const ok = await rawRequest(port, req)
      assert.equal(ok.status, 200)
      assert.equal(ok.headers.ratelimit, undefined, 'headers: false: nothing on admitted responses')
    }
    const res = await rawRequest(port, req)
    assert.equal(res.statusLine, 'HTTP/1.1 429 Too Many Requests')
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    assert.match(res.raw, /\r\nretry-after: (60|59)\r\n/)
    assert.match(res.raw, /\r\nratelimit-policy: "orders";q=2;w=60\r\n/)
    assert.match(res.raw, /\r\nratelimit: "orders";r=0;t=(60|59)\r\n/)
    const body = JSON.parse(res.body) as { error: { status: number, code: string, message: string, requestId: string } }
    assert.equal(body.error.status, 429)
    assert.equal(body.error.code, 'GW_RATE_LIMITED')
    assert.match(body.error.message, /at most 2 requests per 60s/)
    assert.equal(up.requests.length - reached, 2, 'the refused request never reached the upstream')
    // The admin API names the limit as the metrics do (its `name`), beside the plugin.
    const limits = await (await request(gw.adminUrl + '/admin/limits')).body.json() as { node: { route: Array<{ plugin: string, name: string }> } }
    assert.deepEqual(limits.node.route.map((l) => [l.plugin, l.name]), [['rate-limit', 'orders']])
  } finally {
    await gw.stop()
  }
})

test('headers: true puts the RateLimit fields on admitted responses; a global and a route limit each add theirs', async () => {
  const gw = await startTestGateway(config(
    [route('r', '/r', { 'rate-limit': { rate: 3, window: '10s', headers: true } })],
    { plugins: { 'rate-limit': { rate: 1000, window: '1m', headers: true, name: 'node-wide' } } }
  ))
  try {
    const port = Number(new URL(gw.url).port)
    const req = 'GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    const first = await rawRequest(port, req)
    assert.equal(first.status, 200)
    assert.match(first.raw, /\r\nratelimit-policy: "node-wide";q=1000;w=60, "rate-limit";q=3;w=10\r\n/)
    assert.match(first.raw, /\r\nratelimit: "node-wide";r=999;t=60, "rate-limit";r=2;t=10\r\n/)
    await rawRequest(port, req)
    await rawRequest(port, req)
    const refused = await rawRequest(port, req)
    assert.equal(refused.status, 429)
    // The route's refusal, and the global limit that admitted the request adds its own.
    assert.match(refused.raw, /\r\nratelimit-policy: "rate-limit";q=3;w=10, "node-wide";q=1000;w=60\r\n/)
    assert.match(refused.raw, /\r\nratelimit: "rate-limit";r=0;t=(10|9), "node-wide";r=996;t=60\r\n/)
    const m = await (await request(gw.adminUrl + '/metrics')).body.text()
    assert.equal(metric(m, 'gateway_limit_admitted_total', { route: '*', limit: 'node-wide' }), 4)
    assert.equal(metric(m, 'gateway_limit_rejected_total', { route: 'r', limit: 'rate-limit' }), 1)
  } finally {
    await gw.stop()
  }
})

test('burst: over the rate of a window, up to `burst` more per burstWindow; then only the rate', async () => {
  const gw = await startTestGateway(config([route('r', '/r', { 'rate-limit': { rate: 5, window: '1s', burst: 4, burstWindow: '1m', headers: true } })]))
  try {
    const first = await load(gw.url + '/r', 30, 30)
    assert.equal(count(first, 200), 9, 'rate + burst in the first window')
    await until('next window', async () => (await load(gw.url + '/r', 1, 1))[0] === 200, 3000)
    const second = await load(gw.url + '/r', 30, 30)
    assert.equal(count(second, 200), 4, 'the rest of the rate only: the burst bucket is empty for a minute')
    const res = await request(gw.url + '/r', { dispatcher: agent })
    await res.body.dump()
    assert.equal(res.statusCode, 429)
    assert.match(String(res.headers['ratelimit-policy']), /^"rate-limit";q=5;w=1, "rate-limit-burst";q=4;w=60$/)
    assert.match(String(res.headers.ratelimit), /^"rate-limit";r=0;t=1, "rate-limit-burst";r=0;t=(60|59|58)$/)
    assert.equal(res.headers['retry-after'], '1', 'the earlier of the two refills')
  } finally {
    await gw.stop()
  }
})

test('reload: an unchanged limit keeps its counters when another route changes; a changed rate applies at once', async () => {
  const limited = route('r', '/r', { 'rate-limit': { rate: 3, window: '1m' } })
  const gw = await startTestGateway(config([limited, route('other', '/other')]))
  try {
    assert.equal(count(await load(gw.url + '/r', 5, 1), 200), 3)
    const before = instanceOf(gw, 'r')
    gw.rewrite(config([limited, route('other', '/other2')]))
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    assert.equal(instanceOf(gw, 'r'), before, 'same instance')
    assert.equal(count(await load(gw.url + '/r', 2, 1), 200), 0, 'still used up')

    gw.rewrite(config([route('r', '/r', { 'rate-limit': { rate: 5, window: '1m' } }), route('other', '/other2')]))
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    assert.notEqual(instanceOf(gw, 'r'), before)
    assert.equal(count(await load(gw.url + '/r', 8, 1), 200), 5, 'the new limit, from a fresh counter')
    const m = await (await request(gw.adminUrl + '/metrics')).body.text()
    assert.equal(metric(m, 'gateway_limit_admitted_total', { route: 'r', limit: 'rate-limit' }), 8, 'metrics survive the new instance')
  } finally {
    await gw.stop()
  }
})
