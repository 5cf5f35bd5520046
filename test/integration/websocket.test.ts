// WebSocket proxying through a real gateway to a real `ws` server on loopback.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket, WebSocketServer } from 'ws'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { metric } from '../helpers/metrics.js'
import { rawRequest } from '../helpers/raw-http.js'
import { until } from '../helpers/until.js'

let wss: WebSocketServer
let wsUrl: string
let gw: TestGateway
/** Upgrade requests the upstream accepted, with their server-side sockets. */
const accepted: Array<{ url: string; headers: IncomingMessage['headers']; ws: WebSocket; closed: Promise<number> }> = []

before(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  wsUrl = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`
  wss.on('connection', (ws, req) => {
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    accepted.push({ url: req.url ?? '', headers: req.headers, ws, closed })
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data.toString()}`, { binary: isBinary }))
  })
  gw = await startTestGateway({
    upstreams: { ws: { nodes: [{ url: wsUrl }] } },
    routes: [
      { id: 'live', match: { paths: ['/live/*'] }, upstream: 'ws', websocket: true, rewrite: { stripPrefix: true } },
      { id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'ws' }
    ]
  })
})

after(async () => {
  await gw.stop()
  for (const c of wss.clients) c.terminate()
  await new Promise<void>((resolve) => wss.close(() => resolve()))
})

function wsBase (): string {
  return gw.url.replace(/^http/, 'ws')
}

/** Opens a client; resolves with it and the 101 response's headers. */
function open (path: string): Promise<{ ws: WebSocket; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsBase() + path)
    let headers: IncomingMessage['headers'] = {}
    ws.once('upgrade', (res) => { headers = res.headers })
    ws.once('open', () => resolve({ ws, headers }))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`unexpected response ${res.statusCode}`))
    })
  })
}

/** Attempts an upgrade that the gateway is expected to refuse: status, headers and body. */
function refused (path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsBase() + path)
    ws.once('open', () => { ws.terminate(); reject(new Error('upgrade unexpectedly accepted')) })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    ws.once('error', (err) => reject(err))
  })
}

function nextMessage (ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })))
}

test('a websocket route proxies the upgrade; messages echo both ways; x-request-id on the 101', async () => {
  const before = accepted.length
  const { ws, headers } = await open('/live/chat?room=1')
  assert.match(String(headers['x-request-id']), /^[0-9a-f-]{36}$/)
  assert.equal(String(headers.upgrade).toLowerCase(), 'websocket')
  assert.equal(accepted.length, before + 1)
  const server = accepted[before]!
  assert.equal(server.url, '/chat?room=1', 'strip-prefix rewrite applies to the upgrade request')
  assert.equal(server.headers['x-request-id'], headers['x-request-id'], 'the upstream saw the same request id')
  assert.equal(server.headers['x-forwarded-for'], '127.0.0.1')

  for (const text of ['hello', 'second message', 'x'.repeat(70_000)]) {
    const got = nextMessage(ws)
    ws.send(text)
    const m = await got
    assert.equal(m.isBinary, false)
    assert.equal(m.data.toString(), `echo:${text}`)
  }
  const bin = Buffer.from([0, 1, 2, 255, 254])
  const got = nextMessage(ws)
  ws.send(bin)
  const m = await got
  assert.equal(m.isBinary, true)
  assert.deepEqual(Buffer.from(m.data), bin)

  // Server-initiated message.
  const pushed = nextMessage(ws)
  server.ws.send('push')
  assert.equal((await pushed).data.toString(), 'push')

  // Closing the client closes the upstream socket, and the request is finished in the gateway.
  assert.equal(gw.gw.runtime.inflight, 1, 'the open websocket counts as one request in flight')
  ws.close(1000, 'bye')
  const code = await Promise.race([server.closed, sleep(3000).then(() => -1)])
  assert.equal(code, 1000, 'the upstream saw the client close')
  await until('the gateway finished the websocket request', () => gw.gw.runtime.inflight === 0)
  await until('no upstream clients left', () => wss.clients.size === 0)
  const access = gw.logs.find((l) => l.msg === 'access' && l.reqId === headers['x-request-id'])
  assert.ok(access, 'an access log line for the websocket session, written when it ends')
  assert.equal(access.route, 'live')
})

test('a websocket session is logged and counted with status 101', async () => {
  const sessions = async (): Promise<number> =>
    metric(await (await fetch(gw.adminUrl + '/metrics')).text(), 'gateway_requests_total', { route: 'live', method: 'GET', status: '1xx' }) ?? 0
  const counted = await sessions()
  const opened = performance.now()
  const { ws, headers } = await open('/live/status')
  const handshakeMs = performance.now() - opened
  ws.close()
  await until('the gateway finished the websocket request', () => gw.gw.runtime.inflight === 0)
  const access = gw.logs.find((l) => l.msg === 'access' && l.reqId === headers['x-request-id'])
  assert.ok(access)
  assert.equal(access.status, 101)
  assert.equal(access.aborted, undefined, 'a completed session is not logged as aborted')
  const upstreamMs = access.upstreamMs as number
  assert.ok(upstreamMs >= 0 && upstreamMs <= handshakeMs, `upstreamMs ${upstreamMs} is the upstream handshake time (<= ${handshakeMs})`)
  assert.equal(await sessions(), counted + 1, 'the session is counted once, in the 1xx class')
})

test('terminating the client (no close frame) tears down the upstream connection', async () => {
  const before = accepted.length
  const { ws } = await open('/live/t')
  assert.equal(accepted.length, before + 1)
  const upstreamSocket = accepted[before]!
  ws.terminate()
  const code = await Promise.race([upstreamSocket.closed, sleep(3000).then(() => -1)])
  assert.equal(code, 1006, 'the upstream socket closed abnormally, as the client did')
  await until('gateway in-flight back to 0', () => gw.gw.runtime.inflight === 0)
})

test('the upstream closing ends the client connection', async () => {
  const before = accepted.length
  const { ws } = await open('/live/s')
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  accepted[before]!.ws.close(4000, 'server says bye')
  assert.equal(await Promise.race([closed, sleep(3000).then(() => -1)]), 4000)
  await until('gateway in-flight back to 0', () => gw.gw.runtime.inflight === 0)
})

test('an upgrade on a route without websocket: 400 GW_WEBSOCKET_NOT_ALLOWED envelope, nothing sent upstream', async () => {
  const before = accepted.length
  const r = await refused('/plain/x')
  assert.equal(r.status, 400)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
  const env = JSON.parse(r.body) as { error: { status: number; code: string; requestId: string } }
  assert.equal(env.error.status, 400)
  assert.equal(env.error.code, 'GW_WEBSOCKET_NOT_ALLOWED')
  assert.equal(env.error.requestId, r.headers['x-request-id'])
  assert.equal(accepted.length, before)
  await until('gateway in-flight back to 0', () => gw.gw.runtime.inflight === 0)
})

test('an upgrade on an unknown path: 404 GW_ROUTE_NOT_FOUND envelope', async () => {
  const r = await refused('/nowhere')
  assert.equal(r.status, 404)
  const env = JSON.parse(r.body) as { error: { status: number; code: string; requestId: string } }
  assert.equal(env.error.code, 'GW_ROUTE_NOT_FOUND')
  assert.equal(env.error.requestId, r.headers['x-request-id'])
  await until('gateway in-flight back to 0', () => gw.gw.runtime.inflight === 0)
})

test('a refused upgrade closes the connection and finishes the request (exact bytes)', async () => {
  const upgrade = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  for (const [path, status, code] of [['/plain/x', 400, 'GW_WEBSOCKET_NOT_ALLOWED'], ['/nowhere', 404, 'GW_ROUTE_NOT_FOUND'], ['/live/%zz', 400, 'GW_BAD_PATH']] as const) {
    const logged = gw.logs.filter((l) => l.msg === 'access').length
    const r = await rawRequest(gw.gw.port, upgrade(path), { timeoutMs: 3000 })
    assert.equal(r.status, status, path)
    assert.equal(r.headers.connection, 'close', path)
    assert.equal(r.closed, true, `${path}: the gateway closed the connection after its answer`)
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, code)
    await until('gateway in-flight back to 0', () => gw.gw.runtime.inflight === 0)
    await until('access line written', () => gw.logs.filter((l) => l.msg === 'access').length === logged + 1)
    const line = gw.logs.filter((l) => l.msg === 'access').at(-1)!
    assert.equal(line.status, status)
  }
})

test('an upstream that refuses the upgrade: its answer is relayed and the connection closed', async (t) => {
  const { startUpstream } = await import('../helpers/upstream.js')
  const deny = await startUpstream({ handler: (_req, res) => { res.writeHead(403, { 'content-type': 'text/plain' }); res.end('no') } })
  const g = await startTestGateway({
    upstreams: { d: { nodes: [{ url: deny.url }] } },
    routes: [{ id: 'd', match: { paths: ['/d'] }, upstream: 'd', websocket: true }]
  })
  t.after(async () => { await g.stop(); await deny.close() })
  const r = await rawRequest(g.gw.port, 'GET /d HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', { timeoutMs: 3000 })
  assert.equal(r.status, 403)
  assert.equal(r.body, 'no')
  assert.equal(r.closed, true)
  await until('gateway in-flight back to 0', () => g.gw.runtime.inflight === 0)
})

test('a non-websocket Upgrade header is ignored: a plain request (the ws upstream answers it 426), never a tunnel, then close', async () => {
  const before = accepted.length
  const r = await rawRequest(gw.gw.port,
    'GET /live/x HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')
  // RFC 9110 7.8: the server may ignore Upgrade. `ws` answers a plain GET with 426 Upgrade Required.
  assert.equal(r.status, 426, r.raw.slice(0, 300))
  assert.equal(r.headers.connection, 'close')
  assert.equal(r.closed, true)
  assert.equal(accepted.length, before)
})
