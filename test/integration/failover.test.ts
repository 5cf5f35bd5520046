// Failover across data centres (upstreams.*.failover) through a gateway to
// real loopback upstreams in two zones: dc1 (a1, a2, a3) and dc2 (b1, b2).
// In process, node health is driven directly on the shared NodeHealth records
// (what the active prober and the node breaker do), so these tests depend on
// neither; the gateway process shows the zone taken from the environment and
// changed by a hot reload.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { tempDir } from '../helpers/cli-config.js'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { metric } from '../helpers/metrics.js'
import { tally } from '../helpers/tally.js'

const up: Record<string, Upstream> = {}

before(async () => {
  for (const name of ['a1', 'a2', 'a3', 'b1', 'b2']) up[name] = await startUpstream({ name })
})

after(async () => {
  await Promise.all(Object.values(up).map((u) => u.close()))
})

const ROUTES = [{ id: 'orders', match: { paths: ['/orders/*'] }, upstream: 'orders' }]

/** dc1: a1, a2, a3; dc2: b1, b2 (or the zones given per node; null: no zone). */
function nodes (zones: Record<string, string | null> = { a1: 'dc1', a2: 'dc1', a3: 'dc1', b1: 'dc2', b2: 'dc2' }): object[] {
  return Object.entries(zones).map(([name, zone]) => zone === null ? { url: up[name]!.url } : { url: up[name]!.url, zone })
}

function config (opts: { zone?: string; failover?: object; nodes?: object[]; weight?: number } = {}): Record<string, unknown> {
  const list = opts.nodes ?? nodes()
  if (opts.weight !== undefined) (list[0] as { weight?: number }).weight = opts.weight
  return {
    ...(opts.zone === undefined ? {} : { node: { zone: opts.zone } }),
    upstreams: { orders: { nodes: list, ...(opts.failover === undefined ? {} : { failover: opts.failover }) } },
    routes: ROUTES
  }
}

/** Marks node `name` of upstream `orders` (un)healthy, as the active prober would. */
function setHealthy (gw: TestGateway, name: string, healthy: boolean): void {
  const node = gw.gw.current.upstreams.get('orders')!.nodes.find((n) => n.id === up[name]!.url)!
  node.health.probeHealthy = healthy
  node.health.changed()
}

interface AdminUpstream {
  name: string
  failover: { zones: string[]; minHealthy: number; activeLevel: number } | null
  nodes: Array<{ url: string; zone: string | null; level: number; available: boolean }>
}

async function adminOrders (gw: TestGateway): Promise<AdminUpstream> {
  const list = await (await fetch(gw.adminUrl + '/admin/upstreams')).json() as AdminUpstream[]
  return list.find((u) => u.name === 'orders')!
}

async function activePriority (gw: TestGateway): Promise<number | undefined> {
  return metric(await (await fetch(gw.adminUrl + '/metrics')).text(), 'gateway_upstream_active_priority', { upstream: 'orders' })
}

/** The zones a tally reached. */
function zonesOf (counts: Record<string, number>): string[] {
  return [...new Set(Object.keys(counts).map((n) => n.startsWith('a') ? 'dc1' : 'dc2'))].sort()
}

describe('failover across data centres: priority levels by zone', () => {
  it('stays in the local zone while healthy, spills to dc2 below minHealthy, comes back on recovery', async (t) => {
    const gw = await startTestGateway(config({ zone: 'dc1', failover: { zones: ['dc2'], minHealthy: 0.7 } }))
    t.after(() => gw.stop())
    const url = gw.url + '/orders/x'

    // All healthy: every request in dc1, shared by its three nodes.
    assert.deepEqual(await tally(url, 30), { a1: 10, a2: 10, a3: 10 })
    let admin = await adminOrders(gw)
    assert.deepEqual(admin.failover, { zones: ['dc1', 'dc2'], minHealthy: 0.7, activeLevel: 0 })
    assert.deepEqual(admin.nodes.map((n) => [n.zone, n.level, n.available]),
      [['dc1', 0, true], ['dc1', 0, true], ['dc1', 0, true], ['dc2', 1, false], ['dc2', 1, false]])
    assert.equal(await activePriority(gw), 0)

    // a2 unhealthy: dc1 at 2/3 < 0.7, so dc2's healthy nodes take traffic too.
    setHealthy(gw, 'a2', false)
    const spilled = await tally(url, 40)
    assert.equal(spilled.a2, undefined)
    assert.deepEqual(spilled, { a1: 10, a3: 10, b1: 10, b2: 10 })
    admin = await adminOrders(gw)
    assert.equal(admin.failover!.activeLevel, 1)
    assert.deepEqual(admin.nodes.map((n) => n.available), [true, false, true, true, true])
    assert.equal(await activePriority(gw), 1)

    // A dc2 node unhealthy as well: the spill goes on with what is left.
    setHealthy(gw, 'b1', false)
    assert.deepEqual(await tally(url, 30), { a1: 10, a3: 10, b2: 10 })

    // a2 recovers: dc1 back at 3/3, traffic returns to dc1 only.
    setHealthy(gw, 'a2', true)
    assert.deepEqual(zonesOf(await tally(url, 30)), ['dc1'])
    assert.equal((await adminOrders(gw)).failover!.activeLevel, 0)
    assert.equal(await activePriority(gw), 0)
  })

  it('every local node down: all traffic in dc2', async (t) => {
    const gw = await startTestGateway(config({ zone: 'dc1', failover: { zones: ['dc2'], minHealthy: 0.7 } }))
    t.after(() => gw.stop())
    for (const n of ['a1', 'a2', 'a3']) setHealthy(gw, n, false)
    assert.deepEqual(await tally(gw.url + '/orders/x', 20), { b1: 10, b2: 10 })
  })

  it('a node without a zone is local: its health counts in the local zone\'s share', async (t) => {
    // dc1 = a1 (dc1) + a2 (no zone); dc2 = b1. minHealthy 0.6: one of two healthy (0.5) spills.
    const gw = await startTestGateway(config({
      zone: 'dc1',
      nodes: nodes({ a1: 'dc1', a2: null, b1: 'dc2' }),
      failover: { zones: ['dc2'], minHealthy: 0.6 }
    }))
    t.after(() => gw.stop())
    const url = gw.url + '/orders/x'
    assert.deepEqual(await tally(url, 20), { a1: 10, a2: 10 })
    assert.deepEqual((await adminOrders(gw)).nodes.map((n) => [n.zone, n.level]), [['dc1', 0], [null, 0], ['dc2', 1]])
    setHealthy(gw, 'a2', false)
    assert.deepEqual(await tally(url, 20), { a1: 10, b1: 10 })
  })

  it('without node.zone the first zone of failover.zones is the preferred one', async (t) => {
    const gw = await startTestGateway(config({ failover: { zones: ['dc2', 'dc1'], minHealthy: 0.7 } }))
    t.after(() => gw.stop())
    assert.deepEqual(await tally(gw.url + '/orders/x', 20), { b1: 10, b2: 10 })
    assert.deepEqual((await adminOrders(gw)).failover!.zones, ['dc2', 'dc1'])
    setHealthy(gw, 'b2', false)
    assert.deepEqual(zonesOf(await tally(gw.url + '/orders/x', 20)), ['dc1', 'dc2'])
  })

  it('without failover every healthy node shares traffic, whatever its zone (unchanged)', async (t) => {
    const gw = await startTestGateway(config({ zone: 'dc1' }))
    t.after(() => gw.stop())
    assert.deepEqual(await tally(gw.url + '/orders/x', 25), { a1: 5, a2: 5, a3: 5, b1: 5, b2: 5 })
    assert.equal((await adminOrders(gw)).failover, null)
    assert.equal(await activePriority(gw), 0)
  })

  it('an upstream rebuilt by a reload (weight edit) starts from the shared node health: the spill holds', async (t) => {
    const failover = { zones: ['dc2'], minHealthy: 0.7 }
    const gw = await startTestGateway(config({ zone: 'dc1', failover }))
    t.after(() => gw.stop())
    setHealthy(gw, 'a3', false)
    const before = gw.gw.current.upstreams.get('orders')
    gw.rewrite(config({ zone: 'dc1', failover, weight: 2 }))
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    assert.notEqual(gw.gw.current.upstreams.get('orders'), before, 'the upstream was rebuilt')
    assert.equal((await adminOrders(gw)).failover!.activeLevel, 1)
    assert.deepEqual(zonesOf(await tally(gw.url + '/orders/x', 20)), ['dc1', 'dc2'])
  })

  it('a node.zone edit rebuilds the upstream on reload: traffic moves to the new local zone', async (t) => {
    const failover = { zones: ['dc1', 'dc2'], minHealthy: 0.7 }
    const gw = await startTestGateway(config({ zone: 'dc1', failover }))
    t.after(() => gw.stop())
    assert.deepEqual(zonesOf(await tally(gw.url + '/orders/x', 12)), ['dc1'])
    gw.rewrite(config({ zone: 'dc2', failover }))
    assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
    assert.deepEqual(await tally(gw.url + '/orders/x', 12), { b1: 6, b2: 6 })
    assert.deepEqual((await adminOrders(gw)).failover!.zones, ['dc2', 'dc1'])
  })
})

describe('failover across data centres: a gateway process', () => {
  it('node.zone from ${GW_ZONE} picks the local zone; a reload that changes node.zone moves the traffic', async (t) => {
    const dir = tempDir(t)
    const listen = await freePort()
    const admin = await freePort()
    const file = path.join(dir, 'gateway.yaml')
    const text = (zone: string): string => [
      `listen: { host: 127.0.0.1, port: ${listen} }`,
      `admin: { host: 127.0.0.1, port: ${admin} }`,
      `node: { zone: ${JSON.stringify(zone)} }`,
      'upstreams:',
      '  orders:',
      '    nodes:',
      ...['a1', 'a2', 'a3'].map((n) => `      - { url: ${up[n]!.url}, zone: dc1 }`),
      ...['b1', 'b2'].map((n) => `      - { url: ${up[n]!.url}, zone: dc2 }`),
      '    failover: { zones: [dc1, dc2], minHealthy: 0.7 }',
      'routes:',
      '  - { id: orders, match: { paths: [/orders/*] }, upstream: orders }',
      ''
    ].join('\n')
    fs.writeFileSync(file, text('${GW_ZONE}'))
    const gp = await startGatewayProcess(file, { env: { GW_ZONE: 'dc2' } })
    t.after(async () => { await gp.stop('SIGKILL') })
    const url = `http://127.0.0.1:${listen}/orders/x`
    const orders = async (): Promise<AdminUpstream> =>
      ((await (await fetch(`http://127.0.0.1:${admin}/admin/upstreams`)).json()) as AdminUpstream[]).find((u) => u.name === 'orders')!

    // The same file in every data centre: this gateway runs in dc2 (from the environment), so dc2 comes first.
    assert.deepEqual(await tally(url, 20), { b1: 10, b2: 10 })
    assert.deepEqual((await orders()).failover, { zones: ['dc2', 'dc1'], minHealthy: 0.7, activeLevel: 0 })

    fs.writeFileSync(file, text('dc1'))
    const reload = await fetch(`http://127.0.0.1:${admin}/admin/reload`, { method: 'POST' })
    assert.equal(reload.status, 200, await reload.text())
    assert.deepEqual(await tally(url, 30), { a1: 10, a2: 10, a3: 10 })
    assert.deepEqual((await orders()).failover!.zones, ['dc1', 'dc2'])
    const scrape = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
    assert.equal(metric(scrape, 'gateway_upstream_active_priority', { upstream: 'orders' }), 0)
  })
})
