// GET /admin/plugins and GET /admin/limits with the probe plugins
// (test/helpers/probe-plugin.ts, whose status() is chosen by its options): the
// instances in force, global first then by route in run order, with their
// status(); the limits among them grouped by scope (node / cluster) and where
// (global / route); the name= and route= filters; a status() that throws or
// cannot be shown spoils its own entry only (and is logged); the token; and a
// listing longer than one slice of work comes back whole and in order.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { probePluginModule } from '../helpers/probe-plugin.js'
import { freePort } from '../helpers/free-port.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import type { Envelope } from '../helpers/envelope.js'
import { until } from '../helpers/until.js'

let registry: PluginRegistry
let up: Upstream
let gw: TestGateway

/**
 * Global: probe g (a cluster limit), probe-low g-low (plain status).
 * a: a node limit, and an instance without status(). b: no plugins.
 * c: a cluster limit, and a status() that throws. d: a limit without a scope, and a status JSON cannot show.
 */
async function config (): Promise<Record<string, unknown>> {
  return {
    // Nothing listens there: the connection stays down, which these tests do not mind (cluster limits need the section).
    redis: { url: `redis://127.0.0.1:${await freePort()}`, reconnect: { min: 1000, max: 5000 } },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    plugins: { probe: { tag: 'g', status: 'limit', scope: 'cluster' }, 'probe-low': { tag: 'g-low' } },
    routes: [
      { id: 'a', match: { paths: ['/a/*'] }, upstream: 'app', plugins: { probe: { tag: 'a', status: 'limit' }, 'probe-low': { tag: 'a-low', status: 'none' } } },
      { id: 'b', match: { paths: ['/b/*'] }, upstream: 'app' },
      { id: 'c', match: { paths: ['/c/*'] }, upstream: 'app', plugins: { probe: { tag: 'c', status: 'limit', scope: 'cluster' }, 'probe-low': { tag: 'c-low', status: 'throw' } } },
      { id: 'd', match: { paths: ['/d/*'] }, upstream: 'app', plugins: { probe: { tag: 'd', status: 'bad-limit' }, 'probe-low': { tag: 'd-low', status: 'not-json' } } }
    ]
  }
}

before(async () => {
  registry = await loadPluginRegistry([probePluginModule])
  up = await startUpstream()
  gw = await startTestGateway(await config(), { plugins: registry })
  // Two requests on route a: the probes count them in their status (log phase).
  for (let i = 0; i < 2; i++) {
    const r = await request(gw.url + '/a/x')
    await r.body.text()
  }
  await until('both requests logged', () => gw.gw.runtime.inflight === 0)
})

after(async () => {
  await gw.stop()
  await up.close()
})

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

async function get (url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, { headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function json (path: string): Promise<unknown> {
  const r = await get(gw.adminUrl + path)
  assert.equal(r.status, 200, `${path}: ${r.text}`)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
  return JSON.parse(r.text)
}

const limit = (scope: 'node' | 'cluster', tag: string, requests: number): Record<string, unknown> =>
  ({ kind: 'limit', scope, key: ['route'], mode: 'enforce', usage: { requests }, tag })

const NOT_JSON = 'status() returned something JSON cannot show'
const THREW = 'status() threw: c-low status fails'
const NO_SCOPE = 'a limit\'s status() must say scope "node" or "cluster", got undefined'

test('/admin/plugins: the global instances first, then each route\'s in run order, with status() (none when it has none)', async () => {
  assert.deepEqual(await json('/admin/plugins'), [
    { scope: 'global', name: 'probe', status: limit('cluster', 'g', 2) },
    { scope: 'global', name: 'probe-low', status: { tag: 'g-low', requests: 2 } },
    { scope: 'route', route: 'a', name: 'probe', status: limit('node', 'a', 2) },
    { scope: 'route', route: 'a', name: 'probe-low' },
    { scope: 'route', route: 'c', name: 'probe', status: limit('cluster', 'c', 0) },
    { scope: 'route', route: 'c', name: 'probe-low', error: THREW },
    { scope: 'route', route: 'd', name: 'probe', status: { kind: 'limit', tag: 'd' } },
    { scope: 'route', route: 'd', name: 'probe-low', error: NOT_JSON }
  ])
})

test('/admin/plugins filters: name= one plugin, route= one route\'s own instances, both', async () => {
  assert.deepEqual(await json('/admin/plugins?name=probe-low'), [
    { scope: 'global', name: 'probe-low', status: { tag: 'g-low', requests: 2 } },
    { scope: 'route', route: 'a', name: 'probe-low' },
    { scope: 'route', route: 'c', name: 'probe-low', error: THREW },
    { scope: 'route', route: 'd', name: 'probe-low', error: NOT_JSON }
  ])
  assert.deepEqual(await json('/admin/plugins?route=a'), [
    { scope: 'route', route: 'a', name: 'probe', status: limit('node', 'a', 2) },
    { scope: 'route', route: 'a', name: 'probe-low' }
  ])
  assert.deepEqual(await json('/admin/plugins?route=c&name=probe'), [{ scope: 'route', route: 'c', name: 'probe', status: limit('cluster', 'c', 0) }])
  assert.deepEqual(await json('/admin/plugins?route=b'), [], 'a route without plugins')
  assert.deepEqual(await json('/admin/plugins?name=cors'), [], 'a known plugin no route uses')
})

test('/admin/limits: the limits grouped by scope and where, key/mode/usage passed through; broken ones listed apart', async () => {
  assert.deepEqual(await json('/admin/limits'), {
    version: 1,
    node: {
      global: [],
      route: [{ route: 'a', plugin: 'probe', name: 'probe', key: ['route'], mode: 'enforce', usage: { requests: 2 }, tag: 'a' }]
    },
    cluster: {
      global: [{ plugin: 'probe', name: 'probe', key: ['route'], mode: 'enforce', usage: { requests: 2 }, tag: 'g' }],
      route: [{ route: 'c', plugin: 'probe', name: 'probe', key: ['route'], mode: 'enforce', usage: { requests: 0 }, tag: 'c' }]
    },
    errors: [
      { scope: 'route', route: 'c', name: 'probe-low', error: THREW },
      { scope: 'route', route: 'd', name: 'probe', error: NO_SCOPE }
    ]
  }, 'd-low\'s status is not a limit: that JSON cannot show it does not matter here')
  const empty = { global: [], route: [] }
  assert.deepEqual(await json('/admin/limits?route=c'), {
    version: 1,
    node: empty,
    cluster: { global: [], route: [{ route: 'c', plugin: 'probe', name: 'probe', key: ['route'], mode: 'enforce', usage: { requests: 0 }, tag: 'c' }] },
    errors: [{ scope: 'route', route: 'c', name: 'probe-low', error: THREW }]
  })
  assert.deepEqual(await json('/admin/limits?name=probe-low&route=a'), { version: 1, node: empty, cluster: empty, errors: [] })
})

test('a status() that fails is logged, with the plugin and its route, and never fails the listing', async () => {
  const before = gw.logs.length
  await json('/admin/plugins?route=c')
  const lines = gw.logs.slice(before).filter((l) => l.msg === `plugin ${THREW}`)
  assert.equal(lines.length, 1)
  assert.equal(lines[0]!.level, 40)
  assert.deepEqual({ plugin: lines[0]!.plugin, scope: lines[0]!.scope, route: lines[0]!.route }, { plugin: 'probe-low', scope: 'route', route: 'c' })
})

test('bad queries get the envelope: unknown plugin (400), unknown route (404), a repeated or unknown parameter (400)', async () => {
  const cases: Array<[string, number, string, RegExp]> = [
    ['?name=nope', 400, 'GW_ADMIN_BAD_REQUEST', /^unknown plugin "nope" \(known: (?:[a-z-]+, )*probe, probe-low\)$/],
    ['?route=zz', 404, 'GW_ADMIN_NOT_FOUND', /^no route "zz" in config version 1$/],
    ['?name=probe&name=probe-low', 400, 'GW_ADMIN_BAD_REQUEST', /^query parameter "name" is given more than once$/],
    ['?plugin=probe', 400, 'GW_ADMIN_BAD_REQUEST', /^unknown query parameter "plugin" \(known: name, route\)$/]
  ]
  for (const path of ['/admin/plugins', '/admin/limits']) {
    for (const [q, status, code, message] of cases) {
      const r = await get(gw.adminUrl + path + q)
      assert.equal(r.status, status, `${path}${q}: ${r.text}`)
      const env = JSON.parse(r.text) as Envelope
      assert.equal(env.error.code, code, `${path}${q}`)
      assert.match(env.error.message, message, `${path}${q}`)
      assert.equal(r.headers['x-request-id'], env.error.requestId)
    }
  }
})

test('admin.token: /admin/plugins and /admin/limits need the bearer token', async (t) => {
  const g = await startTestGateway({
    admin: { host: '127.0.0.1', port: 0, token: 'secret' },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'r', match: { paths: ['/r'] }, upstream: 'app', plugins: { probe: { tag: 'tok', status: 'limit' } } }]
  }, { plugins: registry })
  t.after(() => g.stop())
  for (const path of ['/admin/plugins', '/admin/limits']) {
    const r = await get(g.adminUrl + path)
    assert.equal(r.status, 401, path)
    assert.equal((JSON.parse(r.text) as Envelope).error.code, 'GW_ADMIN_UNAUTHORIZED')
    assert.equal((await get(g.adminUrl + path, { authorization: 'Bearer secret' })).status, 200, path)
  }
})

test('a listing of more instances than one slice of work comes back whole and in route order', { timeout: 30_000 }, async (t) => {
  const N = 1234
  const routes = []
  for (let i = 0; i < N; i++) routes.push({ id: `r${i}`, match: { paths: [`/s${i}/*`] }, upstream: 'app', plugins: { probe: { tag: `t${i}`, status: i % 2 === 0 ? 'limit' : 'plain' } } })
  const g = await startTestGateway({ accessLog: { enabled: false }, upstreams: { app: { nodes: [{ url: up.url }] } }, plugins: { 'probe-low': { tag: 'g' } }, routes }, { plugins: registry })
  t.after(() => g.stop())
  const list = JSON.parse((await get(g.adminUrl + '/admin/plugins')).text) as Array<{ route?: string; status: { tag: string } }>
  assert.equal(list.length, N + 1)
  assert.deepEqual(list.map((e) => e.route ?? '(global)'), ['(global)', ...routes.map((r) => r.id)])
  assert.deepEqual(list.map((e) => e.status.tag), ['g', ...routes.map((_r, i) => `t${i}`)])
  const limits = JSON.parse((await get(g.adminUrl + '/admin/limits')).text) as { node: { route: Array<{ route: string }> } }
  assert.deepEqual(limits.node.route.map((e) => e.route), routes.filter((_r, i) => i % 2 === 0).map((r) => r.id))
  assert.equal(g.gw.current.inflight, 0, 'the listing released the snapshot it pinned')
})
