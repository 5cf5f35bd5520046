// The deadline on asynchronous access phases, through a real gateway and the
// probe plugin (test/helpers/probe-plugin.ts): a promise that settles late, or
// never, is answered per the plugin's failure policy ('closed': 503
// GW_PLUGIN_TIMEOUT; 'open': on to the next plugin), and never holds a
// request, a snapshot or a drain open; what arrives after the deadline is
// ignored (no second answer, no error, no unhandled rejection).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { orderFor, probe, probePluginModule } from '../helpers/probe-plugin.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { rawConnect } from '../helpers/raw-http.js'
import { metric } from '../helpers/metrics.js'
import { until } from '../helpers/until.js'

/** The budget of the routes below, ms. */
const BUDGET = 300
/** The budget of the late-settling routes (their promises settle at LATE ms). */
const SHORT = 150
const LATE = 500
/** Slack on top of a budget for a loaded machine: the point is that nothing hangs. */
const SLACK = 500

let up: Upstream
let plugins: PluginRegistry
let gw: TestGateway
const unhandled: unknown[] = []
const onUnhandled = (err: unknown): void => { unhandled.push(err) }

function route (id: string, probeOptions: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, match: { paths: [`/${id}/*`] }, upstream: 'app', plugins: { probe: { tag: id, ...probeOptions }, ...extra } }
}

function config (extraRoutes: Array<Record<string, unknown>> = [], server: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { pluginTimeout: '400ms', ...server },
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [
      route('closed', { access: 'never', accessTimeout: BUDGET, onAccessTimeout: 'closed' }),
      route('open', { access: 'never', accessTimeout: BUDGET, onAccessTimeout: 'open' }, { 'probe-low': { tag: 'open-next', access: 'pass-async' } }),
      route('default', { access: 'never' }),
      route('late-pass', { access: 'slow', delayMs: LATE, accessTimeout: SHORT }),
      route('late-answer', { access: 'slow-answer', delayMs: LATE, accessTimeout: SHORT }),
      route('late-reject', { access: 'slow-reject', delayMs: LATE, accessTimeout: SHORT }),
      route('late-open', { access: 'slow-answer', delayMs: LATE, accessTimeout: SHORT, onAccessTimeout: 'open' }),
      route('in-time', { access: 'slow', delayMs: 20, accessTimeout: 5_000 }),
      ...extraRoutes
    ]
  }
}

before(async () => {
  process.on('unhandledRejection', onUnhandled)
  up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      res.end(`upstream saw x-probe=${String(req.headers['x-probe'])}`)
    }
  })
  plugins = await loadPluginRegistry([probePluginModule])
  gw = await startTestGateway(config(), { plugins })
})

after(async () => {
  await gw.stop()
  await up.close()
  process.off('unhandledRejection', onUnhandled)
})

interface Timed { status: number; headers: Record<string, string | string[] | undefined>; text: string; ms: number }

async function timedGet (url: string): Promise<Timed> {
  const t0 = performance.now()
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 }
}

async function metricsText (g: TestGateway): Promise<string> {
  const res = await request(g.adminUrl + '/metrics')
  return await res.body.text()
}

function assertTimeoutEnvelope (r: Timed, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.text}`)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
  assert.equal(r.headers['retry-after'], '1')
  const env = JSON.parse(r.text) as { error: { status: number; code: string; requestId: string } }
  assert.equal(env.error.status, 503)
  assert.equal(env.error.code, 'GW_PLUGIN_TIMEOUT')
  assert.equal(env.error.requestId, r.headers['x-request-id'])
}

test('closed: an access promise that never settles is answered 503 GW_PLUGIN_TIMEOUT at its budget', { timeout: 15_000 }, async () => {
  const upstreamBefore = up.requests.length
  const before = metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe', scope: 'route' }) ?? 0
  const r = await timedGet(gw.url + '/closed/x')
  assertTimeoutEnvelope(r, '/closed/x')
  assert.ok(r.ms >= BUDGET - 20, `answered after ${r.ms.toFixed(0)} ms: not before the budget (${BUDGET} ms)`)
  assert.ok(r.ms < BUDGET + SLACK, `answered after ${r.ms.toFixed(0)} ms: within the budget (${BUDGET} ms) + ${SLACK} ms`)
  assert.equal(up.requests.length, upstreamBefore, 'nothing sent upstream')
  await until('the request finished', () => gw.gw.runtime.inflight === 0)
  const id = String(r.headers['x-request-id'])
  assert.deepEqual(orderFor(id), ['closed:access', 'closed:response', 'closed:log'], 'response and log phases ran, once')
  const after = metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe', scope: 'route' })
  assert.equal(after, before + 1, 'the timeout is counted')
  assert.equal(metric(await metricsText(gw), 'gateway_errors_total', { code: 'GW_PLUGIN_TIMEOUT' }) !== undefined, true)
})

test('open: an access promise that never settles lets the request go on to the next plugin and upstream', { timeout: 15_000 }, async () => {
  const r = await timedGet(gw.url + '/open/x')
  assert.equal(r.status, 200)
  assert.equal(r.text, 'upstream saw x-probe=open-next', 'the next plugin\'s access phase ran before forwarding')
  assert.ok(r.ms >= BUDGET - 20, `proxied after ${r.ms.toFixed(0)} ms: not before the budget`)
  assert.ok(r.ms < BUDGET + SLACK, `proxied after ${r.ms.toFixed(0)} ms: within the budget + ${SLACK} ms`)
})

test('without accessTimeout the budget is server.pluginTimeout; a promise that settles in time is waited for', { timeout: 15_000 }, async () => {
  const r = await timedGet(gw.url + '/default/x')
  assertTimeoutEnvelope(r, '/default/x')
  assert.ok(r.ms >= 400 - 20 && r.ms < 400 + SLACK, `answered after ${r.ms.toFixed(0)} ms (server.pluginTimeout: 400 ms)`)
  const ok = await timedGet(gw.url + '/in-time/x')
  assert.equal(ok.status, 200)
  assert.equal(ok.text, 'upstream saw x-probe=in-time')
})

test('a promise that settles after its deadline changes nothing: no second answer, no error, no unhandled rejection', { timeout: 20_000 }, async () => {
  const conn = await rawConnect(gw.gw.port)
  try {
    for (const [id, status] of [['late-pass', 503], ['late-answer', 503], ['late-reject', 503], ['late-open', 200]] as const) {
      const upstreamBefore = up.requests.length
      const settledBefore = probe.settled.length
      const r = await conn.exchange(`GET /${id}/x HTTP/1.1\r\nHost: gw\r\n\r\n`, { timeoutMs: 5_000 })
      assert.equal(r.status, status, `${id}: ${r.body}`)
      if (status === 503) assert.equal(JSON.parse(r.body).error.code, 'GW_PLUGIN_TIMEOUT')
      else assert.equal(r.body, 'upstream saw x-probe=undefined', `${id}: proxied at the deadline`)
      const reqId = r.headers['x-request-id']!
      await until(`${id}: the late promise settled`, () => probe.settled.length > settledBefore, 5_000)
      // Its continuation runs in the microtasks after it settles, and whatever it would write, within a few turns.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
      assert.equal(up.requests.length - upstreamBefore, status === 503 ? 0 : 1, `${id}: nothing (more) sent upstream`)
      assert.equal(conn.pending.length, 0, `${id}: nothing written after the answer: ${conn.pending.toString('latin1')}`)
      assert.equal(conn.closed, false, `${id}: the connection is still usable`)
      assert.ok(!gw.logs.some((l) => l.reqId === reqId && (l.level as number) >= 50), `${id}: no error logged`)
    }
    const next = await conn.exchange('GET /in-time/x HTTP/1.1\r\nHost: gw\r\n\r\n', { timeoutMs: 5_000 })
    assert.equal(next.status, 200, 'the next request on the connection is answered normally')
  } finally {
    conn.destroy()
  }
  assert.deepEqual(unhandled, [], 'no unhandled rejection')
})

test('timeouts are counted per plugin; a storm of them is logged once, not per request', { timeout: 20_000 }, async () => {
  const logLines = (): number => gw.logs.filter((l) => l.msg === 'plugin access phase timed out' && l.plugin === 'probe').length
  const countBefore = metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe', scope: 'route' }) ?? 0
  const linesBefore = logLines()
  const rs = await Promise.all(Array.from({ length: 8 }, async (_, i) => await timedGet(gw.url + `/closed/storm-${i}`)))
  for (const r of rs) assertTimeoutEnvelope(r, 'storm')
  assert.equal(metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe', scope: 'route' }), countBefore + 8)
  assert.ok(logLines() - linesBefore <= 1, `${logLines() - linesBefore} log lines for 8 timeouts`)
  assert.ok(logLines() >= 1, 'timeouts are logged')
})

test('a reload retires the old snapshot although an access promise on it never settles', { timeout: 15_000 }, async () => {
  const pending = timedGet(gw.url + '/closed/reload')
  await until('the request is waiting on its plugin', () => gw.gw.runtime.inflight === 1)
  gw.rewrite(config([route('extra', { access: 'none' })]))
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
  assert.equal(gw.gw.reloader.retiring, 1, 'the old snapshot waits for its request')
  const r = await pending
  assertTimeoutEnvelope(r, 'request across the reload')
  await until('the old snapshot retired', () => gw.gw.reloader.retiring === 0, BUDGET + SLACK + 1_000)
})

test('a reload applies a new server.pluginTimeout without recompiling any route; a global plugin has its own deadline', { timeout: 15_000 }, async () => {
  gw.rewrite(config([], { pluginTimeout: '150ms' }))
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
  assert.equal(outcome.stats?.routesCompiled, 0)
  const r = await timedGet(gw.url + '/default/x')
  assertTimeoutEnvelope(r, '/default/x')
  assert.ok(r.ms >= 150 - 20 && r.ms < 150 + SLACK, `answered after ${r.ms.toFixed(0)} ms (server.pluginTimeout: 150 ms)`)

  const before = metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe-low', scope: 'global' }) ?? 0
  gw.rewrite({ ...config([], { pluginTimeout: '150ms' }), plugins: { 'probe-low': { tag: 'global-never', access: 'never', accessTimeout: 100, onAccessTimeout: 'open' } } })
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const g = await timedGet(gw.url + '/in-time/x')
  assert.equal(g.status, 200)
  assert.equal(g.text, 'upstream saw x-probe=in-time', 'the route\'s plugin ran after the global one timed out (open)')
  assert.ok(g.ms >= 100 - 20, `proxied after ${g.ms.toFixed(0)} ms: not before the global plugin's budget`)
  assert.equal(metric(await metricsText(gw), 'gateway_plugin_timeouts_total', { plugin: 'probe-low', scope: 'global' }), before + 1)
  gw.rewrite(config())
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
})

test('an instance with an invalid accessTimeout or onAccessTimeout is refused when the config is compiled', { timeout: 15_000 }, async () => {
  for (const [options, message] of [
    [{ accessTimeout: 0 }, 'route bad: plugin "probe": accessTimeout must be an integer number of ms from 1 to 2147483647, got 0'],
    [{ accessTimeout: 2.5 }, 'route bad: plugin "probe": accessTimeout must be an integer number of ms from 1 to 2147483647, got 2.5']
  ] as const) {
    gw.rewrite(config([route('bad', { access: 'never', ...options })]))
    const outcome = await gw.gw.reloader.reload('test')
    assert.equal(outcome.result, 'failed')
    assert.deepEqual(outcome.errors, [`config refused: ${message}`])
  }
  const r = await timedGet(gw.url + '/in-time/x')
  assert.equal(r.status, 200, 'the config in force keeps serving')
})

test('stop (drain) completes promptly while an access promise never settles', { timeout: 15_000 }, async () => {
  const g = await startTestGateway(config([], { drainTimeout: '30s' }), { plugins })
  let stopped = false
  try {
    const pending = timedGet(g.url + '/closed/drain')
    await until('the request is waiting on its plugin', () => g.gw.runtime.inflight === 1)
    const t0 = performance.now()
    await g.stop()
    stopped = true
    const ms = performance.now() - t0
    const r = await pending
    assertTimeoutEnvelope(r, 'request during the drain')
    assert.equal(r.headers.connection, 'close')
    assert.ok(ms < BUDGET + SLACK, `stop took ${ms.toFixed(0)} ms (budget ${BUDGET} ms, drainTimeout 30 s)`)
  } finally {
    if (!stopped) await g.stop()
  }
})
