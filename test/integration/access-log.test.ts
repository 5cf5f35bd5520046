// The access log line of requests the gateway refuses before routing: it
// carries what was known (the request target and Host as received, the peer,
// the status and code), and leaves out what was not, never writing '' or null.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'
import { until } from '../helpers/until.js'

let up: Upstream
let gw: TestGateway

before(async () => {
  up = await startUpstream({ name: 'a' })
  gw = await startTestGateway({
    server: { maxUriLength: '1kb' },
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'a', match: { paths: ['/a/*'] }, upstream: 'a' }]
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

type Line = Record<string, unknown>

const accessLines = (): Line[] => gw.logs.filter((l) => l.msg === 'access')

/** Sends raw bytes; returns the answer and the access log lines the request wrote (waits until it is over). */
async function exchange (bytes: string): Promise<{ r: RawResponse; lines: Line[] }> {
  const seen = accessLines().length
  const r = await rawRequest(gw.gw.port, bytes, { timeoutMs: 3000 })
  await until('the request is over', () => gw.gw.runtime.inflight === 0)
  await until('its access line', () => accessLines().length > seen)
  return { r, lines: accessLines().slice(seen) }
}

/** The fields every line of a refused request has, and none it must not have. */
function assertRefusedLine (line: Line, status: number, code: string, what: string): void {
  assert.equal(line.status, status, `${what}: status`)
  assert.equal(line.error, code, `${what}: error`)
  assert.equal(line.clientIp, '127.0.0.1', `${what}: clientIp`)
  for (const k of ['route', 'upstream', 'node', 'upstreamMs']) assert.equal(k in line, false, `${what}: no ${k}`)
}

test('a request refused before routing is logged with the target and Host it had (query left out, huge values cut)', async () => {
  // [request bytes, status, code, expected host (undefined: absent), expected path]
  const long = '/a/' + 'x'.repeat(2000)
  const table: Array<[string, number, string, string | undefined, string]> = [
    ['GET /a/..;/x?token=s3cret HTTP/1.1\r\nHost: Gw.Example:8080\r\n\r\n', 400, 'GW_BAD_PATH', 'Gw.Example:8080', '/a/..;/x'],
    ['GET /a/x%00y HTTP/1.1\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_PATH', 'gw', '/a/x%00y'],
    ['GET ftp://files.example/a/x HTTP/1.1\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_PATH', 'gw', 'ftp://files.example/a/x'],
    ['GET /a/x HTTP/1.1\r\nHost: user@evil.example\r\n\r\n', 400, 'GW_BAD_REQUEST', 'user@evil.example', '/a/x'],
    ['GET /a/x HTTP/1.1\r\nHost: gw\r\nHost: other.example\r\n\r\n', 400, 'GW_BAD_REQUEST', 'gw', '/a/x'],
    ['GET /a/x HTTP/1.1\r\nUser-Agent: t\r\n\r\n', 400, 'GW_BAD_REQUEST', undefined, '/a/x'],
    [`GET ${long}?q=1 HTTP/1.1\r\nHost: gw\r\n\r\n`, 414, 'GW_URI_TOO_LONG', 'gw', long.slice(0, 256) + '…'],
    [`GET /a/x HTTP/1.1\r\nHost: ${'h'.repeat(600)}/\r\n\r\n`, 400, 'GW_BAD_REQUEST', 'h'.repeat(256) + '…', '/a/x']
  ]
  for (const [bytes, status, code, host, path] of table) {
    const what = bytes.slice(0, 60)
    const { r, lines } = await exchange(bytes)
    assert.equal(r.status, status, `${what}: ${r.raw.slice(0, 200)}`)
    assert.equal(lines.length, 1, `${what}: one access line`)
    const line = lines[0]!
    assertRefusedLine(line, status, code, what)
    assert.equal(line.reqId, r.headers['x-request-id'], `${what}: reqId`)
    assert.equal(line.method, 'GET', `${what}: method`)
    assert.equal(line.host, host, `${what}: host`)
    assert.equal('host' in line, host !== undefined, `${what}: host absent when not sent`)
    assert.equal(line.path, path, `${what}: path`)
    assert.equal(line.attempts, 0, `${what}: attempts`)
  }
})

test('a target Fastify\'s router cannot decode (%-escape that is not UTF-8) is answered and logged by the gateway like any refused request', async () => {
  for (const target of ['/a/%zz', '/a/%C0%80?x=1']) {
    const { r, lines } = await exchange(`GET ${target} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    assert.equal(r.status, 400, r.raw.slice(0, 200))
    const rid = r.headers['x-request-id']
    assert.match(String(rid), /^[0-9a-f-]{36}$/)
    assert.equal((JSON.parse(r.body) as { error: { code: string; requestId: string } }).error.requestId, rid)
    assert.equal(lines.length, 1, `${target}: one access line`)
    assertRefusedLine(lines[0]!, 400, 'GW_BAD_PATH', target)
    assert.equal(lines[0]!.reqId, rid)
    assert.equal(lines[0]!.path, target.split('?')[0])
    assert.equal(lines[0]!.host, 'gw')
  }
})

test('a request Node\'s parser refuses is logged once with what is known: peer, status, code', async () => {
  const heads: Array<[string, number, string]> = [
    ['G@T /a/x HTTP/1.1\r\nHost: gw\r\n\r\n', 400, 'GW_BAD_REQUEST'],
    ['GET /a/x HTTP/1.1\r\nHost: gw\r\nX-Bad : y\r\n\r\n', 400, 'GW_BAD_REQUEST'],
    [`GET /a/x HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431, 'GW_HEADERS_TOO_LARGE']
  ]
  for (const [bytes, status, code] of heads) {
    const what = bytes.slice(0, 40)
    const { r, lines } = await exchange(bytes)
    assert.equal(r.status, status, what)
    assert.equal(lines.length, 1, `${what}: one access line`)
    assertRefusedLine(lines[0]!, status, code, what)
    // No request existed: no id, method, host or path to tell.
    for (const k of ['reqId', 'method', 'host', 'path']) assert.equal(k in lines[0]!, false, `${what}: no ${k}`)
  }
  // A body the parser refuses after the head went to the gateway: that request's own line tells it.
  const { r, lines } = await exchange('POST /a/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n')
  assert.equal(r.status, 400)
  assert.equal(lines.length, 1, `one access line: ${JSON.stringify(lines)}`)
  assert.equal(lines[0]!.status, 400)
  assert.equal(lines[0]!.error, 'GW_BAD_REQUEST')
  assert.equal(lines[0]!.method, 'POST')
})

test('access log lines never hold empty or null values: a field without a value is left out', async () => {
  const ok = await rawRequest(gw.gw.port, 'GET /a/fine HTTP/1.0\r\n\r\n')
  assert.equal(ok.status, 200)
  await until('its access line', () => accessLines().some((l) => l.reqId === ok.headers['x-request-id']))
  const line = accessLines().find((l) => l.reqId === ok.headers['x-request-id'])!
  assert.equal('host' in line, false, 'HTTP/1.0 without Host: host not known')
  assert.equal(line.path, '/a/fine')
  assert.equal(line.route, 'a')
  assert.ok(accessLines().length > 10)
  for (const l of accessLines()) {
    for (const [k, v] of Object.entries(l)) assert.ok(v !== '' && v !== null, `${k} is ${JSON.stringify(v)} in ${JSON.stringify(l)}`)
  }
})
