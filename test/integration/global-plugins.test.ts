// Global plugins (the top-level `plugins:` map) through a real gateway and the
// probe plugins (test/helpers/probe-plugin.ts): they run on every route,
// before the route's own plugins in every phase, not on a request no route
// matched; they are validated like a route's plugins, compiled once per
// config, reused across reloads while their options are unchanged and
// close()d when retired; and the admin API shows them.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { request } from 'undici'
import { formatIssue, loadConfig } from '../../gateway/config/load-config.js'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { orderFor, probe, probePluginModule, PROBE_REFUSED_TAG } from '../helpers/probe-plugin.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { writeConfig } from '../helpers/yaml-config.js'
import { rawRequest } from '../helpers/raw-http.js'
import { until } from '../helpers/until.js'

let up: Upstream
let registry: PluginRegistry
let gw: TestGateway

/** Global: probe (priority 5000) and probe-low (priority 10). Route a: probe; route b: none; route c: probe-low and probe. */
function config (globalPlugins: Record<string, unknown> = { probe: { tag: 'g', access: 'pass-async' }, 'probe-low': { tag: 'g-low', access: 'pass' } },
  aTag = 'ra'): Record<string, unknown> {
  return {
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: globalPlugins,
    routes: [
      { id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: aTag, access: 'pass' } } },
      { id: 'b', match: { paths: ['/b/*'] }, upstream: 'app' },
      { id: 'c', match: { paths: ['/c/*'] }, upstream: 'app', plugins: { 'probe-low': { tag: 'rc-low', access: 'pass-async' }, probe: { tag: 'rc', access: 'pass' } } }
    ]
  }
}

before(async () => {
  up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      res.end(`upstream saw x-probe=${String(req.headers['x-probe'])}`)
    }
  })
  registry = await loadPluginRegistry([probePluginModule])
  gw = await startTestGateway(config(), { plugins: registry })
})

after(async () => {
  await gw.stop()
  await up.close()
})

beforeEach(async () => {
  gw.rewrite(config())
  const outcome = await gw.gw.reloader.reload('test')
  assert.notEqual(outcome.result, 'failed', outcome.errors.join('\n'))
})

async function get (url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url)
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function finished (): Promise<void> {
  await until('the gateway finished every request', () => gw.gw.runtime.inflight === 0)
}

test('in every phase, the global plugins run first (by priority), then the route\'s (by priority)', { timeout: 15_000 }, async () => {
  const a = await get(gw.url + '/a/x')
  assert.equal(a.text, 'upstream saw x-probe=g', 'an async global access phase ran before forwarding')
  const c = await get(gw.url + '/c/x')
  assert.equal(c.text, 'upstream saw x-probe=rc-low', 'the route\'s async access phase ran after the global one')
  await finished()
  assert.deepEqual(orderFor(String(a.headers['x-request-id'])), [
    'g:access', 'g-low:access', 'ra:access',
    'g:response', 'g-low:response', 'ra:response',
    'g:log', 'g-low:log', 'ra:log'
  ])
  // A global plugin of lower priority still runs before a route plugin of higher priority.
  assert.deepEqual(orderFor(String(c.headers['x-request-id'])), [
    'g:access', 'g-low:access', 'rc:access', 'rc-low:access',
    'g:response', 'g-low:response', 'rc:response', 'rc-low:response',
    'g:log', 'g-low:log', 'rc:log', 'rc-low:log'
  ])
})

test('global plugins apply to every route, including one without plugins, and to answers the gateway makes on a route', { timeout: 15_000 }, async () => {
  const b = await get(gw.url + '/b/x')
  assert.equal(b.text, 'upstream saw x-probe=g')
  // An error the core answers on a matched route (a declared body over the limit) runs the response and log phases too.
  const big = await rawRequest(gw.gw.port, 'POST /b/big HTTP/1.1\r\nHost: gw\r\nContent-Length: 2097152\r\n\r\n')
  await finished()
  assert.deepEqual(orderFor(String(b.headers['x-request-id'])), ['g:access', 'g-low:access', 'g:response', 'g-low:response', 'g:log', 'g-low:log'])
  assert.equal(big.status, 413)
  assert.deepEqual(orderFor(big.headers['x-request-id']!), ['g:response', 'g-low:response', 'g:log', 'g-low:log'])
})

test('no plugin runs on a request no route matched (404)', { timeout: 15_000 }, async () => {
  const r = await get(gw.url + '/nothing/here')
  assert.equal(r.status, 404)
  await finished()
  assert.deepEqual(orderFor(String(r.headers['x-request-id'])), [])
})

test('a global instance is created with scope "global" and no route id; a route instance with its route', { timeout: 15_000 }, () => {
  const g = probe.created.filter((c) => c.tag === 'g')
  assert.ok(g.length > 0)
  for (const c of g) assert.deepEqual(c, { tag: 'g', scope: 'global', routeId: undefined })
  assert.deepEqual(probe.created.find((c) => c.tag === 'ra'), { tag: 'ra', scope: 'route', routeId: 'a' })
})

test('global instances are reused across a reload that changes only a route; routes are reused when only the global plugins change', { timeout: 15_000 }, async () => {
  const global = gw.gw.current.global.plugins.map((p) => p.instance)
  assert.equal(global.length, 2)
  gw.rewrite(config(undefined, 'ra-2'))
  const o1 = await gw.gw.reloader.reload('test')
  assert.equal(o1.result, 'ok')
  assert.deepEqual(gw.gw.current.global.plugins.map((p) => p.instance), global, 'same global instances')
  await until('the replaced snapshot retired', () => gw.gw.reloader.retiring === 0)
  assert.equal(probe.closed.filter((t) => t === 'g' || t === 'g-low').length, 0, 'no global instance closed')

  const routes = [...gw.gw.current.routes.values()]
  const closedBefore = probe.closed.filter((t) => t === 'g-low').length
  gw.rewrite(config({ probe: { tag: 'g', access: 'pass-async' }, 'probe-low': { tag: 'g-low-2', access: 'pass' } }, 'ra-2'))
  const o2 = await gw.gw.reloader.reload('test')
  assert.equal(o2.result, 'ok')
  assert.equal(o2.stats?.routesCompiled, 0, 'no route recompiled')
  assert.deepEqual([...gw.gw.current.routes.values()], routes, 'the same compiled routes')
  const now = gw.gw.current.global.plugins
  assert.equal(now.find((p) => p.name === 'probe')?.instance, global[0], 'the unchanged global plugin keeps its instance')
  assert.notEqual(now.find((p) => p.name === 'probe-low')?.instance, global[1])
  await until('the retired global instance closed', () => probe.closed.filter((t) => t === 'g-low').length > closedBefore)
  await until('the replaced snapshot retired', () => gw.gw.reloader.retiring === 0)
  assert.equal(probe.closed.filter((t) => t === 'g-low').length, closedBefore + 1, 'closed once')
  const r = await get(gw.url + '/a/x')
  await finished()
  assert.deepEqual(orderFor(String(r.headers['x-request-id'])).filter((s) => s.endsWith(':access')), ['g:access', 'g-low-2:access', 'ra-2:access'])

  // Removing the global plugins retires them all.
  gw.rewrite({ ...config({}, 'ra-2') })
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  await until('the removed global instances closed', () => probe.closed.includes('g') && probe.closed.includes('g-low-2'))
  const plain = await get(gw.url + '/b/x')
  assert.equal(plain.text, 'upstream saw x-probe=undefined')
})

test('the admin API shows the global plugins: /admin/config by name, /admin/match in run order', { timeout: 15_000 }, async () => {
  const cfg = JSON.parse((await get(gw.adminUrl + '/admin/config')).text) as { plugins: unknown }
  assert.deepEqual(cfg.plugins, ['probe', 'probe-low'])
  const m = JSON.parse((await get(gw.adminUrl + '/admin/match?path=/c/x')).text) as { plugins: unknown; globalPlugins: unknown }
  assert.deepEqual(m.plugins, ['probe', 'probe-low', 'probe', 'probe-low'])
  assert.deepEqual(m.globalPlugins, ['probe', 'probe-low'])
  const routes = JSON.parse((await get(gw.adminUrl + '/admin/routes')).text) as Array<{ id: string; plugins: string[] }>
  assert.deepEqual(routes.find((r) => r.id === 'b')?.plugins, [], '/admin/routes lists each route\'s own plugins')
})

test('global plugin options are validated like a route\'s, with file:line:column, including check()', { timeout: 15_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-global-plugins-'))
  try {
    const file = writeConfig(dir, {
      upstreams: { app: { nodes: [{ url: 'http://127.0.0.1:1' }] } },
      plugins: { probe: { tag: 'x', access: 'sometimes' }, 'probe-low': { tag: PROBE_REFUSED_TAG }, prob: {} },
      routes: [{ id: 'a', match: { paths: ['/a'] }, upstream: 'app' }]
    })
    const result = loadConfig(file, process.env, registry)
    assert.equal(result.ok, false)
    const lines = result.ok ? [] : result.issues.map(formatIssue).map((l) => l.replace(/^.*gateway\.yaml/, 'gateway.yaml'))
    const text = lines.join('\n')
    assert.match(text, /^gateway\.yaml:\d+:\d+: plugins\.probe\.access: must be one of "none", .*got string "sometimes"$/m)
    assert.match(text, /^gateway\.yaml:\d+:\d+: plugins\.probe-low: tag "refused-by-check" is refused by check\(\)$/m)
    assert.match(text, /^gateway\.yaml:\d+:\d+: plugins: unknown plugin "prob" \(did you mean "probe"\?\); known plugins: /m)

    const empty = writeConfig(dir, {
      upstreams: { app: { nodes: [{ url: 'http://127.0.0.1:1' }] } },
      plugins: { probe: { tag: 'x' } },
      routes: [{ id: 'a', match: { paths: ['/a'] }, upstream: 'app' }]
    })
    const ok = loadConfig(empty, process.env, registry)
    assert.equal(ok.ok, true, ok.ok ? '' : ok.issues.map(formatIssue).join('\n'))
    assert.deepEqual(ok.ok ? ok.config.plugins : undefined, { probe: { tag: 'x', access: 'none' } })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
