// traffic-split through a real gateway and two real loopback upstreams
// (svc-blue, svc-green): the rules (header, cookie, query, client IP in CIDRs,
// first match wins), the weighted split (10/90 within 1.5 points over 10,000
// requests), sticky users (each keeps its side; raising the weight by hot
// reload moves none back), a ramp whose start is in the past (the weight is
// where the clock says), and what an SRE sees: the access log's `group`, the
// per-(route, group) metrics, the response header, /admin/plugins and
// /admin/match.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { rampPercent } from '../../plugins/traffic-split/ramp.js'
import type { RampOptions } from '../../plugins/traffic-split/options.js'
import { metric } from '../helpers/metrics.js'
import { countOf, times, upstreamsOf } from '../helpers/split-requests.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'

let blue: Upstream
let green: Upstream
let gw: TestGateway

const SIDES = { blue: 'svc-blue', green: 'svc-green' }
/** Started five minutes before the gateway: halfway through its ten minutes. */
const RAMP_START = new Date(Date.now() - 5 * 60_000).toISOString()

function split (options: Record<string, unknown>): Record<string, unknown> {
  return { 'traffic-split': { sides: SIDES, active: 'blue', ...options } }
}

function config (stickyWeight: number): Record<string, unknown> {
  return {
    server: { trustedProxies: ['127.0.0.1'] },
    upstreams: { 'svc-blue': { nodes: [{ url: blue.url }] }, 'svc-green': { nodes: [{ url: green.url }] } },
    routes: [
      {
        id: 'rules',
        match: { paths: ['/rules/*'] },
        upstream: 'svc-blue',
        plugins: split({
          rules: [
            { match: { headers: { 'x-side': 'blue' } }, to: 'blue' },
            { match: { headers: { 'x-side': { present: true } } }, to: 'green' },
            { match: { headers: { 'x-tester': 'yes' } }, to: 'green' },
            { match: { cookies: { beta: '1' } }, to: 'green' },
            { match: { query: { canary: { present: true } } }, to: 'green' },
            { match: { ips: ['10.0.0.0/8', '2001:db8::/32'] }, to: 'green' },
            { match: { headers: { 'x-both': 'yes' }, cookies: { beta: '2' } }, to: 'green' }
          ]
        })
      },
      { id: 'random', match: { paths: ['/random/*'] }, upstream: 'svc-blue', plugins: split({ weights: { green: 10 } }) },
      {
        id: 'sticky',
        match: { paths: ['/sticky/*'] },
        upstream: 'svc-blue',
        plugins: split({ weights: { green: stickyWeight }, key: 'header:x-user-id', header: 'x-gateway-side' })
      },
      {
        id: 'ramp',
        match: { paths: ['/ramp/*'] },
        upstream: 'svc-blue',
        plugins: split({ key: 'header:x-user-id', ramp: { to: 'green', start: RAMP_START, duration: '10m' } })
      },
      { id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'svc-blue' }
    ]
  }
}

before(async () => {
  blue = await startUpstream({ name: 'svc-blue' })
  green = await startUpstream({ name: 'svc-green' })
  gw = await startTestGateway(config(10))
})

after(async () => {
  await gw.stop()
  await blue.close()
  await green.close()
})

async function getJson (url: string): Promise<any> {
  const res = await request(url)
  const text = await res.body.text()
  assert.equal(res.statusCode, 200, text)
  return JSON.parse(text)
}

const users = (n: number, from = 0): Array<Record<string, string>> => Array.from({ length: n }, (_, i) => ({ 'x-user-id': `user-${from + i}` }))

test('rules: header, cookie, query, client IP in CIDRs, all conditions of a rule; the first match wins', async () => {
  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['no rule matches: the active side', '/rules/x', {}, 'svc-blue'],
    ['header (exact)', '/rules/x', { 'x-tester': 'yes' }, 'svc-green'],
    ['header with another value', '/rules/x', { 'x-tester': 'no' }, 'svc-blue'],
    ['cookie', '/rules/x', { cookie: 'a=b; beta=1' }, 'svc-green'],
    ['another cookie value', '/rules/x', { cookie: 'beta=10' }, 'svc-blue'],
    ['query parameter present', '/rules/x?canary', {}, 'svc-green'],
    ['query parameter present, with a value', '/rules/x?a=1&canary=0', {}, 'svc-green'],
    ['client IP in 10.0.0.0/8 (from a trusted proxy\'s X-Forwarded-For)', '/rules/x', { 'x-forwarded-for': '10.20.30.40' }, 'svc-green'],
    ['client IP in 2001:db8::/32', '/rules/x', { 'x-forwarded-for': '2001:db8::7' }, 'svc-green'],
    ['client IP outside the CIDRs', '/rules/x', { 'x-forwarded-for': '11.0.0.1' }, 'svc-blue'],
    ['one condition of two', '/rules/x', { 'x-both': 'yes', cookie: 'beta=3' }, 'svc-blue'],
    ['both conditions', '/rules/x', { 'x-both': 'yes', cookie: 'beta=2' }, 'svc-green'],
    ['order: rule 0 (x-side: blue) before rule 1 (x-side present) and rule 2 (tester)', '/rules/x', { 'x-side': 'blue', 'x-tester': 'yes' }, 'svc-blue'],
    ['order: rule 1 for another x-side', '/rules/x', { 'x-side': 'red' }, 'svc-green']
  ]
  for (const [what, path, headers, expected] of cases) {
    const [got] = await upstreamsOf(gw.url + path, [headers])
    assert.equal(got, expected, what)
  }
})

test('no key: 10,000 requests at 10/90 land within 1.5 points of 10 % on green', async () => {
  const counts = countOf(await upstreamsOf(gw.url + '/random/x', times(10_000)))
  const greenShare = (counts['svc-green'] ?? 0) / 100
  assert.ok(Math.abs(greenShare - 10) <= 1.5, `green got ${greenShare} %`)
  assert.equal((counts['svc-green'] ?? 0) + (counts['svc-blue'] ?? 0), 10_000)
})

test('sticky on a header: each user keeps its side across 1,000 requests; without the header, random', async () => {
  // 100 users, 10 requests each, interleaved.
  const list = Array.from({ length: 1000 }, (_, i) => ({ 'x-user-id': `user-${i % 100}` }))
  const got = await upstreamsOf(gw.url + '/sticky/x', list)
  const sideOf = new Map<string, string>()
  for (let i = 0; i < list.length; i++) {
    const u = list[i]!['x-user-id']!
    const first = sideOf.get(u)
    if (first === undefined) sideOf.set(u, got[i]!)
    else assert.equal(got[i], first, `${u} changed side`)
  }
  const greens = [...sideOf.values()].filter((s) => s === 'svc-green').length
  assert.ok(greens > 0 && greens < 30, `about 10 of 100 users on green, got ${greens}`)
  // A request without the key value is split at random: both sides get some.
  const anon = countOf(await upstreamsOf(gw.url + '/sticky/x', times(400)))
  assert.ok((anon['svc-green'] ?? 0) > 10 && (anon['svc-blue'] ?? 0) > 300, JSON.stringify(anon))
})

test('raising green from 10 % to 30 % by hot reload moves no user from green to blue', async () => {
  const list = users(2000)
  const before10 = await upstreamsOf(gw.url + '/sticky/x', list)
  gw.rewrite(config(30))
  const res = await request(gw.adminUrl + '/admin/reload', { method: 'POST' })
  assert.equal(res.statusCode, 200, await res.body.text())
  const after30 = await upstreamsOf(gw.url + '/sticky/x', list)
  let moved = 0
  for (let i = 0; i < list.length; i++) {
    if (before10[i] === 'svc-green') assert.equal(after30[i], 'svc-green', `${list[i]!['x-user-id']} went back to blue`)
    else if (after30[i] === 'svc-green') moved++
  }
  const green10 = before10.filter((s) => s === 'svc-green').length
  const green30 = after30.filter((s) => s === 'svc-green').length
  assert.ok(Math.abs(green10 / 20 - 10) < 3 && Math.abs(green30 / 20 - 30) < 4, `10 % then 30 %: ${green10} then ${green30} of 2000`)
  assert.equal(green10 + moved, green30)
  gw.rewrite(config(10))
  await (await request(gw.adminUrl + '/admin/reload', { method: 'POST' })).body.text()
})

test('a ramp whose start is in the past: the weight is where the clock says, not back at the start', async () => {
  const ramp: RampOptions = { to: 'green', start: RAMP_START, from: 0, duration: 600_000 }
  const low = rampPercent(ramp, Date.now())
  const [entry] = await getJson(gw.adminUrl + '/admin/plugins?name=traffic-split&route=ramp')
  const high = rampPercent(ramp, Date.now())
  const status = entry.status
  assert.ok(low >= 50 && status.weights.green >= low && status.weights.green <= high, `green ${status.weights.green} between ${low} and ${high}`)
  assert.equal(Math.round((status.weights.blue + status.weights.green) * 100), 10_000)
  assert.equal(status.ramp.to, 'green')
  assert.equal(status.ramp.state, 'moving')
  assert.equal(status.ramp.start, RAMP_START)
  assert.equal(status.ramp.endsAt, new Date(Date.parse(RAMP_START) + 600_000).toISOString())
  assert.ok(Date.parse(status.ramp.nextChangeAt) > Date.now() - 1000)
  // And the traffic follows: about half of 1,000 users on green.
  const counts = countOf(await upstreamsOf(gw.url + '/ramp/x', users(1000)))
  assert.ok(Math.abs((counts['svc-green'] ?? 0) / 10 - 50) < 6, JSON.stringify(counts))
})

test('the side is the request\'s group: access log `group`, per-(route, group) metrics, the response header', async () => {
  const before = await (await request(gw.adminUrl + '/metrics')).body.text()
  const count = (text: string, group: string): number =>
    metric(text, 'gateway_route_group_requests_total', { route: 'sticky', group, status: '2xx' }) ?? 0
  const seen = gw.logs.length
  const list = users(200, 5000)
  const sides: string[] = []
  for (const h of list) {
    const res = await request(gw.url + '/sticky/x', { headers: h })
    const body = JSON.parse(await res.body.text()) as { upstream: string }
    const side = res.headers['x-gateway-side']
    assert.equal(`svc-${String(side)}`, body.upstream, 'the response header names the side that served')
    sides.push(String(side))
  }
  await until('every request logged', () => gw.gw.runtime.inflight === 0 && gw.logs.slice(seen).filter((l) => l.msg === 'access').length >= 200)
  const lines = gw.logs.slice(seen).filter((l) => l.msg === 'access' && l.route === 'sticky')
  assert.deepEqual(lines.map((l) => l.group), sides)
  assert.deepEqual(lines.map((l) => l.upstream), sides.map((s) => `svc-${s}`))
  const after = await (await request(gw.adminUrl + '/metrics')).body.text()
  const greens = sides.filter((s) => s === 'green').length
  assert.equal(count(after, 'green') - count(before, 'green'), greens)
  assert.equal(count(after, 'blue') - count(before, 'blue'), 200 - greens)
  assert.ok((metric(after, 'gateway_route_group_duration_seconds_count', { route: 'sticky', group: 'green' }) ?? 0) >= greens)
  // Requests a rule sent carry their group too; a route without a split logs none.
  assert.ok(gw.logs.filter((l) => l.msg === 'access' && l.route === 'rules').every((l) => typeof l.group === 'string'))
  await upstreamsOf(gw.url + '/plain/x', times(1))
  await until('the plain request logged', () => gw.logs.some((l) => l.msg === 'access' && l.route === 'plain'))
  assert.equal('group' in gw.logs.find((l) => l.msg === 'access' && l.route === 'plain')!, false)
})

test('/admin/plugins: sides, active side, weights in force, no ramp, no rollback', async () => {
  const [entry] = await getJson(gw.adminUrl + '/admin/plugins?name=traffic-split&route=sticky')
  assert.deepEqual(entry.status, {
    sides: SIDES,
    active: 'blue',
    previous: null,
    key: 'header:x-user-id',
    rules: 0,
    weights: { blue: 90, green: 10 },
    ramp: null,
    rollback: null,
    header: 'x-gateway-side'
  })
})

test('/admin/match applies the split: which side the request would take, and why', async () => {
  const match = (q: string): Promise<any> => getJson(`${gw.adminUrl}/admin/match?${q}`)
  let m = await match('path=/rules/x&header.x-tester=yes')
  assert.equal(m.upstream, 'svc-green')
  assert.deepEqual(m.explain['traffic-split'], { side: 'green', upstream: 'svc-green', why: 'rule 2 (header x-tester)' })
  m = await match('path=/rules/x&ip=10.1.1.1')
  assert.deepEqual(m.explain['traffic-split'], { side: 'green', upstream: 'svc-green', why: 'rule 5 (ip)' })
  assert.deepEqual(m.nodes, [green.url])
  m = await match(`path=${encodeURIComponent('/rules/x?canary=1')}`)
  assert.equal(m.explain['traffic-split'].why, 'rule 4 (query canary)')
  m = await match('path=/rules/x&header.cookie=beta%3D1')
  assert.equal(m.explain['traffic-split'].why, 'rule 3 (cookie beta)')
  // Sticky: the bucket, and the same side the data plane picks.
  for (const u of ['user-1', 'user-2', 'user-3', 'user-4', 'user-5', 'user-6']) {
    m = await match(`path=/sticky/x&header.x-user-id=${u}`)
    const e = m.explain['traffic-split']
    const [served] = await upstreamsOf(gw.url + '/sticky/x', [{ 'x-user-id': u }])
    assert.equal(m.upstream, served, u)
    const b = String(e.bucket).padStart(4, '0')
    assert.equal(e.why, e.side === 'green'
      ? `bucket ${b} < 1000: green (sticky on header:x-user-id)`
      : `bucket ${b} >= 1000: blue (sticky on header:x-user-id)`)
    assert.deepEqual(e.weights, { blue: 90, green: 10 })
  }
  m = await match('path=/sticky/x')
  assert.equal(m.upstream, null)
  assert.equal(m.explain['traffic-split'].why, 'random: weights blue 90 / green 10 (no header:x-user-id on the request)')
  m = await match('path=/random/x')
  assert.equal(m.explain['traffic-split'].why, 'random: weights blue 90 / green 10')
  // A bad ip= is refused.
  const res = await request(`${gw.adminUrl}/admin/match?path=/rules/x&ip=not-an-ip`)
  assert.equal(res.statusCode, 400)
  await res.body.text()
})
