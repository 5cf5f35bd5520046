// Hot reload through a real gateway: file watch, SIGHUP and the admin call;
// refused edits; debouncing; what a reload keeps by identity; and reloads
// under steady load (zero failed requests), including a 10,000-route table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js'
import { metric } from '../helpers/metrics.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'

interface AdminConfig {
  version: number
  routes: number
  upstreams: number
  lastReload: { result: string; trigger: string; version: number; errors: string[]; compileMs: number } | null
}

async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

async function adminConfig (gw: TestGateway): Promise<AdminConfig> {
  const res = await get(gw.adminUrl + '/admin/config')
  assert.equal(res.status, 200)
  return JSON.parse(res.text) as AdminConfig
}

async function metricsText (gw: TestGateway): Promise<string> {
  const res = await get(gw.adminUrl + '/metrics')
  assert.equal(res.status, 200)
  return res.text
}

/** The reuse counters of a reload's stats (other fields, such as timings, vary). */
function pickStats (stats: Record<string, unknown> | undefined): Record<string, unknown> {
  const { routesReused, routesCompiled, routerRebuilt, upstreamsRebuilt } = stats ?? {}
  return { routesReused, routesCompiled, routerRebuilt, upstreamsRebuilt }
}

const reloadedLines = (gw: TestGateway): number => gw.logs.filter((l) => l.msg === 'config reloaded').length

test('file watch: an added route serves within ~2 s; bad edits are refused and the old config keeps serving', async (t) => {
  const up = await startUpstream({ name: 'a' })
  const base = {
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'one', match: { paths: ['/one/*'] }, upstream: 'a' }]
  }
  const gw = await startTestGateway(base, { watch: true })
  t.after(async () => { await gw.stop(); await up.close() })

  assert.equal((await get(gw.url + '/two/x')).status, 404)
  const v1 = await adminConfig(gw)
  assert.equal(v1.version, 1)
  assert.equal(v1.lastReload, null)

  // -- a good edit: route "two" appears
  const withTwo = { ...base, routes: [...base.routes, { id: 'two', match: { paths: ['/two/*'] }, upstream: 'a' }] }
  const t0 = Date.now()
  gw.rewrite(withTwo)
  await until('route two answers 200', async () => (await get(gw.url + '/two/x')).status === 200, 2500)
  t.diagnostic(`file change -> new route serving in ${Date.now() - t0} ms`)
  const v2 = await adminConfig(gw)
  assert.equal(v2.version, 2)
  assert.equal(v2.routes, 2)
  assert.equal(v2.lastReload?.result, 'ok')
  assert.equal(v2.lastReload?.trigger, 'file-change')
  assert.equal(v2.lastReload?.version, 2)

  // -- a YAML syntax error
  let failedBefore = metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'failed' }) ?? 0
  assert.equal(failedBefore, 0)
  let last = gw.gw.reloader.last
  fs.writeFileSync(gw.configFile, 'upstreams:\n  a:\n    nodes: [{ url: "' + up.url + '" }\nroutes:\n  - id: one\n    match: { paths: [/one/*] }\n    upstream: a\n')
  await until('the syntax-error reload is recorded', () => gw.gw.reloader.last !== last)
  let cfg = await adminConfig(gw)
  assert.equal(cfg.version, 2, 'version unchanged by a refused edit')
  assert.equal(cfg.lastReload?.result, 'failed')
  assert.equal(cfg.lastReload?.trigger, 'file-change')
  assert.ok(cfg.lastReload!.errors.length >= 1)
  for (const e of cfg.lastReload!.errors) assert.match(e, /gateway\.yaml:\d+:\d+: /, `error has file:line:col: ${e}`)
  assert.equal(metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'failed' }), failedBefore + 1)
  assert.ok(gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('config refused: ') && /gateway\.yaml:\d+:\d+/.test(l.msg)),
    'a log line says config refused, with the location')
  assert.ok(gw.logs.some((l) => l.msg === 'config reload refused; the previous config keeps serving' && l.level === 50))
  assert.equal((await get(gw.url + '/one/x')).status, 200, 'old routes keep serving')
  assert.equal((await get(gw.url + '/two/x')).status, 200, 'old routes keep serving')

  // -- an unknown upstream reference
  failedBefore = metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'failed' }) ?? 0
  last = gw.gw.reloader.last
  gw.rewrite({ ...withTwo, routes: [...withTwo.routes, { id: 'three', match: { paths: ['/three/*'] }, upstream: 'nope' }] })
  await until('the unknown-upstream reload is recorded', () => gw.gw.reloader.last !== last)
  cfg = await adminConfig(gw)
  assert.equal(cfg.version, 2)
  assert.equal(cfg.lastReload?.result, 'failed')
  const upstreamErr = cfg.lastReload!.errors.find((e) => e.includes('routes[2].upstream'))
  assert.ok(upstreamErr, `an error names routes[2].upstream: ${cfg.lastReload!.errors.join(' | ')}`)
  assert.match(upstreamErr, /gateway\.yaml:\d+:\d+: routes\[2\]\.upstream: .*nope/)
  assert.equal(metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'failed' }), failedBefore + 1)
  assert.ok(gw.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('config refused: ') && l.msg.includes('routes[2].upstream')))
  assert.equal((await get(gw.url + '/three/x')).status, 404)
  assert.equal((await get(gw.url + '/two/x')).status, 200)

  // -- then a good edit is applied
  const okBefore = metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'ok' }) ?? 0
  gw.rewrite({ upstreams: withTwo.upstreams, routes: [...withTwo.routes, { id: 'three', match: { paths: ['/three/*'] }, upstream: 'a' }] })
  await until('route three answers 200', async () => (await get(gw.url + '/three/x')).status === 200, 2500)
  cfg = await adminConfig(gw)
  assert.equal(cfg.version, 3)
  assert.equal(cfg.routes, 3)
  assert.equal(cfg.lastReload?.result, 'ok')
  assert.deepEqual(cfg.lastReload?.errors, [])
  assert.equal(metric(await metricsText(gw), 'gateway_config_reloads_total', { result: 'ok' }), okBefore + 1)
  assert.equal(metric(await metricsText(gw), 'gateway_config_version'), 3)
})

test('an emptied or truncated config file is refused on reload; the running gateway keeps answering', async (t) => {
  const up = await startUpstream({ name: 'a' })
  const gw = await startTestGateway({
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'one', match: { paths: ['/one/*'] }, upstream: 'a' }]
  }, { watch: true })
  t.after(async () => { await gw.stop(); await up.close() })
  assert.equal((await get(gw.url + '/one/x')).status, 200)

  const refused = async (text: string, error: RegExp): Promise<void> => {
    const last = gw.gw.reloader.last
    fs.writeFileSync(gw.configFile, text)
    await until('the reload is recorded', () => gw.gw.reloader.last !== last)
    const cfg = await adminConfig(gw)
    assert.equal(cfg.lastReload?.result, 'failed')
    assert.equal(cfg.version, 1, 'version unchanged by a refused edit')
    assert.equal(cfg.routes, 1)
    assert.equal(cfg.lastReload!.errors.length, 1, cfg.lastReload!.errors.join(' | '))
    assert.match(cfg.lastReload!.errors[0]!, error)
    assert.equal((await get(gw.url + '/one/x')).status, 200, 'the old config keeps serving')
  }
  // Truncated to nothing (a write cut short, an editor's failed save).
  await refused('', /gateway\.yaml:1:1: config file is empty$/)
  // Cut off before its routes.
  await refused(`listen: {host: 127.0.0.1, port: 0}\nadmin: {host: 127.0.0.1, port: 0}\nupstreams:\n  a:\n    nodes:\n      - url: ${up.url}\n`,
    /gateway\.yaml:1:1: no routes in this file or the files it includes: .*"routes: \[\]"/)
})

test('a burst of 50 rapid writes gives one reload (debounced), ending on the last content', async (t) => {
  const up = await startUpstream({ name: 'a' })
  const cfg = (i: number): Record<string, unknown> => ({
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'r', match: { paths: ['/r/*'] }, upstream: 'a', plugins: { headers: { response: { set: { 'x-v': String(i) } } } } }]
  })
  const gw = await startTestGateway(cfg(-1), { watch: true })
  t.after(async () => { await gw.stop(); await up.close() })
  assert.equal((await get(gw.url + '/r/x')).headers['x-v'], '-1')

  const reloadsBefore = reloadedLines(gw)
  const failedBefore = gw.logs.filter((l) => l.msg === 'config reload refused; the previous config keeps serving').length
  for (let i = 0; i < 50; i++) {
    gw.rewrite(cfg(i))
    await sleep(2)
  }
  await until('the last write is serving', async () => (await get(gw.url + '/r/x')).headers['x-v'] === '49', 3000)
  await sleep(600) // longer than the debounce: a late extra reload would show up
  const reloads = reloadedLines(gw) - reloadsBefore
  t.diagnostic(`50 writes -> ${reloads} reload(s)`)
  assert.ok(reloads >= 1 && reloads <= 3, `expected 1..3 reloads for 50 writes, got ${reloads}`)
  assert.equal(gw.logs.filter((l) => l.msg === 'config reload refused; the previous config keeps serving').length, failedBefore,
    'no reload read a half-written file')
  assert.equal(gw.gw.current.version, 1 + reloads)
  assert.equal((await get(gw.url + '/r/x')).headers['x-v'], '49')
})

test('a reload keeps by identity what did not change: routes, plugin instances, router, upstreams, connections', async (t) => {
  const ports: Record<string, number[]> = { a: [], b: [] }
  const mk = (name: 'a' | 'b'): Promise<Upstream> => startUpstream({
    name,
    handler: (req, res) => { ports[name]!.push(req.socket.remotePort ?? 0); res.end(name) }
  })
  const a = await mk('a')
  const b = await mk('b')
  const cfg = (bValue: string, bWeight: number): Record<string, unknown> => ({
    upstreams: {
      ua: { nodes: [{ url: a.url }] },
      ub: { nodes: [{ url: b.url, weight: bWeight }] }
    },
    routes: [
      { id: 'A', match: { paths: ['/a/*'] }, upstream: 'ua', plugins: { headers: { response: { set: { 'x-route': 'A' } } } } },
      { id: 'B', match: { paths: ['/b/*'] }, upstream: 'ub', plugins: { headers: { response: { set: { 'x-route': bValue } } } } }
    ]
  })
  const gw = await startTestGateway(cfg('B1', 1))
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })

  const s1 = gw.gw.current
  const routeA = s1.routes.get('A')!
  const pluginA = routeA.plugins[0]!.instance
  const routeB = s1.routes.get('B')!
  const connA = s1.upstreams.get('ua')!.nodes[0]!.conn
  const connB = s1.upstreams.get('ub')!.nodes[0]!.conn
  const upA = s1.upstreams.get('ua')!

  let r = await get(gw.url + '/a/1')
  assert.equal(r.text, 'a')
  assert.equal(r.headers['x-route'], 'A')
  assert.equal((await get(gw.url + '/b/1')).headers['x-route'], 'B1')

  // -- only route B changes
  gw.rewrite(cfg('B2', 1))
  const o1 = await gw.gw.reloader.reload('test')
  assert.equal(o1.result, 'ok', o1.errors.join('\n'))
  assert.deepEqual(pickStats(o1.stats), { routesReused: 1, routesCompiled: 1, routerRebuilt: true, upstreamsRebuilt: 0 })
  const s2 = gw.gw.current
  assert.notEqual(s2, s1)
  assert.equal(s2.routes.get('A'), routeA, 'unchanged route A: same CompiledRoute object')
  assert.equal(s2.routes.get('A')!.plugins[0]!.instance, pluginA, 'and the same plugin instance')
  assert.notEqual(s2.routes.get('B'), routeB, 'changed route B recompiled')
  assert.equal(s2.upstreams.get('ua'), upA)
  assert.equal(s2.upstreams.get('ua')!.nodes[0]!.conn, connA)
  r = await get(gw.url + '/a/2')
  assert.equal(r.headers['x-route'], 'A')
  assert.equal((await get(gw.url + '/b/2')).headers['x-route'], 'B2')

  // -- only upstream ub changes (a node weight): no route, no router rebuilt
  gw.rewrite(cfg('B2', 5))
  const o2 = await gw.gw.reloader.reload('test')
  assert.equal(o2.result, 'ok', o2.errors.join('\n'))
  assert.deepEqual(pickStats(o2.stats), { routesReused: 2, routesCompiled: 0, routerRebuilt: false, upstreamsRebuilt: 1 })
  const s3 = gw.gw.current
  assert.equal(s3.router, s2.router, 'upstream-only change keeps the router object')
  assert.equal(s3.routes.get('A'), routeA)
  assert.equal(s3.routes.get('B'), s2.routes.get('B'))
  assert.equal(s3.upstreams.get('ua'), upA, 'unchanged upstream: same object')
  assert.notEqual(s3.upstreams.get('ub'), s2.upstreams.get('ub'), 'changed upstream rebuilt')
  assert.equal(s3.upstreams.get('ub')!.nodes[0]!.weight, 5)
  assert.equal(s3.upstreams.get('ua')!.nodes[0]!.conn, connA, 'unchanged upstream: same NodeConnection')
  assert.equal(s3.upstreams.get('ub')!.nodes[0]!.conn, connB, 'same node URL and pool: connection carried over too')
  assert.equal((await get(gw.url + '/a/3')).text, 'a')
  assert.equal((await get(gw.url + '/b/3')).text, 'b')

  // Once the old snapshots are retired (their unused pools closed), the sockets survived it.
  await until('the old snapshots retired', () => gw.gw.reloader.retiring === 0)
  assert.equal((await get(gw.url + '/a/4')).text, 'a')
  assert.equal(new Set(ports.a).size, 1, `upstream a saw one client socket across both reloads: ${ports.a.join(',')}`)
  assert.equal(ports.a.length, 4)
  assert.equal(new Set(ports.b).size, 1, `upstream b too: ${ports.b.join(',')}`)
})

test('SIGHUP and POST /admin/reload trigger a reload; the admin call answers with the outcome', async (t) => {
  const up = await startUpstream({ name: 'a' })
  const cfg = (extra: boolean): Record<string, unknown> => ({
    upstreams: { a: { nodes: [{ url: up.url }] } },
    routes: [
      { id: 'one', match: { paths: ['/one'] }, upstream: 'a' },
      ...(extra ? [{ id: 'hup', match: { paths: ['/hup'] }, upstream: 'a' }] : [])
    ]
  })
  const gw = await startTestGateway(cfg(false))
  t.after(async () => { await gw.stop(); await up.close() })

  // SIGHUP
  gw.rewrite(cfg(true))
  assert.equal((await get(gw.url + '/hup')).status, 404)
  process.emit('SIGHUP', 'SIGHUP')
  const hup = await until('the SIGHUP reload', () => gw.gw.reloader.last)
  assert.equal(hup.trigger, 'SIGHUP')
  assert.equal(hup.result, 'ok')
  assert.equal(hup.version, 2)
  assert.equal((await get(gw.url + '/hup')).status, 200)

  // POST /admin/reload: ok, unchanged, failed
  gw.rewrite(cfg(false))
  let res = await request(gw.adminUrl + '/admin/reload', { method: 'POST' })
  assert.equal(res.statusCode, 200)
  let body = await res.body.json() as { result: string; trigger: string; version: number; errors: string[] }
  assert.equal(body.result, 'ok')
  assert.equal(body.trigger, 'admin')
  assert.equal(body.version, 3)
  assert.equal((await get(gw.url + '/hup')).status, 404)

  res = await request(gw.adminUrl + '/admin/reload', { method: 'POST' })
  assert.equal(res.statusCode, 200)
  body = await res.body.json() as typeof body
  assert.equal(body.result, 'unchanged')
  assert.equal(body.version, 3)

  fs.writeFileSync(gw.configFile, 'routes:\n  - id: one\n    match: { paths: [/one] }\n    upstream: a\n    weigth: 3\n')
  res = await request(gw.adminUrl + '/admin/reload', { method: 'POST' })
  assert.equal(res.statusCode, 422)
  body = await res.body.json() as typeof body
  assert.equal(body.result, 'failed')
  assert.equal(body.version, 3)
  assert.ok(body.errors.some((e) => /gateway\.yaml:\d+:\d+: .*weigth/.test(e)), body.errors.join('\n'))
  assert.equal((await get(gw.url + '/one')).status, 200, 'still serving the previous config')
  assert.equal(gw.gw.current.version, 3)
})

// --- reload under load --------------------------------------------------------

interface LoadResult { ok: number; failures: string[]; seen: Map<string, number>; spanned: number }

/**
 * `workers` keep-alive loops hitting `paths` round-robin until `stop()`; every
 * answer must be 200. `version()` is read before and after each request to
 * count the requests during which a swap happened.
 */
function steadyLoad (base: string, paths: string[], workers: number, version: () => number): { result: LoadResult; stop: () => Promise<LoadResult> } {
  const dispatcher = new Agent({ connections: workers, keepAliveTimeout: 30_000 })
  const result: LoadResult = { ok: 0, failures: [], seen: new Map(), spanned: 0 }
  let running = true
  const loops = Array.from({ length: workers }, async (_, w) => {
    let i = w
    while (running) {
      const path = paths[i++ % paths.length]!
      const v0 = version()
      try {
        const res = await request(base + path, { dispatcher })
        const text = await res.body.text()
        if (res.statusCode !== 200) result.failures.push(`${path}: ${res.statusCode} ${text.slice(0, 200)}`)
        else {
          result.ok++
          if (version() !== v0) result.spanned++
          const v = String(res.headers['x-v'])
          result.seen.set(v, (result.seen.get(v) ?? 0) + 1)
        }
      } catch (err) {
        result.failures.push(`${path}: ${(err as Error).message}`)
      }
    }
  })
  return {
    result,
    async stop () {
      running = false
      await Promise.all(loops)
      await dispatcher.close()
      return result
    }
  }
}

interface LoadOpts {
  /** Upstream answer delay. */
  delayMs: number
  /** Alternate an upstream's pool settings too, so its NodeConnection is replaced (and the old one retired) each reload. */
  changePools: boolean
  workers: number
  /** Pause between two reloads (0: back to back). */
  pauseMs: number
  /** Minimum requests answered 200 while the 100 reloads ran. */
  minOk: number
  minSpanned: number
}

async function reloadUnderLoad (t: { diagnostic: (m: string) => void; after: (fn: () => Promise<void>) => void }, opts: LoadOpts): Promise<void> {
  const handler = (name: string): UpstreamHandler => (_req, res) => {
    if (opts.delayMs > 0) setTimeout(() => res.end(name), opts.delayMs)
    else res.end(name)
  }
  const a = await startUpstream({ name: 'a', handler: handler('a') })
  const b = await startUpstream({ name: 'b', handler: handler('b') })
  const c = await startUpstream({ name: 'c', handler: handler('c') })
  const cfg = (v: 0 | 1): Record<string, unknown> => ({
    accessLog: { enabled: false },
    upstreams: {
      one: { nodes: [{ url: a.url }], ...(opts.changePools ? { pool: { keepAliveTimeout: v === 0 ? '4s' : '5s' } } : {}) },
      two: { nodes: [{ url: b.url, weight: v === 0 ? 1 : 3 }, { url: c.url, weight: 1 }] }
    },
    routes: [
      { id: 'r1', match: { paths: ['/r1/*'] }, upstream: 'one', plugins: { headers: { response: { set: { 'x-v': `v${v}` } } } } },
      { id: 'r2', match: { paths: ['/r2/*'] }, upstream: 'two', plugins: { headers: { response: { set: { 'x-v': `v${v}` } } } } }
    ]
  })
  const gw = await startTestGateway(cfg(0))
  t.after(async () => { await gw.stop(); await Promise.all([a.close(), b.close(), c.close()]) })

  const load = steadyLoad(gw.url, ['/r1/x', '/r2/y'], opts.workers, () => gw.gw.current.version)
  await until('the load is flowing', () => load.result.ok >= opts.workers)
  const started = Date.now()
  const okAtStart = load.result.ok
  for (let i = 1; i <= 100; i++) {
    gw.rewrite(cfg((i % 2) as 0 | 1))
    const outcome = await gw.gw.reloader.reload('test')
    assert.equal(outcome.result, 'ok', `reload ${i}: ${outcome.result} ${outcome.errors.join('\n')}`)
    if (opts.pauseMs > 0) await sleep(opts.pauseMs)
  }
  const reloadMs = Date.now() - started
  const okDuring = load.result.ok - okAtStart
  await until('requests flow after the last reload', () => load.result.ok >= okAtStart + okDuring + opts.workers)
  const result = await load.stop()
  t.diagnostic(`100 reloads in ${reloadMs} ms; ${okDuring} requests ok during them, ${result.ok} in all (${result.spanned} spanned a swap), ` +
    `${result.failures.length} failed; x-v seen: ${JSON.stringify([...result.seen])}`)
  assert.deepEqual(result.failures.slice(0, 10), [], `failed requests (${result.failures.length})`)
  assert.equal(result.failures.length, 0)
  assert.ok(okDuring >= opts.minOk, `requests kept flowing during the reloads: ${okDuring} < ${opts.minOk}`)
  assert.ok(result.spanned >= opts.minSpanned, `requests spanning a swap: ${result.spanned} < ${opts.minSpanned}`)
  assert.ok((result.seen.get('v0') ?? 0) > 0 && (result.seen.get('v1') ?? 0) > 0, 'both configs answered during the run')
  assert.equal(gw.gw.current.version, 101)
  assert.equal(gw.gw.runtime.inflight, 0)
  // Every request was counted on a snapshot and released from it.
  assert.equal(gw.gw.current.inflight, 0)
  if (opts.changePools) {
    // Old pools are retired once their snapshots drain: only the current ones stay.
    await until('old connection pools retired', () => gw.gw.registry.size === 3, 3000)
  } else {
    assert.equal(gw.gw.registry.size, 3, 'same node URLs and pool settings: never more than one pool per node')
  }
}

test('reload under load: 100 reloads during 20 keep-alive loops, zero failed requests', async (t) => {
  await reloadUnderLoad(t, { delayMs: 0, changePools: false, workers: 20, pauseMs: 0, minOk: 250, minSpanned: 100 })
})

test('reload under load with slow upstreams (50 ms, 40 loops): requests spanning a swap all succeed', async (t) => {
  await reloadUnderLoad(t, { delayMs: 50, changePools: false, workers: 40, pauseMs: 10, minOk: 500, minSpanned: 300 })
})

test('reload under load that replaces a connection pool each time: in-flight requests on retired pools all succeed', async (t) => {
  await reloadUnderLoad(t, { delayMs: 20, changePools: true, workers: 20, pauseMs: 5, minOk: 500, minSpanned: 200 })
})

// --- 10,000 routes -------------------------------------------------------------

test('10,000-route reload: every route recompiled, new config serving; event-loop stall reported', { timeout: 180_000 }, async (t) => {
  const ups = await Promise.all([startUpstream({ name: 'u0' }), startUpstream({ name: 'u1' })])
  const N = 10_000
  const cfg = (gen: string): Record<string, unknown> => {
    const routes: Array<Record<string, unknown>> = []
    for (let i = 0; i < N; i++) {
      const paths = i % 3 === 0 ? [`/svc-${i}/*`] : i % 3 === 1 ? [`/api/items-${i}/:id`] : [`/exact/path-${i}`]
      routes.push({ id: `route-${i}`, match: { paths }, upstream: `up${i % 4}`, plugins: { headers: { response: { set: { 'x-gen': gen } } } } })
    }
    return {
      accessLog: { enabled: false },
      upstreams: {
        up0: { nodes: [{ url: ups[0].url }] },
        up1: { nodes: [{ url: ups[1].url }] },
        up2: { nodes: [{ url: ups[0].url }, { url: ups[1].url }] },
        up3: { nodes: [{ url: ups[1].url, weight: 2 }, { url: ups[0].url }] }
      },
      routes
    }
  }
  const startT = Date.now()
  const gw = await startTestGateway(cfg('g1'))
  t.after(async () => { await gw.stop(); await Promise.all(ups.map((u) => u.close())) })
  t.diagnostic(`start on ${N} routes: ${Date.now() - startT} ms`)
  assert.equal(gw.gw.current.routes.size, N)

  const probe = async (): Promise<Array<{ status: number; gen: unknown; url: string }>> => {
    const out = []
    for (const p of ['/svc-9999/deep/x', '/api/items-5002/42', '/exact/path-9998', '/svc-0']) {
      const r = await get(gw.url + p)
      out.push({ status: r.status, gen: r.headers['x-gen'], url: r.status === 200 ? (JSON.parse(r.text) as { url: string }).url : '' })
    }
    return out
  }
  const before = await probe()
  assert.deepEqual(before.map((x) => [x.status, x.gen]), [[200, 'g1'], [200, 'g1'], [200, 'g1'], [200, 'g1']])
  assert.equal((await get(gw.url + '/exact/path-9999')).status, 404, '9999 is a /svc- route, not an exact one')

  gw.rewrite(cfg('g2'))
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const outcome = await gw.gw.reloader.reload('test')
  await sleep(20)
  h.disable()
  assert.equal(outcome.result, 'ok', outcome.errors.slice(0, 5).join('\n'))
  assert.deepEqual(pickStats(outcome.stats), { routesReused: 0, routesCompiled: N, routerRebuilt: true, upstreamsRebuilt: 0 })
  const maxDelayMs = h.max / 1e6
  t.diagnostic(`10k reload: max event-loop delay ${maxDelayMs.toFixed(1)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms), ` +
    `compileMs ${outcome.compileMs.toFixed(1)}, total ${outcome.durationMs.toFixed(1)} ms`)

  const after = await probe()
  assert.deepEqual(after.map((x) => [x.status, x.gen]), [[200, 'g2'], [200, 'g2'], [200, 'g2'], [200, 'g2']])
  assert.deepEqual(after.map((x) => x.url), ['/svc-9999/deep/x', '/api/items-5002/42', '/exact/path-9998', '/svc-0'])
  assert.equal(gw.gw.current.version, 2)
})

test('a plugin instance survives an edit of its route that leaves its own options unchanged', async (t) => {
  const up = await startUpstream({ handler: (_req, res) => res.end('ok') })
  const cfg = (methods: string[], value: string): Record<string, unknown> => ({
    upstreams: { u: { nodes: [{ url: up.url }] } },
    routes: [{
      id: 'R',
      match: { paths: ['/r/*'], methods },
      upstream: 'u',
      plugins: { cors: { allowOrigins: ['https://a.example'] }, headers: { response: { set: { 'x-v': value } } } }
    }]
  })
  const gw = await startTestGateway(cfg(['GET'], 'one'))
  t.after(async () => { await gw.stop(); await up.close() })
  const instances = (): Record<string, unknown> =>
    Object.fromEntries(gw.gw.current.routes.get('R')!.plugins.map((p) => [p.name, p.instance]))
  const first = instances()

  // The route's match changes: the route is recompiled, both plugins are kept.
  gw.rewrite(cfg(['GET', 'POST'], 'one'))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const second = instances()
  assert.equal(second.cors, first.cors, 'cors options unchanged: same instance')
  assert.equal(second.headers, first.headers, 'headers options unchanged: same instance')
  assert.equal((await request(gw.url + '/r/x', { method: 'POST' })).statusCode, 200, 'the new match is in force')

  // Only the headers plugin's options change: only it is replaced.
  gw.rewrite(cfg(['GET', 'POST'], 'two'))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const third = instances()
  assert.equal(third.cors, first.cors)
  assert.notEqual(third.headers, first.headers)
  assert.equal((await get(gw.url + '/r/x')).headers['x-v'], 'two')
})
