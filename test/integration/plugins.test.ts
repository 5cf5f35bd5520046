// The plugin chain through a real gateway: cors (access phase answering a
// preflight itself, response phase adding headers) and headers (editing what
// goes upstream and what comes back), plus their option validation; and, with
// a test plugin loaded as an extra plugin module, the paths no shipped plugin
// takes: async access phases, a failing access phase, close() on retirement,
// and the log phase running exactly once.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import { request } from 'undici'
import { loadConfig, formatIssue } from '../../gateway/config/load-config.js'
import { loadPluginRegistry } from '../../plugins/registry.js'
import { loggedFor, probe, probePluginModule } from '../helpers/probe-plugin.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'

let up: Upstream
let gw: TestGateway

before(async () => {
  up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'text/plain', server: 'secret-version/1.2', 'x-echo-tenant': String(req.headers['x-tenant'] ?? '') })
      res.end('ok')
    }
  })
  gw = await startTestGateway({
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [
      {
        id: 'api',
        match: { paths: ['/api/*'] },
        upstream: 'app',
        plugins: {
          cors: { allowOrigins: ['https://app.example.com'], allowCredentials: true, exposeHeaders: ['x-request-id'] },
          headers: { request: { set: { 'x-tenant': 'blue-team' }, remove: ['cookie'] }, response: { remove: ['server'] } }
        }
      },
      { id: 'open', match: { paths: ['/open/*'] }, upstream: 'app', plugins: { cors: {} } }
    ]
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

test('a CORS preflight from an allowed origin is answered at the edge', async () => {
  const before = up.requests.length
  const res = await request(gw.url + '/api/orders', {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-sig' }
  })
  await res.body.text()
  assert.equal(res.statusCode, 204)
  assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com')
  assert.equal(res.headers['access-control-allow-credentials'], 'true')
  assert.equal(res.headers['access-control-allow-headers'], 'content-type, x-sig')
  assert.match(String(res.headers['access-control-allow-methods']), /POST/)
  assert.equal(res.headers['access-control-max-age'], '600')
  assert.ok(res.headers['x-request-id'])
  assert.equal(up.requests.length, before, 'the upstream never sees the preflight')
})

test('a preflight from another origin is refused with 403 in the envelope', async () => {
  const res = await request(gw.url + '/api/orders', {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' }
  })
  assert.equal(res.statusCode, 403)
  const env = await res.body.json() as { error: { code: string } }
  assert.equal(env.error.code, 'GW_CORS_ORIGIN_DENIED')
  assert.equal(res.headers['access-control-allow-origin'], undefined)
})

test('actual requests get CORS headers only for allowed origins; headers plugin edits both directions', async () => {
  const res = await request(gw.url + '/api/orders', { headers: { origin: 'https://app.example.com', cookie: 'session=1' } })
  assert.equal(await res.body.text(), 'ok')
  assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com')
  assert.equal(res.headers['access-control-expose-headers'], 'x-request-id')
  assert.equal(res.headers.vary, 'Origin')
  assert.equal(res.headers.server, undefined, 'response header removed')
  assert.equal(res.headers['x-echo-tenant'], 'blue-team', 'request header set before proxying')
  const seen = up.requests.at(-1)!
  assert.equal(seen.headers.cookie, undefined, 'request header removed before proxying')

  const other = await request(gw.url + '/api/orders', { headers: { origin: 'https://evil.example.net' } })
  await other.body.text()
  assert.equal(other.statusCode, 200)
  assert.equal(other.headers['access-control-allow-origin'], undefined)
})

test('cors with defaults allows any origin with "*"', async () => {
  const res = await request(gw.url + '/open/x', { headers: { origin: 'https://anything.example' } })
  await res.body.text()
  assert.equal(res.headers['access-control-allow-origin'], '*')
  assert.equal(res.headers.vary, undefined)
})

test('plugin options are validated with file:line:column', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-plugins-'))
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, [
    'upstreams:',
    '  app: { nodes: [ { url: "http://127.0.0.1:1" } ] }',
    'routes:',
    '  - id: a',
    '    match: { paths: ["/a"] }',
    '    upstream: app',
    '    plugins:',
    '      cors:',
    '        allowCredentials: true',
    '      headers:',
    '        request:',
    '          set: { x-n: 5 }',
    ''
  ].join('\n'))
  const result = loadConfig(file)
  assert.equal(result.ok, false)
  const lines = result.ok ? [] : result.issues.map(formatIssue).map((l) => l.replace(/^.*gateway\.yaml/, 'gateway.yaml'))
  assert.ok(lines.some((l) => /^gateway\.yaml:9:\d+: .*cors.*allowCredentials cannot be combined/.test(l)), lines.join('\n'))
  assert.ok(lines.some((l) => /^gateway\.yaml:12:\d+: .*x-n.*must be a string/.test(l)), lines.join('\n'))
  fs.rmSync(dir, { recursive: true, force: true })
})

// --- extra plugins: the probe plugin (test/helpers/probe-plugin.ts) ----------

// A broken plugin path tends to hang a request rather than fail it: each test has a time limit.
let pgw: TestGateway
/** Answers 200 at once, except /hold (never answers) and /stall (headers and part of the body, then nothing). */
let probeUp: Upstream

function probeConfig (extraRoutes: Array<Record<string, unknown>> = []): Record<string, unknown> {
  const route = (id: string, access: string): Record<string, unknown> =>
    ({ id, match: { paths: [`/${id}/*`] }, upstream: 'app', plugins: { probe: { tag: id, access } } })
  return {
    upstreams: { app: { nodes: [{ url: probeUp.url }], timeouts: { header: '60s' } } },
    routes: [
      route('pass', 'pass-async'), route('answer', 'answer-async'), route('throw', 'throw'), route('reject', 'reject'),
      route('plain', 'none'), route('hold', 'none'), route('stall', 'none'), ...extraRoutes
    ]
  }
}

before(async () => {
  probeUp = await startUpstream({
    handler: (req, res) => {
      req.resume()
      if (req.url?.startsWith('/hold/') === true) return
      if (req.url?.startsWith('/stall/') === true) {
        res.writeHead(200, { 'content-length': '1000' })
        res.write('partial')
        return
      }
      res.end(`upstream saw x-probe=${String(req.headers['x-probe'])}`)
    }
  })
  pgw = await startTestGateway(probeConfig(), { plugins: await loadPluginRegistry([probePluginModule]) })
})

after(async () => {
  await pgw.stop()
  await probeUp.close()
})

// Every test starts from the same config, whatever the one before reloaded.
beforeEach(async () => {
  pgw.rewrite(probeConfig())
  const outcome = await pgw.gw.reloader.reload('test')
  assert.notEqual(outcome.result, 'failed', outcome.errors.join('\n'))
})

async function pget (path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(pgw.url + path)
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

test('an async access phase that passes the request on: it runs before the request is forwarded', { timeout: 15_000 }, async () => {
  const res = await pget('/pass/x')
  assert.equal(res.status, 200)
  assert.equal(res.text, 'upstream saw x-probe=pass', 'the header set after the await reached the upstream')
})

test('an async access phase that answers: its reply is sent and the upstream never sees the request', { timeout: 15_000 }, async () => {
  const before = probeUp.requests.length
  const res = await pget('/answer/x')
  assert.equal(res.status, 200)
  assert.equal(res.text, 'answered by answer')
  assert.equal(res.headers['content-type'], 'text/plain')
  assert.ok(res.headers['x-request-id'])
  assert.equal(probeUp.requests.length, before)
})

test('an access phase that throws or rejects: 500 GW_INTERNAL envelope, and the gateway keeps serving', { timeout: 15_000 }, async () => {
  for (const path of ['/throw/x', '/reject/x', '/throw/y', '/reject/y']) {
    const before = probeUp.requests.length
    const res = await pget(path)
    assert.equal(res.status, 500, path)
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    const env = JSON.parse(res.text) as { error: { status: number; code: string; requestId: string } }
    assert.equal(env.error.status, 500)
    assert.equal(env.error.code, 'GW_INTERNAL')
    assert.equal(env.error.requestId, res.headers['x-request-id'])
    assert.equal(probeUp.requests.length, before, `${path}: nothing sent upstream`)
    assert.ok(pgw.logs.some((l) => l.msg === 'plugin access phase failed' && l.reqId === res.headers['x-request-id']), 'the error is logged')
    const next = await pget('/plain/x')
    assert.equal(next.status, 200, 'the next request is served')
  }
  await until('the gateway finished every request', () => pgw.gw.runtime.inflight === 0)
  assert.equal(loggedFor('throw').length, 2, 'log phase once per failed request')
  assert.equal(loggedFor('reject').length, 2)
})

test('close() is called once when a reload retires the instance, never when its options did not change', { timeout: 15_000 }, async () => {
  const tagged = (tag: string): number => probe.closed.filter((t) => t === tag).length
  const cfg = (paths: string[], tag: string): Record<string, unknown> => probeConfig([
    { id: 'life', match: { paths }, upstream: 'app', plugins: { probe: { tag } } }
  ])
  pgw.rewrite(cfg(['/life/*'], 'life-1'))
  assert.equal((await pgw.gw.reloader.reload('test')).result, 'ok')
  const first = pgw.gw.current.routes.get('life')!.plugins[0]!.instance
  assert.equal((await pget('/life/x')).status, 200)

  // The route changes, its plugin options do not: the instance is carried over, not closed.
  pgw.rewrite(cfg(['/life/*', '/life2/*'], 'life-1'))
  assert.equal((await pgw.gw.reloader.reload('test')).result, 'ok')
  assert.equal(pgw.gw.current.routes.get('life')!.plugins[0]!.instance, first)
  await until('the replaced snapshot retired', () => pgw.gw.reloader.retiring === 0)
  assert.equal(tagged('life-1'), 0, 'an instance still in use is not closed')

  // Its options change: the old instance is retired and closed, once.
  pgw.rewrite(cfg(['/life/*', '/life2/*'], 'life-2'))
  assert.equal((await pgw.gw.reloader.reload('test')).result, 'ok')
  assert.notEqual(pgw.gw.current.routes.get('life')!.plugins[0]!.instance, first)
  await until('the old instance closed', () => tagged('life-1') > 0)
  await until('the replaced snapshot retired', () => pgw.gw.reloader.retiring === 0)

  // Later reloads (one removing the route) close only what they retire.
  pgw.rewrite(cfg(['/life/*'], 'life-2'))
  assert.equal((await pgw.gw.reloader.reload('test')).result, 'ok')
  pgw.rewrite(probeConfig())
  assert.equal((await pgw.gw.reloader.reload('test')).result, 'ok')
  await until('the removed route\'s instance closed', () => tagged('life-2') > 0)
  await until('the replaced snapshots retired', () => pgw.gw.reloader.retiring === 0)
  assert.equal(tagged('life-1'), 1, 'close() called exactly once')
  assert.equal(tagged('life-2'), 1)
})

test('the log phase runs exactly once on a normal request', { timeout: 15_000 }, async () => {
  const res = await pget('/plain/once')
  assert.equal(res.status, 200)
  await until('the gateway finished the request', () => pgw.gw.runtime.inflight === 0)
  const lines = probe.logged.filter((l) => l.requestId === res.headers['x-request-id'])
  assert.deepEqual(lines, [{ tag: 'plain', requestId: res.headers['x-request-id'], status: 200 }])
})

test('the log phase runs exactly once when the client goes away, before or after the response started', { timeout: 15_000 }, async () => {
  for (const [path, tag, started] of [['/hold/x', 'hold', false], ['/stall/x', 'stall', true]] as const) {
    const before = loggedFor(tag).length
    const upstreamBefore = probeUp.requests.length
    const sock = net.connect(pgw.gw.port, '127.0.0.1')
    sock.on('error', () => {})
    let received = ''
    sock.setEncoding('latin1').on('data', (c: string) => { received += c })
    sock.write(`GET ${path} HTTP/1.1\r\nHost: gw\r\n\r\n`)
    await until(`${path}: the request reached the upstream`, () => probeUp.requests.length === upstreamBefore + 1 && probeUp.inflight === 1)
    if (started) await until(`${path}: the response started`, () => received.includes('partial'))
    sock.destroy()
    // The gateway finishes the request and aborts the upstream exchange (nothing left that could log again).
    await until(`${path}: the gateway finished the request`, () => pgw.gw.runtime.inflight === 0)
    await until(`${path}: the upstream exchange ended`, () => probeUp.inflight === 0)
    assert.equal(loggedFor(tag).length - before, 1, `${path}: log() called exactly once`)
  }
})

test('an extra plugin\'s options are validated like a built-in one\'s (in the config worker), with file:line:column', { timeout: 15_000 }, async () => {
  pgw.rewrite(probeConfig([{ id: 'bad', match: { paths: ['/bad'] }, upstream: 'app', plugins: { probe: { tag: 'b', access: 'sometimes' } } }]))
  const outcome = await pgw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'failed')
  assert.match(outcome.errors.join('\n'), /gateway\.yaml:\d+:\d+: routes\[7\]\.plugins\.probe\.access: must be one of "none", .*got string "sometimes"/)
})
