// A ramp that rolls itself back, through a real gateway: two loopback
// upstreams, green failing with 503 while a ramp sends it half the traffic.
// The guard decides once both sides have minRequests, the ramp's side gets
// 0 % (every request to blue), the decision is logged once, counted, and shown
// by /admin/plugins with its figures; a reload that keeps the ramp keeps the
// decision.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { request } from 'undici'
import { metric } from '../helpers/metrics.js'
import { countOf, times, upstreamsOf } from '../helpers/split-requests.js'
import { startFaultyUpstream, type FaultyUpstream } from '../helpers/faulty-upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'

let blue: Upstream
let green: FaultyUpstream
let gw: TestGateway

/** Started five minutes before the gateway: halfway through its ten minutes (green at 50 %). */
const RAMP = { to: 'green', start: new Date(Date.now() - 5 * 60_000).toISOString(), duration: '10m' }

function config (header: string): Record<string, unknown> {
  return {
    upstreams: { 'svc-blue': { nodes: [{ url: blue.url }] }, 'svc-green': { nodes: [{ url: green.url }] } },
    routes: [{
      id: 'payments',
      match: { paths: ['/payments/*'] },
      upstream: 'svc-blue',
      plugins: {
        'traffic-split': {
          sides: { blue: 'svc-blue', green: 'svc-green' },
          active: 'blue',
          ramp: RAMP,
          rollback: { minRequests: 20, window: '1m' },
          header
        }
      }
    }]
  }
}

before(async () => {
  blue = await startUpstream({ name: 'svc-blue' })
  green = await startFaultyUpstream('svc-green')
  green.status = 503
  gw = await startTestGateway(config('x-gateway-side'))
})

after(async () => {
  await gw.stop()
  await blue.close()
  await green.close()
})

async function splitStatus (): Promise<Record<string, any>> {
  const res = await request(gw.adminUrl + '/admin/plugins?name=traffic-split&route=payments')
  const [entry] = await res.body.json() as Array<{ status: Record<string, any> }>
  return entry!.status
}

async function send (n: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(gw.url + '/payments/p_1')
    await res.body.dump()
    statuses.push(res.statusCode)
  }
  return statuses
}

test('a failing green side is rolled back: every request goes to blue, logged once, counted, shown with its figures', async () => {
  const before = await splitStatus()
  assert.equal(before.ramp.state, 'moving')
  assert.equal(before.rollback.rolledBack, false)
  assert.equal(before.rollback.decision, null)

  // Half the requests go to green and fail, until the guard has seen 20 of each side.
  await until('the ramp is rolled back', async () => {
    await send(10)
    return (await splitStatus()).rollback.rolledBack === true
  }, 10_000)
  const s = await splitStatus()
  assert.deepEqual(s.weights, { blue: 100, green: 0 })
  assert.equal(s.ramp.state, 'rolled-back')
  assert.equal(s.ramp.percent, 0)
  const d = s.rollback.decision
  assert.equal(d.decided, 'here')
  assert.match(d.why, /^error ratio 1 > 0 \+ 0\.05$/)
  assert.equal(d.figures.to.side, 'green')
  assert.ok(d.figures.to.requests >= 20 && d.figures.to.errors === d.figures.to.requests, JSON.stringify(d.figures))
  assert.ok(d.figures.from.requests >= 20 && d.figures.from.errors === 0, JSON.stringify(d.figures))
  assert.equal(s.rollback.redis, null)

  // From now on, blue only.
  assert.deepEqual(countOf(await upstreamsOf(gw.url + '/payments/p_1', times(100))), { 'svc-blue': 100 })

  const warnings = gw.logs.filter((l) => l.level === 40 && String(l.msg).startsWith('traffic-split: ramp to green rolled back'))
  assert.equal(warnings.length, 1)
  assert.equal(warnings[0]!.route, 'payments')
  const text = await (await request(gw.adminUrl + '/metrics')).body.text()
  assert.equal(metric(text, 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), 1)
})

test('a reload that re-creates the split but keeps the ramp stays rolled back', async () => {
  green.status = 200 // green is fixed, but the ramp was rolled back: it stays so until the ramp changes
  gw.rewrite(config('x-served-by'))
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
  const res = await request(gw.url + '/payments/p_1')
  await res.body.dump()
  assert.equal(res.headers['x-served-by'], 'blue', 'the new instance serves')
  const s = await splitStatus()
  assert.equal(s.header, 'x-served-by')
  assert.equal(s.rollback.rolledBack, true)
  assert.deepEqual(countOf(await upstreamsOf(gw.url + '/payments/p_1', times(50))), { 'svc-blue': 50 })
  const text = await (await request(gw.adminUrl + '/metrics')).body.text()
  assert.equal(metric(text, 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), 1)
})

test('a ramp side that lost every node (answered 503 without any attempt) is rolled back too', async (t) => {
  // Green's only node refuses connections; its breaker ejects it on the first
  // failure, and from then on green's requests get 503 GW_UPSTREAM_UNAVAILABLE
  // with no upstream attempt, so no outcome: the split counts them as failures.
  const dead = await startUpstream({ name: 'dead' })
  const deadUrl = dead.url
  await dead.close()
  const lone = await startTestGateway({
    upstreams: {
      'svc-blue': { nodes: [{ url: blue.url }] },
      'svc-green': { nodes: [{ url: deadUrl }], retries: 0, breaker: { consecutiveFailures: 1, openTime: '1m', maxEjectionPercent: 100 } }
    },
    routes: [{
      id: 'payments',
      match: { paths: ['/payments/*'] },
      upstream: 'svc-blue',
      plugins: { 'traffic-split': { sides: { blue: 'svc-blue', green: 'svc-green' }, active: 'blue', ramp: RAMP, rollback: { minRequests: 20, window: '1m' } } }
    }]
  })
  t.after(() => lone.stop())
  const status = async (): Promise<Record<string, any>> => {
    const res = await request(lone.adminUrl + '/admin/plugins?name=traffic-split&route=payments')
    const [entry] = await res.body.json() as Array<{ status: Record<string, any> }>
    return entry!.status
  }
  await until('the ramp is rolled back', async () => {
    for (let i = 0; i < 10; i++) await (await request(lone.url + '/payments/p_1')).body.dump()
    return (await status()).rollback.rolledBack === true
  }, 10_000)
  const d = (await status()).rollback.decision
  assert.ok(d.figures.to.requests >= 20 && d.figures.to.errors === d.figures.to.requests, JSON.stringify(d.figures))
  assert.ok(lone.logs.some((l) => l.msg === 'access' && l.error === 'GW_UPSTREAM_UNAVAILABLE' && l.group === 'green' && l.attempts === 0),
    'green requests were answered without an attempt')
  assert.deepEqual(countOf(await upstreamsOf(lone.url + '/payments/p_1', times(30))), { 'svc-blue': 30 })
})
