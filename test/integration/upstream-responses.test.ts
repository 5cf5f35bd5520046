// Upstream responses of unusual shape, written as exact bytes by a raw TCP
// upstream: interim 1xx heads before the final response, and bodiless
// statuses (204, 304, an answer to HEAD) that announce a Content-Length. The
// client must get each as what it is, and its connection must stay usable.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startRawUpstream, type RawUpstream, type RawUpstreamRequest } from '../helpers/raw-upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawConnect, type RawConnection, type RawResponse } from '../helpers/raw-http.js'

const FINAL = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'

const ANSWERS: Record<string, string> = {
  '/u/early-hints': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n' +
    'Link: </app.js>; rel=preload; as=script\r\nX-Hint: yes\r\nContent-Length: 9\r\nConnection: x-hint\r\n\r\n' + FINAL,
  '/u/hints-without-link': 'HTTP/1.1 103 Early Hints\r\nX-Hint: yes\r\n\r\n' + FINAL,
  '/u/hints-odd-link': 'HTTP/1.1 103 Early Hints\r\nLink: <x>; title="a b"\r\n\r\n' + FINAL,
  '/u/processing': 'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n' + FINAL,
  '/u/continue': 'HTTP/1.1 100 Continue\r\n\r\n' + FINAL,
  '/u/unknown-1xx': 'HTTP/1.1 199 Whatever\r\nX-Info: 1\r\n\r\n' + FINAL,
  '/u/not-modified': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nCache-Control: max-age=60\r\nContent-Length: 1234\r\n\r\n',
  '/u/no-content': 'HTTP/1.1 204 No Content\r\nX-Done: 1\r\nContent-Length: 7\r\n\r\n',
  '/u/no-content-chunked': 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n',
  '/u/head': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n',
  '/u/next': 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext'
}

/** Routes /u/* (one node) and /p/* (two nodes) get the same answers. */
function respond (req: RawUpstreamRequest): string {
  return ANSWERS[req.target.replace(/^\/p\//, '/u/')] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'
}

let up: RawUpstream
let up2: RawUpstream
let gw: TestGateway
const conns: RawConnection[] = []

before(async () => {
  up = await startRawUpstream(respond)
  up2 = await startRawUpstream(respond)
  gw = await startTestGateway({
    upstreams: {
      raw: { nodes: [{ url: up.url }] },
      pair: { nodes: [{ url: up.url }, { url: up2.url }], retries: 1 }
    },
    routes: [
      { id: 'u', match: { paths: ['/u/*'] }, upstream: 'raw' },
      { id: 'p', match: { paths: ['/p/*'] }, upstream: 'pair' }
    ]
  })
})

after(async () => {
  for (const c of conns) c.destroy()
  await gw.stop()
  await up.close()
  await up2.close()
})

async function connect (): Promise<RawConnection> {
  const c = await rawConnect(gw.gw.port)
  conns.push(c)
  return c
}

function get (path: string, version = '1.1', extra = ''): string {
  return `GET ${path} HTTP/${version}\r\nHost: gw\r\n${extra}\r\n`
}

/** The final response is the upstream's 200 `hello`, intact. */
function assertHello (r: RawResponse, what: string): void {
  assert.equal(r.status, 200, `${what}: final status\n${r.raw}`)
  assert.equal(r.headers['content-type'], 'text/plain', what)
  assert.equal(r.headers['content-length'], '5', what)
  assert.equal(r.body, 'hello', what)
}

/** A second request on the same socket works, and nothing stray came before its answer. */
async function assertStillUsable (c: RawConnection, what: string): Promise<void> {
  assert.equal(c.pending.length, 0, `${what}: no bytes past the response: ${JSON.stringify(c.pending.toString('latin1'))}`)
  const r = await c.exchange(get('/u/next'))
  assert.equal(r.statusLine, 'HTTP/1.1 200 OK', `${what}: second request on the same socket\n${r.raw}`)
  assert.equal(r.interim.length, 0, what)
  assert.equal(r.body, 'next', what)
  assert.equal(c.closed, false, `${what}: connection still open`)
}

// --- 1xx interim responses ---

test('103 Early Hints: relayed to an HTTP/1.1 client with its Link headers, then the final 200 intact; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/early-hints'))
  assert.equal(r.interim.length, 1, `one interim response\n${r.interim.map((h) => h.raw).join('\n---\n')}`)
  const hints = r.interim[0]!
  assert.equal(hints.status, 103)
  assert.equal(hints.headers.link, '</style.css>; rel=preload; as=style, </app.js>; rel=preload; as=script')
  assert.equal(hints.headers['content-length'], undefined, 'no Content-Length in a 1xx (RFC 9110 8.6)')
  assert.equal(hints.headers['x-hint'], undefined, 'a header the upstream listed in Connection is not relayed')
  assertHello(r, '103')
  await assertStillUsable(c, '103')
})

test('103 without a Link, or with one Node refuses to write: dropped; the final 200 arrives intact; the socket stays usable', async () => {
  const c = await connect()
  for (const path of ['/u/hints-without-link', '/u/hints-odd-link']) {
    const r = await c.exchange(get(path))
    assert.equal(r.interim.length, 0, `${path}\n${r.interim.map((h) => h.raw).join('\n')}`)
    assertHello(r, path)
  }
  await assertStillUsable(c, '103 dropped')
})

test('102 Processing (twice): relayed as bare interim heads, then the final 200 intact; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/processing'))
  assert.deepEqual(r.interim.map((h) => h.statusLine), ['HTTP/1.1 102 Processing', 'HTTP/1.1 102 Processing'])
  assertHello(r, '102')
  await assertStillUsable(c, '102')
})

test('an unknown 1xx is dropped: the final 200 arrives intact; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/unknown-1xx'))
  assert.equal(r.interim.length, 0)
  assertHello(r, '199')
  await assertStillUsable(c, '199')
})

test('an HTTP/1.0 client never receives a 1xx, only the final response', async () => {
  const c = await connect()
  for (const path of ['/u/early-hints', '/u/processing']) {
    const r = await c.exchange(get(path, '1.0', 'Connection: keep-alive\r\n'))
    assert.equal(r.interim.length, 0, `${path}: no interim response to HTTP/1.0\n${r.interim.map((h) => h.raw).join('\n')}`)
    assertHello(r, `HTTP/1.0 ${path}`)
  }
  assert.equal(c.closed, false)
})

test('with Expect: 100-continue the client gets the gateway\'s 100, then the upstream\'s 103, then the final 200 intact', async () => {
  const c = await connect()
  const r = await c.exchange('POST /u/early-hints HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody')
  assert.deepEqual(r.interim.map((h) => h.status), [100, 103], r.interim.map((h) => h.raw).join('\n---\n'))
  assertHello(r, 'Expect + 103')
  await assertStillUsable(c, 'Expect + 103')
})

// undici 7 refuses a 100 on HTTP/1.1 (it never sends Expect upstream): it drops
// the upstream connection, so the final response that followed is lost. The
// client must get an honest 502, never the upstream's 100 (nor a second one).
test('100 Continue from the upstream: never relayed; 502 GW_UPSTREAM_BAD_RESPONSE, not retried; the socket stays usable', async () => {
  const c = await connect()
  const seen = up.requests.length + up2.requests.length
  const r = await c.exchange(get('/p/continue'))
  assert.equal(r.interim.length, 0, r.interim.map((h) => h.raw).join('\n'))
  assert.equal(r.status, 502, r.raw)
  assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'GW_UPSTREAM_BAD_RESPONSE')
  assert.equal(up.requests.length + up2.requests.length, seen + 1, 'sent upstream once: a GET on a two-node upstream is not retried')
  await assertStillUsable(c, '100')

  const p = await c.exchange('POST /u/continue HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody')
  assert.deepEqual(p.interim.map((h) => h.statusLine), ['HTTP/1.1 100 Continue'], 'only the gateway\'s own 100')
  assert.equal(p.status, 502, p.raw)
  assert.equal((JSON.parse(p.body) as { error: { code: string } }).error.code, 'GW_UPSTREAM_BAD_RESPONSE')
  await assertStillUsable(c, 'Expect + 100')
})

// --- bodiless statuses ---

test('304 with Content-Length: the client gets the 304 without a body, Content-Length kept; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/not-modified', '1.1', 'If-None-Match: "v1"\r\n'))
  assert.equal(r.statusLine, 'HTTP/1.1 304 Not Modified', r.raw)
  assert.equal(r.headers.etag, '"v1"')
  assert.equal(r.headers['cache-control'], 'max-age=60')
  assert.equal(r.headers['content-length'], '1234', 'the representation length, as RFC 9110 8.6 allows on a 304')
  assert.equal(r.headers['transfer-encoding'], undefined)
  await assertStillUsable(c, '304')
})

test('204 with Content-Length: the client gets the 204 without a body, Content-Length or Transfer-Encoding; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/no-content'))
  assert.equal(r.statusLine, 'HTTP/1.1 204 No Content', r.raw)
  assert.equal(r.headers['x-done'], '1')
  assert.equal(r.headers['content-length'], undefined, 'no Content-Length on a 204 (RFC 9110 8.6)')
  assert.equal(r.headers['transfer-encoding'], undefined)
  await assertStillUsable(c, '204')
})

test('204 with Transfer-Encoding: chunked: the client gets the 204 without a body or framing headers; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange(get('/u/no-content-chunked'))
  assert.equal(r.statusLine, 'HTTP/1.1 204 No Content', r.raw)
  assert.equal(r.headers['content-length'], undefined)
  assert.equal(r.headers['transfer-encoding'], undefined)
  await assertStillUsable(c, '204 chunked')
})

test('HEAD answered with Content-Length and no body: the client gets the head with that Content-Length and no body; the socket stays usable', async () => {
  const c = await connect()
  const r = await c.exchange('HEAD /u/head HTTP/1.1\r\nHost: gw\r\n\r\n', { bodiless: true })
  assert.equal(r.statusLine, 'HTTP/1.1 200 OK', r.raw)
  assert.equal(r.headers['content-length'], '42')
  assert.equal(r.headers['transfer-encoding'], undefined)
  await assertStillUsable(c, 'HEAD')
})
