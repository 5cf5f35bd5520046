// Bulkheads: per-upstream bounds on requests in flight and on requests waiting
// for a pooled connection, answered at once with 503 GW_UPSTREAM_BUSY without
// touching the upstream; their counters outlive a reload.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startFailingNode, type FailingNode } from '../helpers/failing-node.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { metric } from '../helpers/metrics.js'
import { until } from '../helpers/until.js'

interface Held { done: Promise<unknown>; abort(): void }
interface UpstreamView { name: string; inflight: number; pending: number; refusals: { maxRequests: number; maxPending: number } }

let gw: TestGateway
let stall: FailingNode
const held: Held[] = []

before(async () => {
  stall = await startFailingNode('stall')
  gw = await startTestGateway({ upstreams: { s: { nodes: [{ url: stall.url }] } }, routes: [{ id: 's', match: { paths: ['/s'] }, upstream: 's' }] })
})

after(async () => {
  releaseHeld()
  await gw.stop()
  await stall.close()
})

/** Reloads with one upstream `busy` on the stalled node, served on /busy/*. */
async function useBusy (upstream: Record<string, unknown>): Promise<void> {
  gw.rewrite({
    upstreams: { busy: { nodes: [{ url: stall.url }], ...upstream } },
    routes: [{ id: 'busy', match: { paths: ['/busy/*'] }, upstream: 'busy' }]
  })
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
}

/** A request to the stalled node left waiting (aborted by releaseHeld). */
function hold (path: string): void {
  const ac = new AbortController()
  const done = request(gw.url + path, { signal: ac.signal }).then((r) => r.body.text()).catch(() => {})
  held.push({ done, abort: () => ac.abort() })
}

function releaseHeld (): Promise<unknown> {
  const all = held.splice(0)
  for (const h of all) h.abort()
  return Promise.all(all.map((h) => h.done))
}

async function busyView (): Promise<UpstreamView> {
  const list = await (await fetch(gw.adminUrl + '/admin/upstreams')).json() as UpstreamView[]
  return list.find((u) => u.name === 'busy')!
}

async function refusedAtOnce (path: string): Promise<void> {
  const t0 = performance.now()
  const res = await request(gw.url + path)
  const body = await res.body.json() as { error: { code: string } }
  const ms = performance.now() - t0
  assert.equal(res.statusCode, 503)
  assert.equal(body.error.code, 'GW_UPSTREAM_BUSY')
  assert.equal(res.headers['retry-after'], '1')
  assert.ok(ms < 250, `answered at once (${Math.round(ms)} ms)`)
}

test('maxRequests: the request over the bound gets 503 GW_UPSTREAM_BUSY at once and never reaches the upstream', async () => {
  await useBusy({ limits: { maxRequests: 3 } })
  const before = stall.requests.length
  for (let i = 0; i < 3; i++) hold(`/busy/held/${i}`)
  await until('3 requests at the stalled node', () => stall.requests.length === before + 3)
  await refusedAtOnce('/busy/over')
  assert.equal(stall.requests.length, before + 3, 'the refused request was not dispatched')
  const view = await busyView()
  assert.equal(view.inflight, 3)
  assert.equal(view.refusals.maxRequests, 1)
  assert.equal(metric(await (await fetch(gw.adminUrl + '/metrics')).text(), 'gateway_upstream_refusals_total', { upstream: 'busy', limit: 'maxRequests' }), 1)

  await releaseHeld()
  await until('nothing in flight once the clients left', async () => (await busyView()).inflight === 0)
  hold('/busy/again')
  await until('room again', () => stall.requests.length === before + 4)
  await releaseHeld()
})

test('maxPending: requests waiting for a pooled connection are bounded', async () => {
  await useBusy({ pool: { connections: 1 }, limits: { maxPending: 2 } })
  await until('no connection left open to the stalled node', () => stall.open === 0)
  const before = stall.requests.length
  for (let i = 0; i < 3; i++) hold(`/busy/p/${i}`)
  // One request on the only connection, two waiting for it.
  await until('one request sent', () => stall.requests.length === before + 1)
  await until('two waiting', async () => (await busyView()).pending === 2)
  await refusedAtOnce('/busy/p/over')
  const view = await busyView()
  assert.equal(view.inflight, 3)
  assert.equal(view.refusals.maxPending, 1)
  await releaseHeld()
  await until('nothing in flight or waiting', async () => { const v = await busyView(); return v.inflight === 0 && v.pending === 0 })
})

test('bulkhead counters survive a reload: requests in flight on the old config still count', async () => {
  await useBusy({ limits: { maxRequests: 2 } })
  const before = stall.requests.length
  for (let i = 0; i < 2; i++) hold(`/busy/r/${i}`)
  await until('2 requests at the stalled node', () => stall.requests.length === before + 2)
  // The upstream is rebuilt (its limits changed); the 2 requests of the old snapshot are still in flight.
  await useBusy({ limits: { maxRequests: 3 } })
  assert.equal((await busyView()).inflight, 2)
  hold('/busy/r/2')
  await until('the third admitted', () => stall.requests.length === before + 3)
  await refusedAtOnce('/busy/r/over')
  await releaseHeld()
  await until('all three left, old config\'s included', async () => (await busyView()).inflight === 0)
})
