// HTTP/1.1 framing and connection handling on the client side, as exact bytes
// on raw sockets: Transfer-Encoding on HTTP/1.0, pipelined requests followed by
// a malformed one, refusals that leave a body unread, a request line too long
// for the head buffer, and Upgrade requests that are not WebSocket.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawConnect, rawRequest } from '../helpers/raw-http.js'
import { assertEnvelope, assertClosingRefusal } from '../helpers/envelope.js'
import { until } from '../helpers/until.js'

let up: Upstream
/** Answers nothing until the test does: `held` are its pending responses. */
let slow: Upstream
const held: ServerResponse[] = []
let gw: TestGateway
const BODY_LIMIT = 1024

before(async () => {
  up = await startUpstream({ name: 'a' })
  slow = await startUpstream({
    name: 'slow',
    handler: (req, res) => {
      req.resume()
      held.push(res)
    }
  })
  gw = await startTestGateway({
    upstreams: { a: { nodes: [{ url: up.url }] }, slow: { nodes: [{ url: slow.url }] } },
    routes: [
      { id: 'a', match: { paths: ['/a/*'] }, upstream: 'a', bodyLimit: BODY_LIMIT },
      { id: 'slow', match: { paths: ['/slow/*'] }, upstream: 'slow' },
      { id: 'cors', match: { paths: ['/c/*'] }, upstream: 'a', plugins: { cors: { allowOrigins: ['https://ok.example'] } } }
    ]
  })
})

after(async () => {
  await gw.stop()
  await up.close()
  await slow.close()
})

/** A refusal: this envelope, `connection: close`, the socket closed by the gateway, one response only. */
async function assertRefusedAndClosed (bytes: string, status: number, code: string, what: string): Promise<void> {
  assertClosingRefusal(await rawRequest(gw.gw.port, bytes, { timeoutMs: 3000 }), status, code, what)
}

/** Waits until no request is in flight in the gateway: whatever it was going to send upstream, it has. */
async function gatewayIdle (): Promise<void> {
  await until('the gateway has no request in flight', () => gw.gw.runtime.inflight === 0)
}

// --- 1. Transfer-Encoding on HTTP/1.0 ---

test('HTTP/1.0 with Transfer-Encoding: 400 envelope, closed, nothing (not even what follows) reaches the upstream', async () => {
  const seen = up.requests.length
  const smuggled = 'GET /a/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n'
  const cases: Array<[string, string]> = [
    ['chunked body', 'POST /a/x HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['chunked, keep-alive, a request behind it', `POST /a/x HTTP/1.0\r\nHost: gw\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['head only, body still to come', 'POST /a/x HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['no Host, GET', 'GET /a/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']
  ]
  for (let i = 0; i < 5; i++) {
    for (const [what, bytes] of cases) await assertRefusedAndClosed(bytes, 400, 'GW_BAD_REQUEST', what)
  }
  await gatewayIdle()
  assert.deepEqual(up.requests.slice(seen).map((q) => q.url), [], 'the upstream received nothing')
  // HTTP/1.0 without Transfer-Encoding is still served.
  const ok = await rawRequest(gw.gw.port, 'POST /a/x HTTP/1.0\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello')
  assert.equal(ok.status, 200)
  assert.equal((JSON.parse(ok.body) as { bodyLength: number }).bodyLength, 5)
})

// --- 2. a valid request pipelined before a malformed one ---

test('pipelined valid requests then a malformed one: each valid one answered in order, then the 400, then close', async () => {
  const seen = up.requests.length
  const conn = await rawConnect(gw.gw.port)
  conn.write('GET /a/first HTTP/1.1\r\nHost: gw\r\n\r\nGET /a/second HTTP/1.1\r\nHost: gw\r\n\r\nG@T /a/x HTTP/1.1\r\nHost: gw\r\n\r\n')
  const first = await conn.next()
  assert.equal(first.status, 200, first.raw)
  assert.equal((JSON.parse(first.body) as { url: string }).url, '/a/first')
  const second = await conn.next()
  assert.equal(second.status, 200, second.raw)
  assert.equal((JSON.parse(second.body) as { url: string }).url, '/a/second')
  const bad = await conn.next()
  assertEnvelope(bad, 400, 'GW_BAD_REQUEST', 'the malformed third request')
  assert.equal(bad.headers.connection, 'close')
  assert.equal(await conn.closedWithin(3000), true, 'the gateway closes after the 400')
  assert.deepEqual(up.requests.slice(seen).map((q) => q.url), ['/a/first', '/a/second'])
})

test('a slow upstream answer for the valid request still goes out before the 400 for the malformed one behind it', async () => {
  const conn = await rawConnect(gw.gw.port)
  const heldBefore = held.length
  conn.write('GET /slow/1 HTTP/1.1\r\nHost: gw\r\n\r\nGET /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')
  await until('the slow upstream holds the request', () => held.length === heldBefore + 1)
  assert.equal(conn.closed, false, 'the connection is still open while the valid request is pending')
  held[heldBefore]!.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4 }).end('late')
  const first = await conn.next()
  assert.equal(first.status, 200, first.raw)
  assert.equal(first.body, 'late')
  const bad = await conn.next()
  assertEnvelope(bad, 400, 'GW_BAD_REQUEST', 'the malformed request behind the slow one')
  assert.equal(await conn.closedWithin(3000), true, 'the gateway closes after the 400')
})

test('a head too large behind a pending request: the pending answer first, then 431, then close', async () => {
  const conn = await rawConnect(gw.gw.port)
  const heldBefore = held.length
  conn.write(`GET /slow/2 HTTP/1.1\r\nHost: gw\r\n\r\nGET /a/x HTTP/1.1\r\nHost: gw\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`)
  await until('the slow upstream holds the request', () => held.length === heldBefore + 1)
  held[heldBefore]!.writeHead(200, { 'content-length': 2 }).end('ok')
  const first = await conn.next()
  assert.equal(first.status, 200, first.raw)
  assertEnvelope(await conn.next(), 431, 'GW_HEADERS_TOO_LARGE', 'the oversized head behind the slow one')
  assert.equal(await conn.closedWithin(3000), true)
})

test('a parse error inside the body of a request already being handled still gets its 400 at once', async () => {
  const conn = await rawConnect(gw.gw.port)
  const heldBefore = held.length
  conn.write('POST /slow/3 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
  await until('the slow upstream has the request', () => held.length === heldBefore + 1)
  conn.write('zz\r\n')
  assertEnvelope(await conn.next(), 400, 'GW_BAD_REQUEST', 'bad chunk size mid-body')
  assert.equal(await conn.closedWithin(3000), true)
  held[heldBefore]!.destroy()
})

// --- 3. refusals that leave a request body unread close the connection ---

test('a refusal that leaves the request body unread answers connection: close and closes the socket', async () => {
  const seen = up.requests.length
  const cases: Array<[string, string, number, string]> = [
    ['413 for a declared length', `POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: ${BODY_LIMIT + 1}\r\n\r\n`, 413, 'GW_BODY_TOO_LARGE'],
    ['404 with a declared body', 'POST /nowhere HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n', 404, 'GW_ROUTE_NOT_FOUND'],
    ['404 with a chunked body', 'POST /nowhere HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n', 404, 'GW_ROUTE_NOT_FOUND'],
    ['403 from a plugin', 'OPTIONS /c/x HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nContent-Length: 100\r\n\r\n', 403, 'GW_CORS_ORIGIN_DENIED'],
    ['400 bad path', 'POST /a/x%00 HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n', 400, 'GW_BAD_PATH'],
    ['400 bad escape (refused by the router)', 'POST /a/%zz HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n', 400, 'GW_BAD_PATH']
  ]
  for (const [what, bytes, status, code] of cases) await assertRefusedAndClosed(bytes, status, code, what)

  // A plugin's direct (non-error) answer that leaves the body unread: same rule.
  const preflight = await rawRequest(gw.gw.port,
    'OPTIONS /c/x HTTP/1.1\r\nHost: gw\r\nOrigin: https://ok.example\r\nAccess-Control-Request-Method: POST\r\nContent-Length: 100\r\n\r\n', { timeoutMs: 3000 })
  assert.equal(preflight.status, 204, preflight.raw)
  assert.equal(preflight.headers.connection, 'close', 'preflight with an unread body: connection: close')
  assert.equal(preflight.closed, true, 'preflight with an unread body: the gateway closed the connection')
  await gatewayIdle()
  assert.equal(up.requests.length, seen, 'none of them reached the upstream')
})

test('a request whose body was fully read keeps its connection: the next request is served on it', async () => {
  const conn = await rawConnect(gw.gw.port)
  conn.write('POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello')
  const r = await conn.next()
  assert.equal(r.status, 200, r.raw)
  assert.equal((JSON.parse(r.body) as { bodyLength: number }).bodyLength, 5)
  assert.notEqual(r.headers.connection, 'close')
  conn.write('GET /a/again HTTP/1.1\r\nHost: gw\r\n\r\n')
  const again = await conn.next()
  assert.equal(again.status, 200, again.raw)
  assert.equal(conn.closed, false)
  conn.destroy()
})

// --- 7. request line too long for the head buffer: 414, not 431 ---

test('a request target longer than the head buffer is a 414; oversized header fields stay 431', async () => {
  for (const size of [20 * 1024, 100 * 1024]) {
    await assertRefusedAndClosed(`GET /a/${'u'.repeat(size)} HTTP/1.1\r\nHost: gw\r\n\r\n`, 414, 'GW_URI_TOO_LONG', `${size} byte target`)
  }
  // Behind a request on the same connection, in the same packet.
  const conn = await rawConnect(gw.gw.port)
  conn.write(`GET /a/ok HTTP/1.1\r\nHost: gw\r\n\r\nGET /a/${'u'.repeat(20 * 1024)} HTTP/1.1\r\nHost: gw\r\n\r\n`)
  assert.equal((await conn.next()).status, 200)
  assertEnvelope(await conn.next(), 414, 'GW_URI_TOO_LONG', 'long target behind a good request')
  assert.equal(await conn.closedWithin(3000), true)
  // A target that fits, with header fields that do not: 431.
  await assertRefusedAndClosed(`GET /a/${'u'.repeat(6 * 1024)} HTTP/1.1\r\nHost: gw\r\nX-Big: ${'h'.repeat(12 * 1024)}\r\n\r\n`,
    431, 'GW_HEADERS_TOO_LARGE', 'short target, big header')
  await assertRefusedAndClosed(`GET /a/x HTTP/1.1\r\nHost: gw\r\nX-Big: ${'h'.repeat(100 * 1024)}\r\n\r\n`, 431, 'GW_HEADERS_TOO_LARGE', '100 KB header')
})

// --- 8. Upgrade to something other than WebSocket is ignored ---

test('Upgrade: h2c is ignored: served as plain HTTP/1.1, the upstream sees no Upgrade, HTTP2-Settings or Connection: upgrade', async () => {
  const seen = up.requests.length
  const get = await rawRequest(gw.gw.port,
    'GET /a/h2c HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n')
  assert.equal(get.status, 200, get.raw.slice(0, 300))
  assert.equal((JSON.parse(get.body) as { url: string }).url, '/a/h2c')
  assert.equal(get.headers.upgrade, undefined)

  const post = await rawRequest(gw.gw.port,
    'POST /a/h2c-body HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\nContent-Length: 5\r\n\r\nhello')
  assert.equal(post.status, 200, post.raw.slice(0, 300))
  assert.equal((JSON.parse(post.body) as { bodyLength: number }).bodyLength, 5)

  const chunked = await rawRequest(gw.gw.port,
    'POST /a/other HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: foo/2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
  assert.equal(chunked.status, 200, chunked.raw.slice(0, 300))
  assert.equal((JSON.parse(chunked.body) as { bodyLength: number }).bodyLength, 5)

  const got = up.requests.slice(seen)
  assert.deepEqual(got.map((q) => q.url), ['/a/h2c', '/a/h2c-body', '/a/other'])
  for (const q of got) {
    assert.equal(q.headers.upgrade, undefined, `${q.url}: no Upgrade upstream`)
    assert.equal(q.headers['http2-settings'], undefined, `${q.url}: no HTTP2-Settings upstream`)
    assert.doesNotMatch(String(q.headers.connection ?? ''), /upgrade/i, `${q.url}: no Connection: upgrade upstream`)
  }
  assert.equal(got[1]!.body.toString(), 'hello')
  assert.equal(got[2]!.body.toString(), 'hello')
})

test('after an ignored Upgrade the gateway answers connection: close and closes (bytes pipelined behind it would be lost)', async () => {
  const conn = await rawConnect(gw.gw.port)
  conn.write('GET /a/h2c HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')
  const r = await conn.next()
  assert.equal(r.status, 200, r.raw)
  assert.equal(r.headers.connection, 'close')
  assert.equal(await conn.closedWithin(3000), true)
})

test('a pipelined request still waiting its turn when the client leaves is finished: nothing stays in flight', async () => {
  const heldBefore = held.length
  const conn = await rawConnect(gw.gw.port)
  // The first is held by the upstream; the second waits behind it for the socket.
  conn.write('GET /slow/one HTTP/1.1\r\nHost: gw\r\n\r\nGET /slow/two HTTP/1.1\r\nHost: gw\r\n\r\n')
  await until('the slow upstream holds both requests', () => held.length === heldBefore + 2)
  assert.equal(gw.gw.runtime.inflight, 2)
  conn.destroy()
  for (const res of held.slice(heldBefore)) res.writeHead(200, { 'content-length': 2 }).end('ok')
  await until('no request left in flight', () => gw.gw.runtime.inflight === 0)
  const lines = gw.logs.filter((l) => l.msg === 'access' && String(l.path).startsWith('/slow/'))
  assert.equal(lines.filter((l) => l.path === '/slow/two').length, 1, 'the queued request is logged once')
})
