// The body phase (issue 9): on a route where a plugin needs the request body
// (PluginInstance.needsBody, here the probe plugin's `body: true`), the core
// reads the whole body before the access phases, hands the bytes to them in
// ctx.body and forwards exactly those bytes with a Content-Length; over the
// route's limit it answers 413 and sends nothing upstream. Other routes keep
// streaming. Real loopback upstream (the echo handler reports the sha256 of
// the body it received), raw sockets where the bytes matter.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { probe, probePluginModule } from '../helpers/probe-plugin.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawConnect, type RawResponse } from '../helpers/raw-http.js'
import { assertClosingRefusal } from '../helpers/envelope.js'
import { until } from '../helpers/until.js'
import { startFailingNode } from '../helpers/failing-node.js'

const LIMIT = 1024

interface Echo { bodyLength: number; bodySha256: string; headers: Record<string, string | undefined> }

let up: Upstream
let plugins: PluginRegistry
let gw: TestGateway

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

before(async () => {
  up = await startUpstream({ name: 'a' })
  plugins = await loadPluginRegistry([probePluginModule])
  gw = await startTestGateway({
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [
      { id: 'body', match: { paths: ['/body/*'] }, upstream: 'a', bodyLimit: LIMIT, plugins: { probe: { tag: 'body', body: true } } },
      { id: 'stream', match: { paths: ['/stream/*'] }, upstream: 'a', bodyLimit: LIMIT, plugins: { probe: { tag: 'stream', body: false, access: 'pass' } } }
    ]
  }, { plugins })
})

after(async () => {
  await gw.stop()
  await up.close()
})

/** The body the probe instance `tag` saw for the request answered by `r`. */
function seenBy (tag: string, r: RawResponse): Buffer | undefined {
  const id = r.headers['x-request-id']
  const e = probe.bodies.find((b) => b.tag === tag && b.requestId === id)
  assert.ok(e !== undefined, `probe ${tag} ran for ${String(id)}`)
  return e.body
}

/** The body forwarded arrived whole, as `bytes`, with a Content-Length and no Transfer-Encoding. */
function assertForwarded (r: RawResponse, bytes: Buffer, what: string): void {
  assert.equal(r.status, 200, `${what}: ${r.raw.slice(0, 300)}`)
  const echo = JSON.parse(r.body) as Echo
  assert.equal(echo.bodySha256, sha256(bytes), `${what}: the upstream received exactly the bytes`)
  assert.equal(echo.headers['content-length'], String(bytes.length), `${what}: content-length set`)
  assert.equal(echo.headers['transfer-encoding'], undefined, `${what}: no transfer-encoding`)
}

test('Content-Length body: the body plugin sees the exact bytes, and the upstream receives exactly them', async () => {
  const bytes = randomBytes(LIMIT)
  const c = await rawConnect(gw.gw.port)
  try {
    const r = await c.exchange(Buffer.concat([
      Buffer.from(`POST /body/x HTTP/1.1\r\nHost: gw\r\nContent-Length: ${bytes.length}\r\n\r\n`), bytes
    ]))
    assertForwarded(r, bytes, 'content-length')
    assert.deepEqual(seenBy('body', r), bytes)
  } finally {
    c.destroy()
  }
})

test('chunked body, sent in pieces: the body plugin sees the bytes joined, forwarded with a Content-Length', async () => {
  const parts = [randomBytes(100), randomBytes(1), randomBytes(400)]
  const bytes = Buffer.concat(parts)
  const c = await rawConnect(gw.gw.port)
  try {
    c.write('POST /body/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n')
    for (const p of parts) c.write(Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]))
    const r = await c.exchange('0\r\n\r\n')
    assertForwarded(r, bytes, 'chunked')
    assert.deepEqual(seenBy('body', r), bytes)
    // The connection stays usable.
    const again = await c.exchange('POST /body/y HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc')
    assertForwarded(again, Buffer.from('abc'), 'after chunked')
  } finally {
    c.destroy()
  }
})

test('a request without a body on a body route: ctx.body stays undefined, nothing is added upstream', async () => {
  const c = await rawConnect(gw.gw.port)
  try {
    const r = await c.exchange('GET /body/x HTTP/1.1\r\nHost: gw\r\n\r\n')
    assert.equal(r.status, 200)
    assert.equal(seenBy('body', r), undefined)
    assert.equal((JSON.parse(r.body) as Echo).headers['content-length'], undefined)
  } finally {
    c.destroy()
  }
})

test('over the route\'s limit: 413 GW_BODY_TOO_LARGE with connection: close; the plugins and the upstream see nothing', async () => {
  const seen = up.requests.length
  const accessed = probe.bodies.length
  // Chunked: counted as it arrives; the rest is never read.
  const c = await rawConnect(gw.gw.port)
  try {
    c.write('POST /body/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n')
    const big = randomBytes(LIMIT + 1)
    c.write(Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n')]))
    assert.ok(await c.closedWithin(3000), 'the gateway closes the connection')
    const r = await c.next()
    assertClosingRefusal(r, 413, 'GW_BODY_TOO_LARGE', 'chunked over the limit')
  } finally {
    c.destroy()
  }
  // Declared: refused at the head.
  const d = await rawConnect(gw.gw.port)
  try {
    d.write(`POST /body/x HTTP/1.1\r\nHost: gw\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`)
    assert.ok(await d.closedWithin(3000), 'the gateway closes the connection')
    const r = await d.next()
    assertClosingRefusal(r, 413, 'GW_BODY_TOO_LARGE', 'content-length over the limit')
  } finally {
    d.destroy()
  }
  assert.equal(up.requests.length, seen, 'nothing reached the upstream')
  assert.equal(probe.bodies.length, accessed, 'no access phase ran')
})

test('Expect: 100-continue on a body route: the 100 comes before the body is sent, and the request completes', async () => {
  const bytes = randomBytes(300)
  const c = await rawConnect(gw.gw.port)
  try {
    c.write(`POST /body/x HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: ${bytes.length}\r\n\r\n`)
    await until('the 100 Continue', () => c.raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n'))
    c.write(bytes)
    const r = await c.next()
    assert.deepEqual(r.interim.map((h) => h.status), [100])
    assertForwarded(r, bytes, 'expect')
    assert.deepEqual(seenBy('body', r), bytes)
  } finally {
    c.destroy()
  }
})

test('a route without a body plugin still streams: the upstream has the request before the client finished its body', async () => {
  const c = await rawConnect(gw.gw.port)
  try {
    const seen = up.requests.length
    c.write('POST /stream/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
    await until('the upstream receives the streamed request', () => up.requests.length > seen)
    const r = await c.exchange('6\r\n world\r\n0\r\n\r\n')
    assert.equal(r.status, 200)
    const echo = JSON.parse(r.body) as Echo
    assert.equal(echo.bodySha256, sha256(Buffer.from('hello world')))
    assert.equal(echo.headers['transfer-encoding'], 'chunked', 'streamed as it came')
    assert.equal(seenBy('stream', r), undefined, 'ctx.body is not set')
  } finally {
    c.destroy()
  }
})

test('a client that goes away mid-body: nothing is sent upstream, the gateway goes on serving', async () => {
  const seen = up.requests.length
  const lines = gw.logs.length
  const c = await rawConnect(gw.gw.port)
  c.write('POST /body/gone HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nonly part')
  await until('the request reached the gateway', () => c.raw === '' && gw.gw.runtime.inflight > 0)
  c.destroy()
  await until('its access log line', () => gw.logs.slice(lines).find((l) => l.path === '/body/gone'))
  assert.equal(up.requests.length, seen)
  const d = await rawConnect(gw.gw.port)
  try {
    assertForwarded(await d.exchange('POST /body/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nok'), Buffer.from('ok'), 'after')
  } finally {
    d.destroy()
  }
})

test('a global body plugin applies to every route; a client stalling its body is ended by server.requestTimeout', async (t) => {
  const g = await startTestGateway({
    server: { headersTimeout: '500ms', requestTimeout: '1s' },
    plugins: { probe: { tag: 'global', body: true } },
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'a' }]
  }, { plugins })
  t.after(() => g.stop())
  const bytes = randomBytes(2000)
  const c = await rawConnect(g.gw.port)
  try {
    c.write('POST /plain/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n')
    c.write(Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]))
    const r = await c.exchange('0\r\n\r\n')
    assertForwarded(r, bytes, 'global')
    assert.deepEqual(seenBy('global', r), bytes)
  } finally {
    c.destroy()
  }

  const seen = up.requests.length
  const started = Date.now()
  const stalled = new Promise<{ data: string; closedAfterMs: number }>((resolve, reject) => {
    const sock = net.connect(g.gw.port, '127.0.0.1')
    let data = ''
    sock.setEncoding('latin1')
    sock.on('connect', () => sock.write('POST /plain/slow HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc'))
    sock.on('data', (s: string) => { data += s })
    sock.on('close', () => resolve({ data, closedAfterMs: Date.now() - started }))
    sock.on('error', reject)
  })
  const r = await stalled
  assert.match(r.data, /^HTTP\/1\.1 408 /)
  assert.match(r.data, /"code":"GW_REQUEST_TIMEOUT"/)
  assert.ok(r.closedAfterMs < 5000, `closed after ${r.closedAfterMs} ms`)
  assert.equal(up.requests.length, seen, 'nothing reached the upstream')
})

test('a buffered body can be sent again: a PUT reset after it was sent is retried on another node with the same bytes; a POST is not', async (t) => {
  const resetter = await startFailingNode('reset')
  const g = await startTestGateway({
    upstreams: { a: { nodes: [{ url: resetter.url }, { url: up.url }], retries: 1 } },
    routes: [{ id: 'r', match: { paths: ['/r/*'] }, upstream: 'a', plugins: { probe: { tag: 'retry', body: true } } }]
  }, { plugins })
  t.after(async () => { await g.stop(); await resetter.close() })
  const bytes = randomBytes(500)
  for (let i = 0; i < 4; i++) {
    const path = `/r/put/${i}`
    const c = await rawConnect(g.gw.port)
    try {
      const r = await c.exchange(Buffer.concat([Buffer.from(`PUT ${path} HTTP/1.1\r\nHost: gw\r\nContent-Length: ${bytes.length}\r\n\r\n`), bytes]))
      assertForwarded(r, bytes, path)
    } finally {
      c.destroy()
    }
  }
  assert.equal(resetter.requests.filter((q) => q.target.startsWith('/r/put/')).length, 2, 'round robin sent two PUTs to the resetting node first')
  assert.ok(resetter.requests.every((q) => q.bodyLength === bytes.length), 'the reset attempts had the whole body')

  let failed = 0
  for (let i = 0; i < 4; i++) {
    const c = await rawConnect(g.gw.port)
    try {
      const r = await c.exchange(`POST /r/post/${i} HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nok`)
      if (r.status === 502) failed++
      else assert.equal(r.status, 200)
    } finally {
      c.destroy()
    }
  }
  assert.equal(failed, 2, 'a POST reset after it was sent is never sent again')
})
