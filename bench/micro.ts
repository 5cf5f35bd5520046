// Micro-benchmarks of the request path's building blocks, in CPU time per
// operation (best of 5 runs, so a noisy neighbour inflates nothing): path
// normalisation, route lookup with 10 and 10,000 routes, route-table compile,
// balancer picks, header copies. `npm run bench:micro`.
import { compileRouter } from '../gateway/routing/router.js'
import { normalizePath, pathToForward } from '../gateway/routing/normalize-path.js'
import type { RequestView, RouteEntry } from '../gateway/routing/types.js'
import { createBalancer, type BalancerKind } from '../gateway/upstream/balancers/index.js'
import type { BalancedNode } from '../gateway/upstream/types.js'
import { copyRequestHeaders, copyResponseHeaders } from '../gateway/proxy/hop-by-hop.js'

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
  console.log(`${name.padEnd(48)} ${best.toFixed(1).padStart(8)} ns/op`)
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
  console.log(`${`compileRouter ${n} routes (first, cold)`.padEnd(48)} ${((cpuNs() - t0) / 1e6).toFixed(2).padStart(8)} ms`)
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
if (sink === Symbol.for('never')) console.log('')
