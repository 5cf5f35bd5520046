// The plugin chain through a real gateway: cors (access phase answering a
// preflight itself, response phase adding headers) and headers (editing what
// goes upstream and what comes back), plus their option validation.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { request } from 'undici'
import { loadConfig, formatIssue } from '../../gateway/config/load-config.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'

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
