// Micro-benchmarks of the request path's building blocks, in CPU time per
// operation (best of 5 runs, so a noisy neighbour inflates nothing): path
// normalisation, route lookup with 10 and 10,000 routes, route-table compile,
// balancer picks, header copies, the breakers' and the traffic split's work
// per request, deadlines of async plugin phases. `npm run bench:micro`.
import { compileRouter } from '../gateway/routing/router.js'
import { normalizePath, pathToForward } from '../gateway/routing/normalize-path.js'
import type { RequestView, RouteEntry } from '../gateway/routing/types.js'
import { createBalancer, type BalancerKind } from '../gateway/upstream/balancers/index.js'
import type { BalancedNode } from '../gateway/upstream/types.js'
import { copyRequestHeaders, copyResponseHeaders } from '../gateway/proxy/hop-by-hop.js'
import { Deadline, Deadlines } from '../gateway/proxy/deadlines.js'
import { NodeHealthRegistry } from '../gateway/health/node-health.js'
import { syncNodeBreakers } from '../gateway/health/node-breaker.js'
import { RouteBreaker } from '../gateway/health/route-breaker.js'
import { NodeConnectionRegistry } from '../gateway/upstream/node-connection.js'
import { Upstream } from '../gateway/upstream/upstream.js'
import type { BreakerConfig, UpstreamConfig } from '../gateway/config/types.js'
import type { UpstreamOutcome } from '../plugins/types.js'
import { trafficSplitPlugin } from '../plugins/traffic-split/index.js'
import { pluginEnv } from '../test/helpers/plugin-env.js'
import type { RequestContext } from '../gateway/proxy/request-context.js'

const cpuNs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

let sink: unknown

function bench (name: string, n: number, fn: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(n, 300_000); i++) sink = fn(i)
  let best = Infinity
  for (let r = 0; r < 5; r++) {
    const t0 = cpuNs()
    for (let i = 0; i < n; i++) sink = fn(i)
    best = Math.min(best, (cpuNs() - t0) / n)
  }
  console.log(`${name.padEnd(56)} ${best.toFixed(1).padStart(8)} ns/op`)
}

function routes (n: number): Array<RouteEntry<string>> {
  const out: Array<RouteEntry<string>> = []
  for (let i = 0; i < n; i++) {
    const k = i % 10
    const path = k < 5 ? `/svc${i}/items/list` : k < 8 ? `/svc${i}/items/:id` : `/svc${i}/*`
    const hosts = i % 97 === 0 ? [`*.t${i % 5}.example.com`] : i % 50 === 0 ? [`h${i % 7}.example.com`] : []
    out.push({
      id: `r${i}`,
      priority: 0,
      value: `r${i}`,
      match: { hosts, paths: [path], methods: i % 3 === 0 ? ['GET'] : [], headers: i % 11 === 0 ? { 'x-v': { regex: '^v[0-9]$' } } : {}, query: {} }
    })
  }
  out.push({ id: 'orders', priority: 0, value: 'orders', match: { hosts: [], paths: ['/api/orders/:id'], methods: [], headers: {}, query: {} } })
  out.push({ id: 'api', priority: 0, value: 'api', match: { hosts: [], paths: ['/api/*'], methods: [], headers: {}, query: {} } })
  return out
}

const view = (host: string, path: string): RequestView => ({ method: 'GET', host, path, headers: {}, rawQuery: '' })

console.log(`node ${process.version}; CPU time per operation, best of 5 runs`)
bench('normalizePath /api/orders/123 (fast path)', 5_000_000, () => normalizePath('/api/orders/123'))
bench('normalizePath /api/%2e%2e/admin//x', 1_000_000, () => normalizePath('/api/%2e%2e/admin//x'))
bench('normalizePath /api/na%c3%afve (escapes)', 1_000_000, () => normalizePath('/api/na%c3%afve'))
const rawPath = ['/api', 'orders', '123'].join('/')
bench('normalize + pathToForward /api/orders/123', 5_000_000, () => pathToForward(rawPath, normalizePath(rawPath)!))
bench('normalize + pathToForward /api/na%c3%afve', 1_000_000, () => pathToForward('/api/na%c3%afve', normalizePath('/api/na%c3%afve')!))

for (const n of [10, 10_000]) {
  const entries = routes(n)
  const t0 = cpuNs()
  const router = compileRouter(entries)
  console.log(`${`compileRouter ${n} routes (first, cold)`.padEnd(56)} ${((cpuNs() - t0) / 1e6).toFixed(2).padStart(8)} ms`)
  const param = view('www.example.com', '/api/orders/123')
  const prefix = view('x.org', '/svc8/a/b/c')
  const miss = view('www.example.com', '/nothing/here')
  if (router.find(param)?.value !== 'orders' || router.find(prefix)?.value !== 'r8') throw new Error('router answered wrongly')
  bench(`find, ${n} routes: /api/orders/123 (param)`, 2_000_000, () => router.find(param))
  bench(`find, ${n} routes: /svc8/a/b/c (prefix)`, 2_000_000, () => router.find(prefix))
  bench(`find, ${n} routes: miss`, 2_000_000, () => router.find(miss))
}

const nodes: BalancedNode[] = Array.from({ length: 10 }, (_, i) => ({ id: `http://10.0.0.${i}:80`, weight: 1 + (i % 3), inflight: 0, available: true }))
for (const kind of ['roundrobin', 'random', 'least-conn', 'chash'] as BalancerKind[]) {
  const b = createBalancer(kind, nodes)
  const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`)
  bench(`balancer ${kind}, 10 nodes: pick`, 5_000_000, (i) => b.pick(keys[i & 1023]))
}

const reqHeaders = { host: 'api.example.com', 'user-agent': 'wrk', accept: '*/*', connection: 'keep-alive', 'content-type': 'application/json' }
bench('copyRequestHeaders (5 headers)', 2_000_000, () => copyRequestHeaders(reqHeaders))
const raw = ['content-type', 'application/json', 'content-length', '32', 'date', 'Sat, 21 Nov 2026 20:08:22 GMT', 'connection', 'keep-alive', 'keep-alive', 'timeout=5']
  .map((s) => Buffer.from(s))
bench('copyResponseHeaders (5 raw headers)', 2_000_000, () => copyResponseHeaders(raw))

// Breakers on the request path: what a proxied request does when its upstream
// has a node breaker and its route a breaker (every rule on, never tripped):
// the route breaker's admit(), one outcome object, the node breaker and the
// route breaker fed that outcome. Against a request's ~30 µs of CPU.
{
  const breaker: BreakerConfig = {
    consecutiveFailures: 5, errorRatio: 0.5, slowCallRatio: 0.9, slowCallThreshold: 5000, window: 10_000, minCalls: 20,
    failureStatuses: [500, 502, 503, 504], openTime: 30_000, maxOpenTime: 300_000, halfOpenRequests: 3
  }
  const config: UpstreamConfig = {
    name: 'svc',
    balancer: 'roundrobin',
    nodes: [{ url: 'http://127.0.0.1:1', weight: 1, metadata: {} }, { url: 'http://127.0.0.1:2', weight: 1, metadata: {} }],
    timeouts: { connect: 1000, header: 1000, idle: 1000 },
    pool: { connections: 1, keepAliveTimeout: 1000 },
    retries: 1,
    retryBudget: { ratio: 0.2, minPerSecond: 3 },
    limits: {},
    breaker: { ...breaker, maxEjectionPercent: 50 }
  }
  const connections = new NodeConnectionRegistry()
  const health = new NodeHealthRegistry()
  const events = { breakerTransition (): void {} }
  const up = new Upstream(config, 'k', { connections, health })
  syncNodeBreakers(new Map([['svc', up]]), events)
  const route = new RouteBreaker('r', 'k', breaker, events)
  const ctx = undefined as never
  const outcome = (i: number): UpstreamOutcome =>
    ({ upstream: 'svc', node: up.nodes[i & 1]!.id, kind: 'response', status: 200, latency: 1 + (i & 7), sent: true, attempt: 1 })
  bench('breakers: outcome object only (baseline)', 5_000_000, outcome)
  bench('breakers: route admit + node and route breaker record', 5_000_000, (i) => {
    route.admit()
    const o = outcome(i)
    up.observe(up.nodes[i & 1]!, o)
    route.observe(ctx, o)
    return o
  })
  health.closeAll()
  await connections.closeAll()
}

// The traffic split's access phase as bench target j runs it: two rules that
// do not match, then a sticky bucket on the client IP and the layout scan.
{
  const split = trafficSplitPlugin.create({
    sides: { blue: 'bench', green: 'bench-green' },
    active: 'blue',
    rules: [
      { match: { headers: { 'x-tester': 'yes' } }, to: 'green' },
      { match: { cookies: { beta: '1' } }, to: 'green' }
    ],
    weights: { green: 10 },
    key: 'ip'
  }, pluginEnv())
  const ips = Array.from({ length: 1024 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
  const ctxs = ips.map((clientIp) => ({ headers: { host: 'api.example.com', 'user-agent': 'wrk' }, clientIp, rawQuery: '', path: '/bench/hello' }) as unknown as RequestContext)
  bench('traffic-split access (2 rules, sticky on ip, 90/10)', 2_000_000, (i) => {
    const ctx = ctxs[i & 1023]!
    split.access!(ctx)
    return ctx.upstreamName
  })
  split.close?.()
}

// Deadlines of async access phases: start one, settle it (in time). The FIFO of
// gateway/proxy/deadlines.ts (one timer per budget) against a setTimeout per
// phase, cleared when the phase settles. `window`: phases pending at once;
// settled oldest first, or in random order.
class TimerDeadline extends Deadline {
  timer: NodeJS.Timeout | undefined = undefined
}
const noExpire = (_d: Deadline): void => {}
const perPhase = {
  start (d: TimerDeadline, budget: number): void {
    d.timer = setTimeout(noExpire, budget, d)
    d.timer.unref()
  },
  settle (d: TimerDeadline): boolean {
    if (d.done) return false
    d.done = true
    clearTimeout(d.timer)
    return true
  }
}
const fifo = new Deadlines(noExpire)
/** What the loop costs without deadlines (allocation, bookkeeping): subtract it from the others. */
const baseline = {
  start (_d: TimerDeadline, _budget: number): void {},
  settle (d: TimerDeadline): boolean {
    if (d.done) return false
    d.done = true
    return true
  }
}
let seed = 1
const random = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed % n
}
/** Phases pending at once: settled oldest first (`fifo`), or a random one. */
class Pending {
  items: TimerDeadline[] = []
  head = 0
  get length (): number { return this.items.length - this.head }
  push (d: TimerDeadline): void { this.items.push(d) }
  take (order: string): TimerDeadline {
    if (order === 'fifo') {
      const d = this.items[this.head++]!
      if (this.head > 65_536) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
      return d
    }
    const k = this.head + random(this.length)
    const d = this.items[k]!
    this.items[k] = this.items[this.items.length - 1]!
    this.items.pop()
    return d
  }
}
for (const window of [1, 100, 10_000]) {
  for (const order of window === 1 ? ['fifo'] : ['fifo', 'random']) {
    for (const [name, impl] of [['none (baseline)', baseline], ['FIFO per budget', fifo], ['setTimeout per phase', perPhase]] as const) {
      const pending = new Pending()
      for (let i = 0; i < window - 1; i++) {
        const d = new TimerDeadline()
        impl.start(d, 1000)
        pending.push(d)
      }
      bench(`deadline ${name}: ${window} pending, ${order}`, 1_000_000, () => {
        const d = new TimerDeadline()
        impl.start(d, 1000)
        pending.push(d)
        return impl.settle(pending.take(order))
      })
      while (pending.length > 0) impl.settle(pending.take('fifo'))
    }
  }
}

/**
 * The same under an event loop: `concurrency` phases pending at once, each
 * settling on a later turn (setImmediate, like a reply from Redis), timers
 * free to fire; CPU time per phase, best of 5 (the baseline's setImmediate included).
 * `shuffled`: each settles 1 to 4 turns later, so not in the order they started.
 */
async function phaseLoad (impl: typeof baseline, concurrency: number, total: number, shuffled: boolean): Promise<number> {
  let best = Infinity
  for (let r = 0; r < 5; r++) {
    const t0 = cpuNs()
    await new Promise<void>((resolve) => {
      let started = 0
      let settled = 0
      const one = (): void => {
        const d = new TimerDeadline()
        impl.start(d, 1000)
        started++
        let turns = shuffled ? 1 + random(4) : 1
        const settle = (): void => {
          if (--turns > 0) return void setImmediate(settle)
          impl.settle(d)
          settled++
          if (started < total) one()
          else if (settled === total) resolve()
        }
        setImmediate(settle)
      }
      for (let i = 0; i < concurrency; i++) one()
    })
    best = Math.min(best, (cpuNs() - t0) / total)
  }
  return best
}
for (const [concurrency, shuffled] of [[1, false], [100, false], [1000, false], [1000, true]] as const) {
  for (const [name, impl] of [['none (baseline)', baseline], ['FIFO per budget', fifo], ['setTimeout per phase', perPhase]] as const) {
    const ns = await phaseLoad(impl, concurrency, 200_000, shuffled)
    console.log(`${`deadline ${name}: loop, ${concurrency} pending${shuffled ? ', shuffled' : ''}`.padEnd(56)} ${ns.toFixed(1).padStart(8)} ns/op`)
  }
}
if (sink === Symbol.for('never')) console.log('')
