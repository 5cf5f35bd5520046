// Hostile input, as exact bytes on a raw socket: request smuggling shapes,
// oversized heads, bad tokens, missing Host, path traversal. The gateway must
// answer with its JSON envelope, close the connection after a malformed
// request, and never let such a request (or a smuggled one) reach an upstream.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { assertEnvelope, assertClosingRefusal, type Envelope } from '../helpers/envelope.js'

let up: Upstream
let gw: TestGateway

before(async () => {
  up = await startUpstream({ name: 'a' })
  gw = await startTestGateway({
    upstreams: {
      a: { nodes: [{ url: up.url }] },
      based: { nodes: [{ url: up.url + '/base' }] }
    },
    routes: [
      { id: 'a', match: { paths: ['/a/*'] }, upstream: 'a' },
      { id: 's', match: { paths: ['/s/*'] }, upstream: 'based', rewrite: { stripPrefix: true } }
    ]
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

/** A malformed request: 400-class envelope, `connection: close`, the socket closed, nothing upstream. */
async function assertRefused (bytes: string, status: number, code: string, what: string): Promise<void> {
  const seen = up.requests.length
  assertClosingRefusal(await rawRequest(gw.gw.port, bytes, { timeoutMs: 3000 }), status, code, what)
  assert.equal(up.requests.length, seen, `${what}: the upstream never saw it: ${JSON.stringify(up.requests.slice(seen).map((q) => q.url))}`)
}

test('sanity: a well-formed request on the same raw path is proxied', async () => {
  const r = await rawRequest(gw.gw.port, 'GET /a/ok HTTP/1.1\r\nHost: gw\r\n\r\n')
  assert.equal(r.status, 200)
  assert.equal((JSON.parse(r.body) as { url: string }).url, '/a/ok')
  assert.equal(r.closed, false)
})

test('Content-Length together with Transfer-Encoding: 400, connection closed, nothing reaches the upstream', async () => {
  const smuggled = 'GET /a/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n'
  await assertRefused(`POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    400, 'GW_BAD_REQUEST', 'CL.TE')
  await assertRefused(`POST /a/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\n${smuggled}`,
    400, 'GW_BAD_REQUEST', 'TE.CL')
  await assertRefused(`POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    400, 'GW_BAD_REQUEST', 'CL + TE list')
  assert.equal(up.requests.filter((q) => q.url === '/a/smuggled').length, 0)
})

test('duplicate conflicting Content-Length: 400, closed, nothing upstream', async () => {
  await assertRefused('POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400, 'GW_BAD_REQUEST', 'CL 5 + CL 6')
  await assertRefused('POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5, 6\r\n\r\nhello!', 400, 'GW_BAD_REQUEST', 'CL "5, 6"')
  await assertRefused('POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: -1\r\n\r\n', 400, 'GW_BAD_REQUEST', 'CL -1')
})

test('a Transfer-Encoding that is not chunked, and a bad chunk size: 400 envelope (not a silent close)', async () => {
  await assertRefused('POST /a/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n', 400, 'GW_BAD_REQUEST', 'TE gzip')
  await assertRefused('POST /a/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400, 'GW_BAD_REQUEST', 'bad chunk size')
})

test('a 20 KB header: 431 envelope, closed', async () => {
  await assertRefused(`GET /a/x HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431, 'GW_HEADERS_TOO_LARGE', '20 KB header')
  // Many small headers adding up past the limit too.
  const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(50)}\r\n`).join('')
  await assertRefused(`GET /a/x HTTP/1.1\r\nHost: gw\r\n${many}\r\n`, 431, 'GW_HEADERS_TOO_LARGE', '400 headers of 50 bytes')
})

test('invalid method token and other malformed heads: 400 envelope, closed', async () => {
  await assertRefused('G@T /a/x HTTP/1.1\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_REQUEST', 'method G@T')
  await assertRefused('GET\t/a/x HTTP/1.1\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_REQUEST', 'tab after method')
  await assertRefused('GET /a/x HTTP/1.1\r\nHost: gw\r\nX-Bad : y\r\n\r\n', 400, 'GW_BAD_REQUEST', 'space before colon')
  await assertRefused('GET /a/x HTTP/1.1\r\nHost: gw\r\nX-A: y\r\n folded\r\n\r\n', 400, 'GW_BAD_REQUEST', 'obs-fold')
  await assertRefused('GET /a/x HTTP/9.9\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_REQUEST', 'HTTP/9.9')
})

test('HTTP/1.1 without Host: 400 envelope, closed, nothing upstream; HTTP/1.0 without Host is fine', async () => {
  await assertRefused('GET /a/x HTTP/1.1\r\n\r\n', 400, 'GW_BAD_REQUEST', 'no Host')
  await assertRefused('GET /a/x HTTP/1.1\r\nUser-Agent: t\r\n\r\n', 400, 'GW_BAD_REQUEST', 'no Host, other headers')
  const r = await rawRequest(gw.gw.port, 'GET /a/x HTTP/1.0\r\n\r\n')
  assert.equal(r.status, 200)
})

test('repeated or invalid Host: 400 envelope, closed, nothing upstream', async () => {
  await assertRefused('GET /a/x HTTP/1.1\r\nHost: gw\r\nHost: other.example\r\n\r\n', 400, 'GW_BAD_REQUEST', 'two Host lines')
  await assertRefused('GET /a/x HTTP/1.1\r\nHost: evil.example/../a\r\n\r\n', 400, 'GW_BAD_REQUEST', 'a path in Host')
  await assertRefused('GET /a/x HTTP/1.1\r\nHost: user@evil.example\r\n\r\n', 400, 'GW_BAD_REQUEST', 'userinfo in Host')
})

test('absolute-form targets are accepted: the authority replaces Host and the path is routed as usual', async () => {
  const seen = up.requests.length
  const r = await rawRequest(gw.gw.port, 'GET http://api.example:8080/a/abs?q=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n')
  assert.equal(r.status, 200, r.raw.slice(0, 300))
  const got = up.requests[seen]!
  assert.equal(got.url, '/a/abs?q=1', 'the upstream gets origin-form')
  assert.equal(got.headers.host, 'api.example:8080')
  assert.equal(got.headers['x-forwarded-host'], 'api.example:8080')
  const bad = await rawRequest(gw.gw.port, 'GET ftp://x.example/a/abs HTTP/1.1\r\nHost: gw\r\n\r\n')
  assertEnvelope(bad, 400, 'GW_BAD_PATH', 'a non-http absolute target')
  const traversal = await rawRequest(gw.gw.port, 'GET http://gw/a/../../etc HTTP/1.1\r\nHost: gw\r\n\r\n')
  assertEnvelope(traversal, 404, 'GW_ROUTE_NOT_FOUND', 'absolute-form path is normalised like any other')
})

test('bytes RFC 3986 never allows in a URI are refused in the path (GW_BAD_PATH) and pass through in the query', async () => {
  // Node's parser accepts all of them; the gateway must not forward them in a path.
  // ('#', '[' and ']' delimit other parts of a URI and are no path data either.)
  for (const b of ['"', '<', '>', '`', '{', '}', '|', '^', '#', '[', ']']) {
    await assertRefused(`GET /a/x${b}y HTTP/1.1\r\nHost: gw\r\n\r\n`, 400, 'GW_BAD_PATH', `${b} in the path`)
    await assertRefused(`GET /a/${b} HTTP/1.1\r\nHost: gw\r\n\r\n`, 400, 'GW_BAD_PATH', `${b} as a whole segment`)
    await assertRefused(`GET /a/%2e%2e/a/${b}/ HTTP/1.1\r\nHost: gw\r\n\r\n`, 400, 'GW_BAD_PATH', `${b} in a path that is not canonical`)
    await assertRefused(`GET http://gw/a/x${b}y HTTP/1.1\r\nHost: gw\r\n\r\n`, 400, 'GW_BAD_PATH', `${b} in an absolute-form path`)
    // The query string keeps its lenient handling: forwarded byte for byte.
    const seen = up.requests.length
    const target = `/a/x?q=${b}&r=a${b}b${b}`
    const r = await rawRequest(gw.gw.port, `GET ${target} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    assert.equal(r.status, 200, `${b} in the query: ${r.raw.slice(0, 300)}`)
    assert.equal(up.requests.length, seen + 1)
    assert.equal(up.requests[seen]!.url, target, `${b} in the query reaches the upstream unchanged`)
  }
  // Escaped, the same bytes are ordinary path data.
  const seen = up.requests.length
  const escaped = '/a/%22%3C%3E%60%7B%7D%7C%5E'
  const r = await rawRequest(gw.gw.port, `GET ${escaped} HTTP/1.1\r\nHost: gw\r\n\r\n`)
  assert.equal(r.status, 200, r.raw.slice(0, 300))
  assert.equal(up.requests[seen]!.url, escaped)
})

test('a malformed request after a good one on the same keep-alive connection still gets its 400 envelope', async () => {
  const seen = up.requests.length
  const got = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(gw.gw.port, '127.0.0.1')
    let data = ''
    let sentBad = false
    sock.setEncoding('latin1')
    sock.on('connect', () => sock.write('GET /a/first HTTP/1.1\r\nHost: gw\r\n\r\n'))
    sock.on('data', (s: string) => {
      data += s
      if (!sentBad && data.includes('"url":"/a/first"')) {
        sentBad = true
        sock.write('POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')
      }
    })
    sock.on('close', () => resolve(data))
    sock.on('error', reject)
    setTimeout(() => { sock.destroy(); reject(new Error(`no close in time; got: ${data}`)) }, 3000).unref()
  })
  const responses = got.split(/(?=HTTP\/1\.1 )/)
  assert.equal(responses.length, 2, got)
  assert.match(responses[0]!, /^HTTP\/1\.1 200 /)
  assert.match(responses[1]!, /^HTTP\/1\.1 400 Bad Request\r\n/)
  assert.match(responses[1]!, /\r\nconnection: close\r\n/)
  assert.match(responses[1]!, /"code":"GW_BAD_REQUEST"/)
  assert.equal(up.requests.length, seen + 1)
})

test('dot-segment traversal never reaches the upstream outside the routed prefix', async () => {
  const seen = up.requests.length
  const attempts = [
    '/a/%2e%2e/%2e%2e/etc/passwd',
    '/a/%2E%2E/%2E%2E/etc/passwd',
    '/a/../../etc/passwd',
    '/a/..%2f..%2fetc/passwd',
    '/a/%2e%2e%2f%2e%2e%2fetc/passwd',
    '/a/.%2e/.%2e/etc/passwd',
    '/a/%2e./%2e./etc/passwd',
    '/a/x/../../../etc/passwd',
    '/a//..//..//etc/passwd',
    '/s/%2e%2e/%2e%2e/etc/passwd',
    '/s/x/%2e%2e/%2e%2e/%2e%2e/etc/passwd'
  ]
  for (const p of attempts) {
    const r = await rawRequest(gw.gw.port, `GET ${p} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    // Each one resolves to /etc/passwd: no route there.
    assertEnvelope(r, 404, 'GW_ROUTE_NOT_FOUND', p)
  }
  assert.equal(up.requests.length, seen, `none reached the upstream: ${JSON.stringify(up.requests.slice(seen).map((q) => q.url))}`)

  // `..;` is what servlet containers turn into `..` after routing: refused outright.
  assertEnvelope(await rawRequest(gw.gw.port, 'GET /a/x/..;/..;/etc HTTP/1.1\r\nHost: gw\r\n\r\n'), 400, 'GW_BAD_PATH', '..; segments')
  assert.equal(up.requests.length, seen)

  // Paths that stay inside the prefix are forwarded in canonical form, still inside it.
  const inside: Array<[string, string]> = [
    ['/a/x/%2e%2e/y', '/a/y'],
    ['/a/%252e%252e/%252e%252e/etc', '/a/%252e%252e/%252e%252e/etc'], // double-encoded stays literal
    ['/s/x/%2e%2e/y', '/base/y'],
    ['/s/%2e%2e', '/base/'],
    ['/a/%2e%2e', '/a/']
  ]
  for (const [p, expected] of inside) {
    const r = await rawRequest(gw.gw.port, `GET ${p} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    if (r.status === 404) {
      assertEnvelope(r, 404, 'GW_ROUTE_NOT_FOUND', p)
      continue
    }
    assert.equal(r.status, 200, `${p}: ${r.raw.slice(0, 300)}`)
    assert.equal((JSON.parse(r.body) as { url: string }).url, expected, p)
  }
  for (const q of up.requests.slice(seen)) {
    assert.ok(q.url.startsWith('/a/') || q.url.startsWith('/base/'), `upstream saw ${q.url} outside the routed prefix`)
  }

  // Backslashes and NUL are refused outright.
  for (const p of ['/a/..%5c..%5cetc/passwd', '/a/..\\..\\etc', '/a/x%00.txt']) {
    const r = await rawRequest(gw.gw.port, `GET ${p} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    if (r.headers['content-type'] === 'application/json; charset=utf-8' && r.status === 400) {
      const env = JSON.parse(r.body) as Envelope
      assert.ok(env.error.code === 'GW_BAD_PATH' || env.error.code === 'GW_BAD_REQUEST', `${p}: ${env.error.code}`)
    } else {
      assert.fail(`${p}: expected a 400 envelope, got ${r.raw.slice(0, 200)}`)
    }
  }
  for (const q of up.requests.slice(seen)) assert.ok(!q.url.includes('etc/passwd') || q.url.startsWith('/a/'), q.url)
})

test('slowloris: a client that never finishes its headers gets 408 and is closed; others are served meanwhile', async (t) => {
  const slowGw = await startTestGateway({
    server: { headersTimeout: '600ms', requestTimeout: '2s' },
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'a', match: { paths: ['/a/*'] }, upstream: 'a' }]
  })
  t.after(() => slowGw.stop())
  const started = Date.now()
  const slow = new Promise<{ data: string; closedAfterMs: number }>((resolve, reject) => {
    const sock = net.connect(slowGw.gw.port, '127.0.0.1')
    let data = ''
    sock.setEncoding('latin1')
    sock.on('connect', () => sock.write('GET /a/slow HTTP/1.1\r\nHost: gw\r\nX-Drip: '))
    // One byte now and then, never the end of the head.
    const drip = setInterval(() => { if (!sock.destroyed) sock.write('x') }, 100)
    sock.on('data', (s: string) => { data += s })
    sock.on('close', () => { clearInterval(drip); resolve({ data, closedAfterMs: Date.now() - started }) })
    sock.on('error', reject)
  })
  // A well-behaved client on another connection is answered while the slow one drips.
  const ok = await rawRequest(slowGw.gw.port, 'GET /a/fast HTTP/1.1\r\nHost: gw\r\n\r\n')
  assert.equal(ok.status, 200)
  const r = await slow
  assert.match(r.data, /^HTTP\/1\.1 408 /)
  assert.match(r.data, /"code":"GW_REQUEST_TIMEOUT"/)
  assert.ok(r.closedAfterMs < 5000, `closed after ${r.closedAfterMs} ms`)
})

test('path tricks: the route chosen and the path sent upstream come from the same canonical form', async (t) => {
  const adminUp = await startUpstream({ name: 'admin' })
  const g = await startTestGateway({
    upstreams: { api: { nodes: [{ url: up.url }] }, admin: { nodes: [{ url: adminUp.url }] } },
    routes: [
      { id: 'api', match: { paths: ['/api/*'] }, upstream: 'api' },
      { id: 'admin', match: { paths: ['/admin/*'] }, upstream: 'admin' }
    ]
  })
  t.after(async () => { await g.stop(); await adminUp.close() })
  // [raw path, expected status, upstream name (or '' for none), path the upstream must see]
  const table: Array<[string, number, string, string]> = [
    ['/api/x', 200, 'a', '/api/x'],
    ['/api/../admin/x', 200, 'admin', '/admin/x'],
    ['/api/%2e%2e/admin/x', 200, 'admin', '/admin/x'],
    ['/api/.%2e/admin/x', 200, 'admin', '/admin/x'],
    ['/api/..%2fadmin/x', 200, 'admin', '/admin/x'],
    ['/api/%2E%2E%2Fadmin/x', 200, 'admin', '/admin/x'],
    ['//admin/x', 200, 'admin', '/admin/x'],
    ['/api//x', 200, 'a', '/api/x'],
    ['/%61dmin/x', 200, 'admin', '/admin/x'],
    ['/api/a%2Fb', 200, 'a', '/api/a/b'],
    ['/api/%252e%252e/admin', 200, 'a', '/api/%252e%252e/admin'],
    // Only the hex case of escapes differs from the canonical form: the client's own bytes are forwarded.
    ['/api/na%c3%afve', 200, 'a', '/api/na%c3%afve'],
    ['/api/%C3%a9%3a%3A', 200, 'a', '/api/%C3%a9%3a%3A'],
    // Anything else normalisation changed: the canonical form is forwarded, whole.
    ['/api/%c3%a9//x', 200, 'a', '/api/%C3%A9/x'],
    ['/api/%41/%c3%a9', 200, 'a', '/api/A/%C3%A9'],
    ['/api/./%c3%a9', 200, 'a', '/api/%C3%A9'],
    ['/api/..%2f%61dmin/%c3%a9', 200, 'admin', '/admin/%C3%A9'],
    ['/API/x', 404, '', ''],
    ['/admin;x=y/x', 404, '', ''],
    ['/api/..;/admin/x', 400, '', ''],
    ['/api/%5Cadmin', 400, '', ''],
    ['/admin%00/x', 400, '', '']
  ]
  for (const [raw, status, upstream, seen] of table) {
    const before = { a: up.requests.length, admin: adminUp.requests.length }
    const r = await rawRequest(g.gw.port, `GET ${raw} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`)
    assert.equal(r.status, status, `${raw}: status`)
    const gotA = up.requests.slice(before.a)
    const gotAdmin = adminUp.requests.slice(before.admin)
    if (upstream === '') {
      assert.equal(gotA.length + gotAdmin.length, 0, `${raw}: nothing reaches any upstream`)
      continue
    }
    const got = upstream === 'admin' ? gotAdmin : gotA
    const other = upstream === 'admin' ? gotA : gotAdmin
    assert.equal(got.length, 1, `${raw}: reaches ${upstream}`)
    assert.equal(other.length, 0, `${raw}: and only ${upstream}`)
    assert.equal(got[0]!.url, seen, `${raw}: the upstream sees the canonical path (or the client's, when only hex case differs)`)
  }
})
