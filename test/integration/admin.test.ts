// The admin API on its own port: health, readiness (also while draining),
// Prometheus metrics with exact counts, routes/upstreams views, bearer token.
import { test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { metric } from '../helpers/metrics.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import type { Envelope } from '../helpers/envelope.js'
import { until } from '../helpers/until.js'

let a: Upstream
let slow: Upstream
let gw: TestGateway
/** Releases the slow upstream's held responses. */
const held = new Set<() => void>()

before(async () => {
  a = await startUpstream({ name: 'a' })
  slow = await startUpstream({
    name: 'slow',
    handler: (_req, res) => {
      const release = (): void => { held.delete(release); res.end('slow-done') }
      held.add(release)
    }
  })
  gw = await startTestGateway(config())
})

after(async () => {
  for (const r of [...held]) r()
  await gw.stop()
  await Promise.all([a.close(), slow.close()])
})

function config (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: {
      a: { nodes: [{ url: a.url, weight: 2, zone: 'z1' }], balancer: 'least-conn' },
      slow: { nodes: [{ url: slow.url }] }
    },
    routes: [
      { id: 'm', match: { paths: ['/m/*'], methods: ['GET'] }, upstream: 'a', plugins: { headers: { response: { set: { 'x-m': '1' } } } } },
      { id: 'ws', match: { paths: ['/ws'] }, upstream: 'a', websocket: true, priority: 5, rewrite: { stripPrefix: false } },
      { id: 'slow', match: { paths: ['/slow'] }, upstream: 'slow' }
    ],
    ...extra
  }
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

async function send (url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const res = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function get (url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return await send(url, { headers })
}

/** A gateway whose admin API wants the bearer token `secret`; stopped when the test ends. */
async function startTokenGateway (t: TestContext): Promise<TestGateway> {
  const g = await startTestGateway({
    admin: { host: '127.0.0.1', port: 0, token: 'secret' },
    upstreams: { a: { nodes: [{ url: a.url }] } },
    routes: [{ id: 'r', match: { paths: ['/r'] }, upstream: 'a' }]
  })
  t.after(async () => { await g.stop() })
  return g
}

/**
 * An admin answer in the gateway's one error envelope, with its request id in `x-request-id` too.
 * Not envelope.ts's assertEnvelope: this reads an undici response, and checks what only the admin
 * API promises (exactly these fields, a non-empty message, the request id echoed in a header).
 */
function assertAdminEnvelope (r: Answer, status: number, code: string, what: string): Envelope {
  assert.equal(r.status, status, `${what}: status (${r.text})`)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8', `${what}: content-type`)
  const env = JSON.parse(r.text) as Envelope
  assert.deepEqual(Object.keys(env), ['error'], `${what}: only the envelope (${r.text})`)
  assert.deepEqual(Object.keys(env.error), ['status', 'code', 'message', 'requestId'], `${what}: envelope fields`)
  assert.equal(env.error.status, status, what)
  assert.equal(env.error.code, code, `${what}: code (${r.text})`)
  assert.ok(env.error.message.length > 0, what)
  assert.match(String(env.error.requestId), /^[0-9a-f-]{36}$/, `${what}: request id`)
  assert.equal(r.headers['x-request-id'], env.error.requestId, `${what}: x-request-id header`)
  return env
}

test('/healthz and /readyz answer 200 while running', async () => {
  const h = await get(gw.adminUrl + '/healthz')
  assert.equal(h.status, 200)
  assert.deepEqual(JSON.parse(h.text), { status: 'ok' })
  const r = await get(gw.adminUrl + '/readyz')
  assert.equal(r.status, 200)
  assert.deepEqual(JSON.parse(r.text), { status: 'ready', version: 1 })
})

test('/metrics counts requests per route/method/status class and exposes durations, in-flight gauges', async () => {
  const text0 = (await get(gw.adminUrl + '/metrics')).text
  const count0 = metric(text0, 'gateway_requests_total', { route: 'm', method: 'GET', status: '2xx' }) ?? 0
  const none0 = metric(text0, 'gateway_requests_total', { route: '(none)', method: 'GET', status: '4xx' }) ?? 0
  const inf0 = metric(text0, 'gateway_request_duration_seconds_bucket', { route: 'm', le: '+Inf' }) ?? 0
  const err0 = metric(text0, 'gateway_errors_total', { code: 'GW_ROUTE_NOT_FOUND' }) ?? 0

  const N = 7
  for (let i = 0; i < N; i++) {
    const r = await get(gw.url + `/m/${i}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-m'], '1')
  }
  assert.equal((await get(gw.url + '/nowhere')).status, 404)
  assert.equal((await get(gw.url + '/nowhere')).status, 404)

  const res = await request(gw.adminUrl + '/metrics')
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const text = await res.body.text()
  assert.ok(text.includes(`gateway_requests_total{route="m",method="GET",status="2xx"} ${count0 + N}`),
    text.split('\n').filter((l) => l.startsWith('gateway_requests_total')).join('\n'))
  assert.equal(metric(text, 'gateway_requests_total', { route: '(none)', method: 'GET', status: '4xx' }), none0 + 2)
  assert.equal(metric(text, 'gateway_request_duration_seconds_bucket', { route: 'm', le: '+Inf' }), inf0 + N)
  assert.equal(metric(text, 'gateway_request_duration_seconds_count', { route: 'm' }), inf0 + N)
  assert.ok((metric(text, 'gateway_request_duration_seconds_sum', { route: 'm' }) ?? 0) > 0)
  const smallest = metric(text, 'gateway_request_duration_seconds_bucket', { route: 'm', le: '0.001' })
  assert.ok(smallest !== undefined && smallest <= inf0 + N, 'the smallest bucket is exposed, cumulative counts never above +Inf')
  assert.equal(metric(text, 'gateway_upstream_response_seconds_count', { upstream: 'a' }), count0 + N)
  assert.equal(metric(text, 'gateway_errors_total', { code: 'GW_ROUTE_NOT_FOUND' }), err0 + 2)
  assert.equal(metric(text, 'gateway_requests_in_flight'), 0)
  assert.equal(metric(text, 'gateway_upstream_node_inflight', { upstream: 'a', node: a.url }), 0)
  assert.equal(metric(text, 'gateway_upstream_node_inflight', { upstream: 'slow', node: slow.url }), 0)
  assert.equal(metric(text, 'gateway_upstream_node_available', { upstream: 'a', node: a.url }), 1)
  assert.equal(metric(text, 'gateway_config_version'), 1)
  assert.ok(text.includes('process_cpu_user_seconds_total'), 'default process metrics are collected')

  // Two requests held by the slow upstream: both gauges read 2.
  const pending = [get(gw.url + '/slow'), get(gw.url + '/slow')]
  await until('two slow requests at the upstream', () => slow.inflight === 2)
  const during = (await get(gw.adminUrl + '/metrics')).text
  assert.equal(metric(during, 'gateway_requests_in_flight'), 2)
  assert.equal(metric(during, 'gateway_upstream_node_inflight', { upstream: 'slow', node: slow.url }), 2)
  assert.equal(metric(during, 'gateway_upstream_node_inflight', { upstream: 'a', node: a.url }), 0)
  for (const r of [...held]) r()
  const done = await Promise.all(pending)
  assert.deepEqual(done.map((d) => [d.status, d.text]), [[200, 'slow-done'], [200, 'slow-done']])
  const afterText = (await get(gw.adminUrl + '/metrics')).text
  assert.equal(metric(afterText, 'gateway_requests_in_flight'), 0)
  assert.equal(metric(afterText, 'gateway_upstream_node_inflight', { upstream: 'slow', node: slow.url }), 0)
  assert.equal(metric(afterText, 'gateway_requests_total', { route: 'slow', method: 'GET', status: '2xx' }), 2)
})

test('/admin/config, /admin/routes and /admin/upstreams describe the running config', async () => {
  const cfg = JSON.parse((await get(gw.adminUrl + '/admin/config')).text) as Record<string, unknown>
  assert.equal(cfg.version, 1)
  assert.equal(cfg.routes, 3)
  assert.equal(cfg.upstreams, 2)
  assert.deepEqual(cfg.files, [gw.configFile])
  assert.match(String(cfg.digest), /^[0-9a-f]{64}$/)
  assert.equal(cfg.lastReload, null)

  const routes = JSON.parse((await get(gw.adminUrl + '/admin/routes')).text) as Array<Record<string, unknown>>
  assert.deepEqual(routes, [
    {
      id: 'm',
      match: { paths: ['/m/*'], methods: ['GET'], hosts: [], headers: {}, query: {} },
      priority: 0,
      upstream: 'a',
      rewrite: { stripPrefix: false },
      websocket: false,
      plugins: ['headers'],
      breaker: null,
      fallback: false
    },
    {
      id: 'ws',
      match: { paths: ['/ws'], methods: [], hosts: [], headers: {}, query: {} },
      priority: 5,
      upstream: 'a',
      rewrite: { stripPrefix: false },
      websocket: true,
      plugins: [],
      breaker: null,
      fallback: false
    },
    {
      id: 'slow',
      match: { paths: ['/slow'], methods: [], hosts: [], headers: {}, query: {} },
      priority: 0,
      upstream: 'slow',
      rewrite: { stripPrefix: false },
      websocket: false,
      plugins: [],
      breaker: null,
      fallback: false
    }
  ])

  const before = a.requests.length
  for (let i = 0; i < 3; i++) await get(gw.url + '/m/x')
  const ups = JSON.parse((await get(gw.adminUrl + '/admin/upstreams')).text) as Array<{ name: string; balancer: string; nodes: Array<Record<string, unknown>> }>
  assert.deepEqual(ups.map((u) => [u.name, u.balancer, u.nodes.length]), [['a', 'least-conn', 1], ['slow', 'roundrobin', 1]])
  const node = ups[0]!.nodes[0]!
  assert.equal(node.url, a.url)
  assert.equal(node.weight, 2)
  assert.equal(node.zone, 'z1')
  assert.equal(node.available, true)
  assert.equal(node.breaker, null, 'no breaker configured')
  assert.equal(node.inflight, 0)
  assert.equal(node.requests, a.requests.length, 'node request counter matches what the upstream saw')
  assert.ok(a.requests.length >= before + 3)
  assert.equal(node.failures, 0)
  assert.equal(node.lastError, null)
  const pool = node.pool as Record<string, number>
  assert.equal(pool.running, 0)
  assert.equal(pool.pending, 0)
  assert.ok(pool.connected >= 1, 'a keep-alive connection stays open')
  assert.equal(ups[1]!.nodes[0]!.zone, null)
})

test('/readyz answers 503 "draining" while a stop waits for an in-flight request', async (t) => {
  const slow2 = await startUpstream({ handler: (_req, res) => { setTimeout(() => res.end('late'), 700) } })
  const g = await startTestGateway({
    upstreams: { s: { nodes: [{ url: slow2.url }] } },
    routes: [{ id: 's', match: { paths: ['/s'] }, upstream: 's' }]
  })
  t.after(async () => { await slow2.close() })
  assert.equal((await get(g.adminUrl + '/readyz')).status, 200)
  const inflight = get(g.url + '/s')
  await until('the request reached the upstream', () => slow2.inflight === 1)
  const stopping = g.stop()
  const r = await get(g.adminUrl + '/readyz')
  assert.equal(r.status, 503)
  assert.deepEqual(JSON.parse(r.text), { status: 'draining' })
  assert.equal((await get(g.adminUrl + '/healthz')).status, 200, 'liveness stays up while draining')
  const res = await inflight
  assert.equal(res.status, 200)
  assert.equal(res.text, 'late')
  assert.equal(res.headers.connection, 'close', 'a response finished during drain closes its connection')
  await stopping
  await assert.rejects(get(g.adminUrl + '/readyz'), /ECONNREFUSED/)
})

test('admin.token: /admin/* and /metrics need the bearer token; health endpoints stay open', async (t) => {
  const g = await startTokenGateway(t)

  for (const path of ['/admin/config', '/admin/routes', '/admin/upstreams', '/metrics']) {
    const wrong: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: 'secret' }, { authorization: 'Bearer secret2' }, { authorization: 'Basic c2VjcmV0' }]
    for (const headers of wrong) {
      const r = await get(g.adminUrl + path, headers)
      const env = assertAdminEnvelope(r, 401, 'GW_ADMIN_UNAUTHORIZED', `${path} with ${JSON.stringify(headers)}`)
      assert.equal(r.headers['www-authenticate'], 'Bearer')
      assert.equal(env.error.message, 'Missing or wrong admin bearer token')
    }
    const ok = await get(g.adminUrl + path, { authorization: 'Bearer secret' })
    assert.equal(ok.status, 200, path)
  }
  // Path variants must not slip past the check.
  for (const path of ['/admin/config?x=1', '//admin/config', '/metrics/', '/healthz/../admin/config', '/HEALTHZ']) {
    const r = await get(g.adminUrl + path)
    assert.ok(r.status === 401, `${path} answered ${r.status} without a token`)
  }
  const reload = await request(g.adminUrl + '/admin/reload', { method: 'POST' })
  assert.equal(reload.statusCode, 401)
  await reload.body.text()
  assert.equal(g.logs.filter((l) => l.msg === 'config reloaded').length, 0, 'the refused reload call did nothing')
  const reloadOk = await request(g.adminUrl + '/admin/reload', { method: 'POST', headers: { authorization: 'Bearer secret' } })
  assert.equal(reloadOk.statusCode, 200)
  assert.equal((await reloadOk.body.json() as { result: string }).result, 'unchanged')

  assert.equal((await get(g.adminUrl + '/healthz')).status, 200)
  assert.equal((await get(g.adminUrl + '/readyz')).status, 200)
  assert.equal((await get(g.adminUrl + '/healthz?probe=k8s')).status, 200, 'a probe query string does not make health need a token')
  // The data plane is not behind the admin token.
  assert.equal((await get(g.url + '/r')).status, 200)
})

test('/admin/match explains which route serves a request and what the upstream is sent', async (t) => {
  const up = await startUpstream()
  const g = await startTestGateway({
    upstreams: { blue: { nodes: [{ url: up.url }] }, green: { nodes: [{ url: up.url }] } },
    routes: [
      { id: 'orders', match: { paths: ['/orders/:id'] }, upstream: 'blue', rewrite: { path: '/v2/orders/:id' } },
      { id: 'testers', priority: 10, match: { paths: ['/orders/:id'], headers: { 'x-tester': 'yes' } }, upstream: 'green', plugins: { cors: {} } },
      { id: 'api', match: { hosts: ['api.example.com'], paths: ['/api/*'], methods: ['GET'] }, upstream: 'blue', rewrite: { stripPrefix: true } }
    ]
  })
  t.after(async () => { await g.stop(); await up.close() })
  const match = async (qs: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await request(`${g.adminUrl}/admin/match?${qs}`)
    return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
  }
  let m = await match('path=/orders/42')
  assert.equal(m.status, 200)
  assert.deepEqual({ route: m.body.route, upstream: m.body.upstream, forwardedPath: m.body.forwardedPath, params: m.body.params },
    { route: 'orders', upstream: 'blue', forwardedPath: '/v2/orders/42', params: { id: '42' } })
  m = await match('path=/orders/42&header.X-Tester=yes')
  assert.equal(m.body.route, 'testers')
  assert.deepEqual(m.body.plugins, ['cors'])
  m = await match(`path=${encodeURIComponent('/api/%2e%2e/api/items?x=1')}&host=API.example.com:8080`)
  assert.equal(m.body.route, 'api')
  assert.equal(m.body.path, '/api/items')
  assert.equal(m.body.forwardedPath, '/items?x=1')
  assert.equal((await match('path=/api/items&host=api.example.com&method=POST')).status, 404, 'method condition applies')
  assert.equal((await match('path=/nothing')).status, 404)
  assert.equal((await match(`path=${encodeURIComponent('/a/..;/b')}`)).status, 400)
  assert.equal((await match('host=x')).status, 400, 'path is required')
})

test('admin API errors use the gateway error envelope: unknown path, wrong method, bad query, bad body', async () => {
  const u = gw.adminUrl
  assertAdminEnvelope(await send(u + '/admin/nothing'), 404, 'GW_ADMIN_NOT_FOUND', 'unknown admin path')
  assertAdminEnvelope(await send(u + '/nothing/at/all?x=1'), 404, 'GW_ADMIN_NOT_FOUND', 'unknown path')
  assertAdminEnvelope(await send(u + '/admin/%zz'), 400, 'GW_ADMIN_BAD_REQUEST', 'a malformed escape (refused by Fastify\'s router)')

  const m1 = await send(u + '/admin/config', { method: 'POST' })
  assertAdminEnvelope(m1, 405, 'GW_ADMIN_METHOD_NOT_ALLOWED', 'POST /admin/config')
  assert.equal(m1.headers.allow, 'GET, HEAD')
  const m2 = await send(u + '/admin/reload')
  assertAdminEnvelope(m2, 405, 'GW_ADMIN_METHOD_NOT_ALLOWED', 'GET /admin/reload')
  assert.equal(m2.headers.allow, 'POST')
  const m3 = await send(u + '/healthz/?x=1', { method: 'DELETE' })
  assertAdminEnvelope(m3, 405, 'GW_ADMIN_METHOD_NOT_ALLOWED', 'DELETE /healthz/?x=1')
  assert.equal(m3.headers.allow, 'GET, HEAD')

  const noPath = assertAdminEnvelope(await send(u + '/admin/match?host=x'), 400, 'GW_ADMIN_BAD_REQUEST', '/admin/match without path')
  assert.match(noPath.error.message, /"path"/)
  const badPath = assertAdminEnvelope(await send(`${u}/admin/match?path=${encodeURIComponent('/a/..;/b')}`), 400, 'GW_BAD_PATH', '/admin/match with a refused path')
  assert.match(badPath.error.message, /\/a\/\.\.;\/b/)
  assertAdminEnvelope(await send(`${u}/admin/match?path=relative`), 400, 'GW_BAD_PATH', '/admin/match with a relative path')
  assertAdminEnvelope(await send(`${u}/admin/match?path=/a&path=/b`), 400, 'GW_ADMIN_BAD_REQUEST', '/admin/match with two paths')
  assertAdminEnvelope(await send(`${u}/admin/match?path=/a&method=GET&method=POST`), 400, 'GW_ADMIN_BAD_REQUEST', '/admin/match with two methods')

  const last = gw.gw.reloader.last
  assertAdminEnvelope(await send(u + '/admin/reload', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"bad' }),
    400, 'GW_ADMIN_BAD_REQUEST', 'reload with malformed JSON')
  assertAdminEnvelope(await send(u + '/admin/reload', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' }),
    415, 'GW_ADMIN_UNSUPPORTED_MEDIA_TYPE', 'reload with an unknown content type')
  assert.equal(gw.gw.reloader.last, last, 'refused reload calls did nothing')
  // Still usable with no body, or with a well-formed JSON one.
  assert.equal((await send(u + '/admin/reload', { method: 'POST' })).status, 200)
  assert.equal((await send(u + '/admin/reload', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 200)
})

test('admin port: malformed requests refused by Node or Fastify themselves get the envelope too', async () => {
  const port = gw.gw.adminPort
  const bad = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Bad : y\r\n\r\n')
  assert.equal(bad.status, 400, bad.raw)
  assert.equal(bad.headers['content-type'], 'application/json; charset=utf-8')
  assert.equal((JSON.parse(bad.body) as Envelope).error.code, 'GW_BAD_REQUEST')
  assert.equal(bad.closed, true)
  const big = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
  assert.equal(big.status, 431, big.raw.slice(0, 200))
  assert.equal((JSON.parse(big.body) as Envelope).error.code, 'GW_HEADERS_TOO_LARGE')
})

test('admin.token: /healthz and /readyz with a query string or a trailing slash answer exactly like the plain forms, without the token', async (t) => {
  const g = await startTokenGateway(t)
  for (const plain of ['/healthz', '/readyz']) {
    const want = await get(g.adminUrl + plain)
    assert.equal(want.status, 200, plain)
    for (const variant of [plain + '?x=1', plain + '/', plain + '/?x=1', plain + '?verbose', plain + '?']) {
      const r = await get(g.adminUrl + variant)
      assert.deepEqual([r.status, r.text], [want.status, want.text], `${variant} answers like ${plain}`)
    }
    const head = await send(g.adminUrl + plain + '/?x=1', { method: 'HEAD' })
    assert.equal(head.status, 200, `HEAD ${plain}/?x=1`)
    // Other methods are not exempt, with or without the slash.
    for (const variant of [plain, plain + '/']) assertAdminEnvelope(await send(g.adminUrl + variant, { method: 'DELETE' }), 401, 'GW_ADMIN_UNAUTHORIZED', `DELETE ${variant}`)
  }
  // The exemption covers those two endpoints only: nothing else slips past the token.
  for (const path of ['/healthz/x', '/healthz//', '/readyz/../admin/config', '/metrics/', '/admin/config/', '/nothing']) {
    const r = await get(g.adminUrl + path)
    assertAdminEnvelope(r, 401, 'GW_ADMIN_UNAUTHORIZED', path)
  }
  assertAdminEnvelope(await get(g.adminUrl + '/nothing', { authorization: 'Bearer secret' }), 404, 'GW_ADMIN_NOT_FOUND', 'unknown path with the token')
  assert.equal((await get(g.adminUrl + '/admin/config/', { authorization: 'Bearer secret' })).status, 200, 'a trailing slash is accepted with the token')
})
