// Proxying through a real gateway to real loopback upstreams: headers, bodies,
// errors, timeouts, retries, rewrites and the error envelope.
import { test, after, before, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { freePort } from '../helpers/free-port.js'
import { rawRequest } from '../helpers/raw-http.js'
import { until } from '../helpers/until.js'

let a: Upstream
let b: Upstream
let slow: Upstream
let resetter: Upstream
let gw: TestGateway
let deadPort: number

interface Echo { upstream: string; method: string; url: string; headers: Record<string, string>; bodyLength: number; bodySha256: string }

before(async () => {
  a = await startUpstream({ name: 'a' })
  b = await startUpstream({ name: 'b' })
  slow = await startUpstream({ name: 'slow', handler: (_req, res) => { setTimeout(() => res.end('late'), 1500) } })
  resetter = await startUpstream({
    name: 'resetter',
    handler: (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' })
      res.write(Buffer.alloc(1000, 120))
      setTimeout(() => res.socket?.destroy(), 20)
    }
  })
  deadPort = await freePort()
  gw = await startTestGateway(baseConfig())
})

// Every test starts from the base config, whatever the test before it reloaded:
// any test can run alone (--test-name-pattern) or in any order.
beforeEach(restoreConfig)

after(async () => {
  await gw.stop()
  await Promise.all([a.close(), b.close(), slow.close(), resetter.close()])
})

async function get (path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(gw.url + path, { headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

test('GET is proxied with forwarding headers and a request id returned to the client', async () => {
  const res = await get('/echo/hello?x=1&y=2', { 'user-agent': 'test' })
  assert.equal(res.status, 200)
  const echo = JSON.parse(res.text) as Echo
  assert.equal(echo.url, '/echo/hello?x=1&y=2')
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(echo.headers['x-forwarded-proto'], 'http')
  assert.equal(echo.headers['x-forwarded-host'], new URL(gw.url).host)
  assert.equal(echo.headers['user-agent'], 'test')
  const rid = res.headers['x-request-id']
  assert.match(String(rid), /^[0-9a-f-]{36}$/)
  assert.equal(echo.headers['x-request-id'], rid)
  const line = gw.logs.find((l) => l.msg === 'access' && l.reqId === rid)
  assert.ok(line, 'access log line with the request id')
  assert.equal(line.route, 'echo')
  assert.equal(line.status, 200)
  assert.equal(line.node, a.url)
})

test('an untrusted client cannot spoof X-Forwarded-For or the request id', async () => {
  const res = await get('/echo/x', { 'x-forwarded-for': '6.6.6.6', 'x-request-id': 'spoofed-id' })
  const echo = JSON.parse(res.text) as Echo
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1')
  assert.notEqual(echo.headers['x-request-id'], 'spoofed-id')
})

test('a request body is streamed intact, and bodies over the limit get 413 without reaching the upstream', async () => {
  const body = Buffer.alloc(5 * 1024 * 1024, 7)
  const res = await request(gw.url + '/big/upload', { method: 'POST', body })
  const echo = await res.body.json() as Echo
  assert.equal(echo.bodyLength, body.length)
  assert.equal(echo.bodySha256, createHash('sha256').update(body).digest('hex'))

  const before = a.requests.length
  const tooBig = await request(gw.url + '/echo/upload', { method: 'POST', body: Buffer.alloc(100 * 1024) })
  assert.equal(tooBig.statusCode, 413)
  const env = await tooBig.body.json() as { error: { code: string; requestId: string } }
  assert.equal(env.error.code, 'GW_BODY_TOO_LARGE')
  assert.equal(a.requests.length, before, 'declared oversized body never reaches the upstream')

  // Chunked (no Content-Length): counted while streaming.
  async function * chunks (): AsyncGenerator<Buffer> {
    for (let i = 0; i < 10; i++) yield Buffer.alloc(16 * 1024, 1)
  }
  const chunked = await request(gw.url + '/echo/upload', { method: 'POST', body: Readable.from(chunks()) })
  assert.equal(chunked.statusCode, 413)
  assert.equal((await chunked.body.json() as { error: { code: string } }).error.code, 'GW_BODY_TOO_LARGE')
})

test('no route: 404 in the error envelope with the request id', async () => {
  const res = await get('/nothing-here')
  assert.equal(res.status, 404)
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const env = JSON.parse(res.text) as { error: { status: number; code: string; message: string; requestId: string } }
  assert.equal(env.error.status, 404)
  assert.equal(env.error.code, 'GW_ROUTE_NOT_FOUND')
  assert.equal(env.error.requestId, res.headers['x-request-id'])
})

test('hop-by-hop headers are dropped both ways; Connection cannot strip gateway headers', async () => {
  // node:http sends the Connection header as given (undici's client would refuse it).
  const text = await new Promise<string>((resolve, reject) => {
    http.get(gw.url + '/echo/hop', { headers: { connection: 'keep-alive, x-secret, x-forwarded-for', 'x-secret': 'drop-me', 'x-kept': 'yes' } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve(body))
    }).on('error', reject)
  })
  const echo = JSON.parse(text) as Echo
  assert.equal(echo.headers['x-secret'], undefined)
  assert.equal(echo.headers['x-kept'], 'yes')
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1')

  const hop = await startUpstream({
    handler: (_req, res) => {
      res.writeHead(200, { connection: 'keep-alive, x-internal', 'x-internal': 'secret', 'keep-alive': 'timeout=5', 'x-public': '1', 'content-length': '2' })
      res.end('ok')
    }
  })
  try {
    gw.rewrite({
      upstreams: { hop: { nodes: [{ url: hop.url }] } },
      routes: [{ id: 'hop', match: { paths: ['/hop'] }, upstream: 'hop' }]
    })
    const outcome = await gw.gw.reloader.reload('test')
    assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
    const r = await get('/hop')
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-public'], '1')
    assert.equal(r.headers['x-internal'], undefined)
    assert.equal(r.headers['keep-alive'] === 'timeout=5', false)
  } finally {
    await hop.close()
  }
})

test('strip-prefix, prefix and template rewrites shape the forwarded path', async () => {
  assert.equal((JSON.parse((await get('/strip/a/b?q=1')).text) as Echo).url, '/a/b?q=1')
  assert.equal((JSON.parse((await get('/strip')).text) as Echo).url, '/')
  assert.equal((JSON.parse((await get('/old/x')).text) as Echo).url, '/new/x')
  assert.equal((JSON.parse((await get('/users/42')).text) as Echo).url, '/v2/accounts/42')
})

test('a rewrite on a pattern written with escapes cuts the canonical prefix', async () => {
  gw.rewrite({ ...baseConfig(), routes: [...baseConfig().routes, { id: 'tilde', match: { paths: ['/%7Euser/*'] }, upstream: 'a', rewrite: { stripPrefix: true } }] })
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  assert.equal((JSON.parse((await get('/~user/abc/def')).text) as Echo).url, '/abc/def')
  assert.equal((JSON.parse((await get('/%7euser/abc')).text) as Echo).url, '/abc')
})

test('Expect: 100-continue gets its 100 only when the request is proxied; a refused one never sees it', async () => {
  const tooBig = await rawRequest(gw.gw.port,
    'POST /echo/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n')
  assert.equal(tooBig.status, 413)
  assert.ok(!tooBig.raw.includes('100 Continue'), tooBig.raw)

  const ok = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
    const req = http.request(gw.url + '/echo/x', { method: 'POST', headers: { expect: '100-continue', 'content-length': 5 } })
    let continued = false
    req.on('continue', () => { continued = true; req.end('hello') })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
  })
  assert.equal(ok.continued, true)
  assert.equal(ok.status, 200)
  assert.equal((JSON.parse(ok.body) as Echo).bodyLength, 5)
})

test('a reload that changes trustedProxies applies to connections already open', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const xffSeen = async (): Promise<string> => new Promise((resolve, reject) => {
    http.get(gw.url + '/echo/trust', { agent, headers: { 'x-forwarded-for': '203.0.113.9' } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve((JSON.parse(body) as Echo).headers['x-forwarded-for']!))
    }).on('error', reject)
  })
  try {
    assert.equal(await xffSeen(), '127.0.0.1', 'untrusted peer: its X-Forwarded-For is replaced')
    gw.rewrite({ ...baseConfig(), server: { ...baseConfig().server, trustedProxies: ['127.0.0.1'] } })
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    assert.equal(await xffSeen(), '203.0.113.9, 127.0.0.1', 'same connection, now trusted: the chain is extended')
    const propagated = await get('/echo/rid', { 'x-request-id': 'edge-lb-7f3a' })
    assert.equal(propagated.headers['x-request-id'], 'edge-lb-7f3a', 'a trusted peer\'s request id is kept')
    assert.equal((JSON.parse(propagated.text) as Echo).headers['x-request-id'], 'edge-lb-7f3a')
    const malformed = await get('/echo/rid', { 'x-request-id': 'bad id with spaces' })
    assert.notEqual(malformed.headers['x-request-id'], 'bad id with spaces', 'a malformed one is replaced')
  } finally {
    agent.destroy()
  }
})

test('encoded dot-segments are normalised before routing and forwarding', async () => {
  const res = await get('/echo/%2e%2e/admin/panel')
  assert.equal(res.status, 200)
  const echo = JSON.parse(res.text) as Echo
  assert.equal(echo.url, '/admin/panel', 'the upstream sees the canonical path')
  assert.equal(echo.headers['x-area'], 'admin', 'and the route chosen is the one for that canonical path')
  const bad = await get('/echo/%zz')
  assert.equal(bad.status, 400)
  assert.equal((JSON.parse(bad.text) as { error: { code: string } }).error.code, 'GW_BAD_PATH')
})

test('smooth weighted round robin sends 3:1 exactly', async () => {
  const seen = { a: 0, b: 0 }
  for (let i = 0; i < 40; i++) {
    const echo = JSON.parse((await get('/weighted')).text) as Echo
    seen[echo.upstream as 'a' | 'b']++
  }
  assert.deepEqual(seen, { a: 30, b: 10 })
})

test('consistent hashing on a header keeps each key on one node; least-conn and random spread load', async () => {
  gw.rewrite({
    ...baseConfig(),
    upstreams: {
      ...baseConfig().upstreams,
      sticky: { balancer: 'chash', hashOn: 'header:x-user', nodes: [{ url: a.url }, { url: b.url }] },
      lc: { balancer: 'least-conn', nodes: [{ url: a.url }, { url: b.url }] },
      rnd: { balancer: 'random', nodes: [{ url: a.url }, { url: b.url }] }
    },
    routes: [...baseConfig().routes,
      { id: 'sticky', match: { paths: ['/sticky'] }, upstream: 'sticky' },
      { id: 'lc', match: { paths: ['/lc'] }, upstream: 'lc' },
      { id: 'rnd', match: { paths: ['/rnd'] }, upstream: 'rnd' }]
  })
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const owner = new Map<string, string>()
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 40; u++) {
      const echo = JSON.parse((await get('/sticky', { 'x-user': `user-${u}` })).text) as Echo
      const prev = owner.get(`user-${u}`)
      if (prev !== undefined) assert.equal(echo.upstream, prev, `user-${u} stays on ${prev}`)
      owner.set(`user-${u}`, echo.upstream)
    }
  }
  const perNode = [...owner.values()].reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>())
  assert.equal(perNode.size, 2, 'keys are spread over both nodes')
  for (const path of ['/lc', '/rnd']) {
    const seen = new Set<string>()
    for (let i = 0; i < 60; i++) seen.add((JSON.parse((await get(path)).text) as Echo).upstream)
    assert.deepEqual([...seen].sort(), ['a', 'b'], `${path} uses both nodes`)
  }
})

test('upstream errors map to 504 (timeout) and 502 (refused, reset)', async () => {
  const t0 = Date.now()
  const timedOut = await get('/slow')
  assert.equal(timedOut.status, 504)
  assert.equal((JSON.parse(timedOut.text) as { error: { code: string } }).error.code, 'GW_UPSTREAM_TIMEOUT')
  assert.ok(Date.now() - t0 < 1400, 'answered at the header timeout, not when the upstream finished')

  const refused = await get('/dead')
  assert.equal(refused.status, 502)
  assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'GW_UPSTREAM_REFUSED')

  // Reset mid-body: status already sent, so the client must see a cut connection, not a complete response.
  await assert.rejects(async () => {
    const res = await request(gw.url + '/reset')
    await res.body.arrayBuffer()
  })
})

test('every method is proxied as sent, HEAD without a body', async () => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const res = await request(gw.url + '/echo/m', { method: method as 'GET', body: method === 'GET' ? null : 'x' })
    const echo = await res.body.json() as Echo
    assert.equal(echo.method, method)
  }
  const head = await request(gw.url + '/echo/m', { method: 'HEAD' })
  assert.equal(head.statusCode, 200)
  assert.equal(await head.body.text(), '')
  assert.equal(a.requests.at(-1)!.method, 'HEAD')
})

test('an upstream that resets before answering gives 502; one that stalls mid-body is cut at the idle timeout', async () => {
  const rude = await startUpstream({ handler: (req) => { req.socket.destroy() } })
  const staller = await startUpstream({
    handler: (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('partial')
      // never finishes
    }
  })
  try {
    gw.rewrite({
      ...baseConfig(),
      upstreams: { ...baseConfig().upstreams, rude: { nodes: [{ url: rude.url }], retries: 0 }, staller: { nodes: [{ url: staller.url }], timeouts: { idle: '300ms' } } },
      routes: [...baseConfig().routes, { id: 'rude', match: { paths: ['/rude'] }, upstream: 'rude' }, { id: 'staller', match: { paths: ['/staller'] }, upstream: 'staller' }]
    })
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    const r = await get('/rude')
    assert.equal(r.status, 502)
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'GW_UPSTREAM_RESET')

    const t0 = Date.now()
    const res = await request(gw.url + '/staller')
    assert.equal(res.statusCode, 200, 'the status was already relayed')
    await assert.rejects(res.body.text(), 'the client sees the body cut, never a complete response')
    assert.ok(Date.now() - t0 < 5000, 'cut at the idle timeout, not left hanging')
  } finally {
    await rude.close()
    await staller.close()
  }
})

test('a refused node is retried once on another node, POST included: nothing of it was sent', async () => {
  for (let i = 0; i < 6; i++) {
    const res = await get('/half-dead')
    assert.equal(res.status, 200, 'GET retried on the live node')
  }
  // Round robin over two equal nodes: of 6 POSTs, 3 start on the dead one and are retried on the live one.
  const postsAtB = (): number => b.requests.filter((r) => r.method === 'POST' && r.url === '/half-dead').length
  const postsBefore = postsAtB()
  for (let i = 0; i < 6; i++) {
    const res = await request(gw.url + '/half-dead', { method: 'POST', body: 'x' })
    const echo = await res.body.json() as Echo
    assert.equal(res.statusCode, 200, 'POST retried on the live node')
    assert.equal(echo.bodyLength, 1)
  }
  assert.equal(postsAtB() - postsBefore, 6, 'each POST reached the live node exactly once')
})

test('the client going away aborts the upstream exchange', async () => {
  // An upstream that never answers, behind a header timeout far longer than the
  // test waits: only the client's abort can end the exchange in time.
  const hold = await startUpstream({ handler: () => {} })
  try {
    gw.rewrite({ ...baseConfig(), upstreams: { ...baseConfig().upstreams, hold: { nodes: [{ url: hold.url }], timeouts: { header: '60s' } } },
      routes: [...baseConfig().routes, { id: 'hold', match: { paths: ['/hold'] }, upstream: 'hold' }] })
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    const sock = net.connect(gw.gw.port, '127.0.0.1')
    sock.on('error', () => {})
    sock.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
    await until('the request reached the upstream', () => hold.inflight === 1)
    assert.equal(gw.gw.runtime.inflight, 1)
    sock.destroy()
    await until('the upstream exchange aborted with the client', () => hold.inflight === 0)
    await until('the gateway finished the request', () => gw.gw.runtime.inflight === 0)
    assert.equal(hold.requests.length, 1)
  } finally {
    await hold.close()
  }
})

test('keep-alive: consecutive requests reuse the upstream connection', async () => {
  const ports = new Set<number>()
  const probe = await startUpstream({
    handler: (req, res) => { ports.add(req.socket.remotePort ?? 0); res.end('ok') }
  })
  try {
    gw.rewrite({ ...baseConfig(), upstreams: { ...baseConfig().upstreams, probe: { nodes: [{ url: probe.url }] } },
      routes: [...baseConfig().routes, { id: 'probe', match: { paths: ['/probe'] }, upstream: 'probe' }] })
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        http.get(gw.url + '/probe', { agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
      })
    }
    agent.destroy()
    assert.equal(ports.size, 1, 'one upstream socket served all 20 sequential requests')
  } finally {
    await probe.close()
  }
})

function baseConfig (): { upstreams: Record<string, unknown>; routes: Array<Record<string, unknown>>; server: Record<string, unknown> } {
  return {
    server: { bodyLimit: '64kb' },
    upstreams: {
      a: { nodes: [{ url: a.url }] },
      ab: { nodes: [{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }] },
      slow: { nodes: [{ url: slow.url }], timeouts: { header: '300ms' } },
      resetter: { nodes: [{ url: resetter.url }] },
      halfDead: { nodes: [{ url: `http://127.0.0.1:${deadPort}` }, { url: b.url }] },
      dead: { nodes: [{ url: `http://127.0.0.1:${deadPort}` }] }
    },
    routes: [
      { id: 'echo', match: { paths: ['/echo/*'] }, upstream: 'a' },
      { id: 'big', match: { paths: ['/big/*'] }, upstream: 'a', bodyLimit: '8mb' },
      { id: 'strip', match: { paths: ['/strip/*'] }, upstream: 'a', rewrite: { stripPrefix: true } },
      { id: 'prefix', match: { paths: ['/old/*'] }, upstream: 'a', rewrite: { prefix: '/new' } },
      { id: 'template', match: { paths: ['/users/:id'] }, upstream: 'a', rewrite: { path: '/v2/accounts/:id' } },
      { id: 'weighted', match: { paths: ['/weighted'] }, upstream: 'ab' },
      { id: 'slow', match: { paths: ['/slow'] }, upstream: 'slow' },
      { id: 'reset', match: { paths: ['/reset'] }, upstream: 'resetter' },
      { id: 'half-dead', match: { paths: ['/half-dead'] }, upstream: 'halfDead' },
      { id: 'dead', match: { paths: ['/dead'] }, upstream: 'dead' },
      { id: 'admin-area', match: { paths: ['/admin/*'] }, upstream: 'a', plugins: { headers: { request: { set: { 'x-area': 'admin' } } } } }
    ]
  }
}

async function restoreConfig (): Promise<void> {
  gw.rewrite(baseConfig())
  const outcome = await gw.gw.reloader.reload('test')
  assert.notEqual(outcome.result, 'failed', outcome.errors.join('\n'))
}
