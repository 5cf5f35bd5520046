// Active health checks through a real gateway and real loopback upstreams
// whose /healthz the tests flip: a node failing its probes leaves its
// upstreams after unhealthyThreshold of them and comes back after
// healthyThreshold successes; one prober per node address; reloads keep the
// verdict; a removed node is no longer probed; probes have their own timeout
// and their own connection; stop() leaves nothing running.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { request } from 'undici'
import type { Prober } from '../../gateway/health/prober.js'
import { PROBER_SLOT } from '../../gateway/health/probers.js'
import { startHealthUpstream, type HealthUpstream } from '../helpers/health-upstream.js'
import { metric } from '../helpers/metrics.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { until } from '../helpers/until.js'
import { writeConfig } from '../helpers/yaml-config.js'

interface AdminNode {
  url: string
  available: boolean
  health: string
  healthCheck: {
    path: string
    lastResult: string | null
    lastError: string | null
    lastProbeAt: string | null
    consecutiveSuccesses: number
    consecutiveFailures: number
  } | null
}

const CHECK = { path: '/healthz', interval: '50ms', jitter: 0, healthyThreshold: 2, unhealthyThreshold: 3 }

function route (upstream = 'u'): object[] {
  return [{ id: 'r', match: { paths: ['/*'] }, upstream }]
}

/** The names of the upstreams that answered `n` requests sent one after the other. */
async function servedBy (gw: TestGateway, n: number): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(gw.url + '/x')
    assert.equal(res.statusCode, 200)
    names.push((await res.body.json() as { upstream: string }).upstream)
  }
  return names
}

async function adminNode (gw: TestGateway, upstream: string, url: string): Promise<AdminNode> {
  const res = await request(gw.adminUrl + '/admin/upstreams')
  const list = await res.body.json() as Array<{ name: string; nodes: AdminNode[] }>
  const node = list.find((u) => u.name === upstream)?.nodes.find((n) => n.url === url)
  assert.ok(node !== undefined, `no node ${url} in upstream ${upstream}`)
  return node
}

async function metricsText (gw: TestGateway): Promise<string> {
  return await (await request(gw.adminUrl + '/metrics')).body.text()
}

/** The gateway's probe verdict on a node (undefined once its record retired). */
function probeHealthy (gw: TestGateway, up: HealthUpstream): boolean | undefined {
  return gw.gw.health.get(up.url)?.probeHealthy
}

function proberOf (gw: TestGateway, up: HealthUpstream): Prober | undefined {
  return gw.gw.health.get(up.url)?.slots.get(PROBER_SLOT) as Prober | undefined
}

async function reload (gw: TestGateway, config: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  gw.rewrite(config)
  const out = await gw.gw.reloader.reload('test')
  assert.equal(out.result, 'ok', out.errors.join('\n'))
  return out.stats
}

test('a node failing its probe leaves the balancer after unhealthyThreshold probes, live traffic stops going to it, and it is readmitted after healthyThreshold successes', async (t) => {
  const a = await startHealthUpstream('a')
  const b = await startHealthUpstream('b')
  const gw = await startTestGateway({
    upstreams: { u: { nodes: [{ url: a.url }, { url: b.url }], healthCheck: CHECK } },
    routes: route()
  })
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })
  // Probes of one node are sequential: the verdict seen as probe k arrives reflects the results of probes 1..k-1.
  a.sample = () => probeHealthy(gw, a)

  assert.deepEqual(new Set(await servedBy(gw, 4)), new Set(['a', 'b']))
  await until('two probes answered ok', () => a.probesIn('ok').length >= 2)
  assert.equal(a.probes[0]!.host, `127.0.0.1:${a.port}`, 'the probe\'s Host is the node\'s host:port')

  a.mode = 'fail'
  await until('four failing probes at a', () => a.probesIn('fail').length >= 4)
  assert.deepEqual(a.probesIn('fail').slice(0, 4).map((p) => p.sampled), [true, true, true, false],
    'healthy until the third failure in a row (unhealthyThreshold 3), then out')
  const servedBefore = a.served
  assert.deepEqual(await servedBy(gw, 10), Array(10).fill('b'))
  assert.equal(a.served, servedBefore, 'no live request reached the failing node')

  const node = await adminNode(gw, 'u', a.url)
  assert.equal(node.health, 'unhealthy')
  assert.equal(node.available, false)
  assert.equal(node.healthCheck?.path, '/healthz')
  assert.equal(node.healthCheck?.lastResult, 'status')
  assert.equal(node.healthCheck?.lastError, 'status 503')
  assert.ok(node.healthCheck.consecutiveFailures >= 3)
  assert.equal(node.healthCheck.consecutiveSuccesses, 0)
  assert.ok(Date.parse(node.healthCheck.lastProbeAt ?? '') > 0)
  const text = await metricsText(gw)
  assert.equal(metric(text, 'gateway_upstream_node_available', { upstream: 'u', node: a.url }), 0)
  assert.equal(metric(text, 'gateway_upstream_node_available', { upstream: 'u', node: b.url }), 1)
  assert.ok((metric(text, 'gateway_health_checks_total', { node: a.url, result: 'status' }) ?? 0) >= 3)
  assert.ok((metric(text, 'gateway_health_checks_total', { node: a.url, result: 'success' }) ?? 0) >= 2)
  assert.ok(gw.logs.some((l) => l.msg === 'node failed its health checks: out of its upstreams until it passes them again' &&
    l.node === a.url && l.reason === 'status 503'))

  const okBefore = a.probesIn('ok').length
  a.mode = 'ok'
  await until('three ok probes after the flip', () => a.probesIn('ok').length >= okBefore + 3)
  assert.deepEqual(a.probesIn('ok').slice(okBefore, okBefore + 3).map((p) => p.sampled), [false, false, true],
    'out until the second success in a row (healthyThreshold 2), then back')
  await until('live traffic reaches a again', async () => (await servedBy(gw, 2)).includes('a'))
  assert.equal((await adminNode(gw, 'u', a.url)).health, 'healthy')
  assert.equal(metric(await metricsText(gw), 'gateway_upstream_node_available', { upstream: 'u', node: a.url }), 1)
})

test('one prober per node address when two upstreams list the node', async (t) => {
  const a = await startHealthUpstream('a')
  const b = await startHealthUpstream('b')
  const gw = await startTestGateway({
    upstreams: {
      one: { nodes: [{ url: a.url }], healthCheck: CHECK },
      two: { nodes: [{ url: `${a.url}/v2`, weight: 3 }, { url: b.url }], healthCheck: CHECK }
    },
    routes: route('one')
  })
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })

  await until('12 probes at a', () => a.probes.length >= 12)
  // One prober starts a probe at most every 50 ms: probes 2..12 span 10 intervals (500 ms; two probers would take half that).
  const span = a.probes[11]!.at - a.probes[1]!.at
  t.diagnostic(`probes 2..12 at the shared node spanned ${Math.round(span)} ms`)
  assert.ok(span >= 400, `11 probes in ${Math.round(span)} ms: more than one prober`)
  const one = await adminNode(gw, 'one', a.url)
  const two = await adminNode(gw, 'two', `${a.url}/v2`)
  assert.ok(one.healthCheck !== null)
  assert.deepEqual(one.healthCheck, two.healthCheck, 'both upstreams show the one prober of the address')
})

test('a reload that edits a weight keeps the verdict (an unhealthy node stays out); one that changes the check reconfigures it and keeps the verdict', async (t) => {
  const a = await startHealthUpstream('a')
  const b = await startHealthUpstream('b')
  const config = (weight: number, check: object): Record<string, unknown> => ({
    upstreams: { u: { nodes: [{ url: a.url, weight }, { url: b.url }], healthCheck: check } },
    routes: route()
  })
  const gw = await startTestGateway(config(1, CHECK))
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })

  a.mode = 'fail'
  await until('a is out', () => probeHealthy(gw, a) === false)
  const prober = proberOf(gw, a)
  const upstream = gw.gw.current.upstreams.get('u')

  const stats = await reload(gw, config(5, CHECK))
  assert.equal(stats?.upstreamsRebuilt, 1)
  const rebuilt = gw.gw.current.upstreams.get('u')!
  assert.notEqual(rebuilt, upstream)
  // Right after the swap, before any probe could have run again: the verdict was carried, not re-learnt.
  assert.equal(rebuilt.nodes[0]!.available, false)
  assert.equal(proberOf(gw, a), prober, 'the same prober, with its counters')
  assert.deepEqual(await servedBy(gw, 6), Array(6).fill('b'))

  await reload(gw, config(5, { ...CHECK, interval: '60ms', healthyThreshold: 3 }))
  assert.equal(gw.gw.current.upstreams.get('u')!.nodes[0]!.available, false)
  assert.equal(proberOf(gw, a), prober, 'reconfigured in place')
  assert.equal(prober?.settings.interval, 60)
  assert.equal((await adminNode(gw, 'u', a.url)).health, 'unhealthy')

  a.sample = () => probeHealthy(gw, a)
  const okBefore = a.probesIn('ok').length
  a.mode = 'ok'
  await until('four ok probes after the flip', () => a.probesIn('ok').length >= okBefore + 4)
  assert.deepEqual(a.probesIn('ok').slice(okBefore, okBefore + 4).map((p) => p.sampled), [false, false, false, true],
    'readmitted after the new healthyThreshold (3)')
})

test('a node removed from config stops being probed', async (t) => {
  const a = await startHealthUpstream('a')
  const b = await startHealthUpstream('b')
  const gw = await startTestGateway({
    upstreams: { u: { nodes: [{ url: a.url }, { url: b.url }], healthCheck: CHECK } },
    routes: route()
  })
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })
  await until('a probed twice', () => a.probes.length >= 2)

  await reload(gw, { upstreams: { u: { nodes: [{ url: b.url }], healthCheck: CHECK } }, routes: route() })
  await until('a\'s health record retired', () => gw.gw.health.get(a.url) === undefined)
  const probesAtRetirement = a.probes.length
  const bAtRetirement = b.probes.length
  await until('b probed five more times', () => b.probes.length >= bAtRetirement + 5)
  // At most a probe already on its way when the prober closed.
  assert.ok(a.probes.length <= probesAtRetirement + 1, `a probed ${a.probes.length - probesAtRetirement} more times`)
  assert.equal(metric(await metricsText(gw), 'gateway_health_checks_total', { node: a.url, result: 'success' }), undefined,
    'the removed node\'s series are gone')
})

test('a reload that removes the healthCheck stops the probes and readmits an unhealthy node at once', async (t) => {
  const a = await startHealthUpstream('a')
  const b = await startHealthUpstream('b')
  const config = (check: object | undefined): Record<string, unknown> => ({
    upstreams: {
      u: check === undefined ? { nodes: [{ url: a.url }] } : { nodes: [{ url: a.url }], healthCheck: check },
      clock: { nodes: [{ url: b.url }], healthCheck: CHECK }
    },
    routes: route()
  })
  const gw = await startTestGateway(config(CHECK))
  t.after(async () => { await gw.stop(); await a.close(); await b.close() })
  a.mode = 'fail'
  await until('a is out', () => probeHealthy(gw, a) === false)

  await reload(gw, config(undefined))
  assert.equal(gw.gw.current.upstreams.get('u')!.nodes[0]!.available, true)
  assert.equal(proberOf(gw, a), undefined)
  assert.deepEqual(await servedBy(gw, 2), ['a', 'a'])
  const node = await adminNode(gw, 'u', a.url)
  assert.equal(node.health, 'healthy')
  assert.equal(node.healthCheck, null)
  const probes = a.probes.length
  const bProbes = b.probes.length
  await until('b probed five more times', () => b.probes.length >= bProbes + 5)
  assert.ok(a.probes.length <= probes + 1, `a probed ${a.probes.length - probes} more times`)
})

test('probes use their own timeout and their own connection: a busy pool does not delay them, a hanging /healthz is a failure', async (t) => {
  const a = await startHealthUpstream('a')
  const gw = await startTestGateway({
    upstreams: {
      u: {
        nodes: [{ url: a.url }],
        pool: { connections: 1 },
        timeouts: { header: '30s' },
        healthCheck: { path: '/healthz', interval: '100ms', jitter: 0, timeout: '30ms', healthyThreshold: 1, unhealthyThreshold: 2 }
      }
    },
    routes: route()
  })
  const live = new AbortController()
  t.after(async () => { live.abort(); await gw.stop(); await a.close() })

  // The node's only pooled connection is taken by a live request that hangs.
  a.hangLive = true
  const hanging = request(gw.url + '/slow', { signal: live.signal }).catch(() => undefined)
  await until('the live request reached a', () => a.inflight >= 1)
  const okBefore = a.probesIn('ok').length
  await until('three more probes answered', () => a.probesIn('ok').length >= okBefore + 3)
  assert.equal(probeHealthy(gw, a), true)
  assert.ok((proberOf(gw, a)?.consecutiveSuccesses ?? 0) >= 3)

  a.mode = 'hang'
  const hungAt = performance.now()
  await until('a is out', () => probeHealthy(gw, a) === false)
  const took = performance.now() - hungAt
  t.diagnostic(`hanging /healthz: out after ${Math.round(took)} ms (2 probes, timeout 30 ms, interval 100 ms)`)
  assert.ok(took < 1000, 'judged by the probe timeout, not the upstream\'s header timeout')
  const node = await adminNode(gw, 'u', a.url)
  assert.equal(node.healthCheck?.lastResult, 'timeout')
  assert.equal(node.healthCheck?.lastError, 'no answer within 30ms')
  assert.ok((metric(await metricsText(gw), 'gateway_health_checks_total', { node: a.url, result: 'timeout' }) ?? 0) >= 2)
  live.abort()
  await hanging
})

test('stop() leaves no prober running: the process exits on its own', { timeout: 30_000 }, async (t) => {
  const a = await startHealthUpstream('a')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-health-'))
  t.after(async () => { await a.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const configFile = writeConfig(dir, {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { u: { nodes: [{ url: a.url }], healthCheck: { ...CHECK, interval: '50ms' } } },
    routes: route()
  })
  const gatewayModule = new URL('../../gateway/gateway.js', import.meta.url).href
  const pinoModule = import.meta.resolve('pino')
  // Starts a gateway, waits for its prober to have probed, stops it, and leaves the process to exit by itself.
  const script = `
    import { Gateway } from ${JSON.stringify(gatewayModule)}
    import { pino } from ${JSON.stringify(pinoModule)}
    const gw = await Gateway.start({ configFile: ${JSON.stringify(configFile)}, logger: pino({ level: 'silent' }), watch: false })
    const prober = () => gw.health.get(${JSON.stringify(a.url)})?.slots.get('prober')
    while (prober()?.lastProbeAt === undefined) await new Promise((resolve) => setTimeout(resolve, 10))
    await gw.stop()
    console.log('stopped')
  `
  // A file, not --eval: the config worker thread inherits the process's execArgv.
  const scriptFile = path.join(dir, 'stop.mjs')
  fs.writeFileSync(scriptFile, script)
  const child = spawn(process.execPath, [scriptFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  let exitCode: number | null | undefined
  child.on('exit', (code) => { exitCode = code })
  t.after(() => { if (exitCode === undefined) child.kill('SIGKILL') })

  await until('the child stopped its gateway', () => out.includes('stopped') || exitCode !== undefined, 15_000)
  assert.ok(out.includes('stopped'), out)
  assert.ok(a.probes.length >= 1)
  const stoppedAt = a.probes.length
  await until('the child process exits by itself', () => exitCode !== undefined, 5_000)
  assert.equal(exitCode, 0, out)
  assert.ok(a.probes.length <= stoppedAt + 1)
})
