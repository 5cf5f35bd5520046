// Interleaved proxy benchmark. See bench/README.md.
//   npm run bench            (tsc -p . && node dist/bench/run.js)
// Env: BENCH_ROUNDS (5), BENCH_DURATION s (5), BENCH_WARMUP s (1), BENCH_CONNECTIONS (50),
//      BENCH_TARGETS (e.g. "a,b" or "bare-http-proxy,gateway-1-route"), BENCH_PIN=0 (no taskset),
//      BENCH_LOADGEN=wrk|autocannon, BENCH_GATEWAY_CLI (default dist/gateway/cli.js).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { freePort } from '../test/helpers/free-port.js'
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js'
import { BENCH_PATH, gatewayConfig, type BenchGatewayConfig } from './lib/gateway-config.js'
import { cannon, hasCommand, wrk, type LoadOptions, type LoadResult } from './lib/loadgen.js'

const here = path.dirname(fileURLToPath(import.meta.url)) // dist/bench
const SERVERS = path.join(here, 'servers')
const GATEWAY_CLI = process.env.BENCH_GATEWAY_CLI ?? path.resolve(here, '../gateway/cli.js')
const RESULTS_DIR = path.resolve(here, '../../bench/results')

const TARGETS = [
  { key: 'a', name: 'upstream-direct' },
  { key: 'b', name: 'bare-http-proxy' },
  { key: 'c', name: 'node-undici-proxy' },
  { key: 'd', name: 'gateway-1-route' },
  { key: 'e', name: 'gateway-10k-routes' },
  { key: 'f', name: 'gateway-rate-limit-node' },
  { key: 'g', name: 'gateway-rate-limit-cluster' },
  // concurrency-limit (node scope) on the one route; compare with gateway-1-route
  { key: 'h', name: 'gateway-conc-node' },
  // node breakers (passive health) on the upstream and a route breaker; compare with gateway-1-route
  { key: 'i', name: 'gateway-breakers' },
  // traffic-split (2 rules that do not match, sticky weights on the client IP) on the one route; compare with gateway-1-route
  { key: 'j', name: 'gateway-split' },
] as const
type TargetName = (typeof TARGETS)[number]['name']

function intEnv(name: string, def: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return def
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`)
  return n
}

const ROUNDS = Math.max(1, intEnv('BENCH_ROUNDS', 5))
const DURATION = Math.max(1, intEnv('BENCH_DURATION', 5))
const WARMUP = intEnv('BENCH_WARMUP', 1)
const CONNECTIONS = Math.max(1, intEnv('BENCH_CONNECTIONS', 50))
const CPUS = os.availableParallelism() // before we pin ourselves to one core
const PIN = process.env.BENCH_PIN !== '0' && CPUS >= 2 && hasCommand('taskset', ['-V'])
const PROXY_CORE = PIN ? 0 : null
const LOAD_CORE = PIN ? 1 : null
const LOADGEN = process.env.BENCH_LOADGEN === 'autocannon' || !hasCommand('wrk', ['-v']) ? 'autocannon' : 'wrk'

function selectedTargets(): TargetName[] {
  const spec = (process.env.BENCH_TARGETS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (spec.length === 0) return TARGETS.map((t) => t.name)
  const out: TargetName[] = []
  for (const s of spec) {
    const t = TARGETS.find((x) => x.key === s || x.name === s)
    if (!t) throw new Error(`unknown target "${s}"; known: ${TARGETS.map((x) => `${x.key}=${x.name}`).join(', ')}`)
    if (!out.includes(t.name)) out.push(t.name)
  }
  return TARGETS.map((t) => t.name).filter((n) => out.includes(n))
}

// ---------------------------------------------------------------- processes

interface Child { name: string; proc: ChildProcess; output: string[] }

/** user+system CPU seconds the process has used so far (Linux /proc), or undefined. */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return undefined
  }
}
const children: Child[] = []

function spawnChild(name: string, core: number | null, args: string[]): Child {
  const [cmd, argv] = core === null ? [process.execPath, args] : ['taskset', ['-c', String(core), process.execPath, ...args]]
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } })
  const child: Child = { name, proc, output: [] }
  for (const s of [proc.stdout, proc.stderr]) {
    let rest = ''
    s?.setEncoding('utf8')
    s?.on('data', (d: string) => {
      const lines = (rest + d).split('\n')
      rest = lines.pop() ?? ''
      child.output.push(...lines)
      if (child.output.length > 400) child.output.splice(0, child.output.length - 200)
    })
  }
  children.push(child)
  return child
}

function killAll(): void {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130) })

function tail(c: Child): string {
  return c.output.slice(-40).join('\n')
}

/** Waits for the child's "LISTENING <port>" line. */
function listening(c: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no LISTENING line in ${timeoutMs} ms`), timeoutMs)
    const fail = (why: string): void => { clearInterval(poll); clearTimeout(timer); reject(new Error(`${c.name}: ${why}\n${tail(c)}`)) }
    const poll = setInterval(() => {
      const line = c.output.find((l) => l.startsWith('LISTENING '))
      if (line) { clearInterval(poll); clearTimeout(timer); resolve(Number(line.split(' ')[1])) }
      else if (c.proc.exitCode !== null || c.proc.signalCode !== null) fail(`exited (${c.proc.exitCode ?? c.proc.signalCode})`)
    }, 20)
  })
}

async function waitHttp200(c: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) break
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${c.name}: ${url} not 200 in ${timeoutMs} ms (${last}; exit ${c.proc.exitCode ?? c.proc.signalCode})\n${tail(c)}`)
}

/** A GET on the bench path must come back 200 with the upstream's body. */
async function checkProxies(name: string, url: string): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  if (res.status !== 200 || !text.includes('bench-upstream')) throw new Error(`${name}: sanity GET ${url} -> ${res.status} ${text.slice(0, 200)}`)
}

/** taskset execs node in place, so the child's pid is the measured process. */
async function startGateway(name: string, upstreamUrl: string, routes: number, tmp: string,
  rateLimit?: BenchGatewayConfig['rateLimit'], edit: (config: object) => object = (c) => c): Promise<string> {
  const [listenPort, adminPort] = [await freePort(), await freePort()]
  const file = path.join(tmp, `${name}.yaml`)
  fs.writeFileSync(file, stringify(edit(gatewayConfig({ listenPort, adminPort, upstreamUrl, routes, rateLimit }))))
  const c = spawnChild(name, PROXY_CORE, [GATEWAY_CLI, 'start', '--config', file])
  await waitHttp200(c, `http://127.0.0.1:${adminPort}/readyz`, routes > 1 ? 120_000 : 30_000)
  return `http://127.0.0.1:${listenPort}`
}

/** Breaker options for the bench: every rule on, thresholds the bench never reaches. */
const BENCH_BREAKER = { consecutiveFailures: 5, errorRatio: 0.5, slowCallRatio: 0.9, slowCallThreshold: '5s', minCalls: 20, window: '10s' }

/** The bench config with a node breaker on every upstream and a route breaker with a fallback on every route. */
function withBreakers(config: object): object {
  const c = config as { upstreams: Record<string, Record<string, unknown>>; routes: Array<Record<string, unknown>> }
  for (const u of Object.values(c.upstreams)) u.breaker = { ...BENCH_BREAKER, maxEjectionPercent: 50 }
  for (const r of c.routes) {
    r.breaker = BENCH_BREAKER
    r.fallback = { status: 503, body: 'degraded' }
  }
  return c
}

/**
 * The bench config with a traffic-split on its routes: two sides on the same
 * upstream node, two rules the bench request does not match (a header, a
 * cookie), and sticky weights on the client IP, so the rules, the hash and the
 * layout run on every request.
 */
function withSplit(config: object): object {
  const c = config as { upstreams: Record<string, unknown>; routes: Array<Record<string, unknown>> }
  const split = {
    sides: { blue: 'bench', green: 'bench-green' },
    active: 'blue',
    rules: [
      { match: { headers: { 'x-tester': 'yes' } }, to: 'green' },
      { match: { cookies: { beta: '1' } }, to: 'green' },
    ],
    weights: { green: 10 },
    key: 'ip',
  }
  return withRoutePlugins({ ...c, upstreams: { ...c.upstreams, 'bench-green': c.upstreams.bench } }, { 'traffic-split': split })
}

/** The bench config with `plugins` on its routes. */
function withRoutePlugins(config: object, plugins: Record<string, unknown>): object {
  const c = config as { routes: Array<Record<string, unknown>> }
  return { ...c, routes: c.routes.map((r) => ({ ...r, plugins })) }
}

// ---------------------------------------------------------------- stats

/** One measurement, plus the target process's CPU use (noise-robust efficiency). */
interface Measured extends LoadResult { cpuSec?: number; reqPerCpuSec?: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d, useGrouping: false })
const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b ? (a / b).toFixed(2) : 'n/a')

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const selected = selectedTargets()
  const skipped: Record<string, string> = {}
  console.log(`bench: node ${process.version}, ${CPUS} cpus, loadgen ${LOADGEN}, ` +
    `${ROUNDS} rounds x ${DURATION}s (+${WARMUP}s warm-up), ${CONNECTIONS} connections, ` +
    (PIN ? 'proxies on core 0, loadgen+upstream on core 1' : 'no CPU pinning'))
  if (PIN) {
    // Our own process runs autocannon (fallback) and idles otherwise: keep it off the proxies' core.
    spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' })
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-bench-'))
  const up = spawnChild('upstream', LOAD_CORE, [path.join(SERVERS, 'upstream.js')])
  const upstreamUrl = `http://127.0.0.1:${await listening(up)}`
  const urls = new Map<TargetName, string>()
  const pids = new Map<TargetName, number | undefined>()
  let redis: RedisServer | undefined

  for (const name of selected) {
    try {
      switch (name) {
        case 'upstream-direct': urls.set(name, upstreamUrl); pids.set(name, up.proc.pid); break
        case 'bare-http-proxy':
        case 'node-undici-proxy': {
          const file = name === 'bare-http-proxy' ? 'bare-proxy.js' : 'undici-proxy.js'
          const c = spawnChild(name, PROXY_CORE, [path.join(SERVERS, file), upstreamUrl])
          urls.set(name, `http://127.0.0.1:${await listening(c)}`)
          pids.set(name, c.proc.pid)
          break
        }
        case 'gateway-1-route':
        case 'gateway-10k-routes':
          if (!fs.existsSync(GATEWAY_CLI)) { skipped[name] = `${GATEWAY_CLI} not built yet`; break }
          urls.set(name, await startGateway(name, upstreamUrl, name === 'gateway-1-route' ? 1 : 10_000, tmp))
          pids.set(name, children.at(-1)!.proc.pid)
          break
        case 'gateway-rate-limit-node':
        case 'gateway-rate-limit-cluster': {
          if (!fs.existsSync(GATEWAY_CLI)) { skipped[name] = `${GATEWAY_CLI} not built yet`; break }
          let rateLimit: BenchGatewayConfig['rateLimit'] = { scope: 'node' }
          if (name === 'gateway-rate-limit-cluster') {
            // On the load generator's core, like the upstream: the gateway's core stays its own.
            try {
              redis ??= await startRedisServer()
            } catch (err) {
              skipped[name] = `needs redis-server: ${(err as Error).message}`
              break
            }
            if (LOAD_CORE !== null) spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(redis.pid)], { stdio: 'ignore' })
            rateLimit = { scope: 'cluster', redisUrl: redis.url }
          }
          urls.set(name, await startGateway(name, upstreamUrl, 1, tmp, rateLimit))
          pids.set(name, children.at(-1)!.proc.pid)
          break
        }
        case 'gateway-conc-node':
          if (!fs.existsSync(GATEWAY_CLI)) { skipped[name] = `${GATEWAY_CLI} not built yet`; break }
          // max well above the load's connections: every request takes and gives back a permit, none is refused.
          urls.set(name, await startGateway(name, upstreamUrl, 1, tmp, undefined, (c) => withRoutePlugins(c, { 'concurrency-limit': { max: 100_000 } })))
          pids.set(name, children.at(-1)!.proc.pid)
          break
        case 'gateway-breakers':
          if (!fs.existsSync(GATEWAY_CLI)) { skipped[name] = `${GATEWAY_CLI} not built yet`; break }
          // Every rule of both breakers on, never tripped: each attempt is judged by the node's and the route's breaker.
          urls.set(name, await startGateway(name, upstreamUrl, 1, tmp, undefined, withBreakers))
          pids.set(name, children.at(-1)!.proc.pid)
          break
        case 'gateway-split':
          if (!fs.existsSync(GATEWAY_CLI)) { skipped[name] = `${GATEWAY_CLI} not built yet`; break }
          urls.set(name, await startGateway(name, upstreamUrl, 1, tmp, undefined, withSplit))
          pids.set(name, children.at(-1)!.proc.pid)
          break
      }
      const u = urls.get(name)
      if (u) await checkProxies(name, u + BENCH_PATH)
    } catch (err) {
      urls.delete(name)
      skipped[name] = (err as Error).message
    }
  }
  for (const [name, why] of Object.entries(skipped)) console.log(`SKIP ${name}: ${why}`)

  const active = selected.filter((n) => urls.has(n))
  const results = new Map<TargetName, Measured[]>(active.map((n) => [n, []]))
  const run = LOADGEN === 'wrk' ? wrk : cannon
  for (let r = 0; r < ROUNDS; r++) {
    console.log(`-- round ${r + 1}/${ROUNDS}`)
    // Rotate the start so no target always runs first (or right after the same neighbour).
    const order = active.map((_, i) => active[(i + r) % active.length]!)
    for (const name of order) {
      const o: LoadOptions = { url: urls.get(name)! + BENCH_PATH, connections: CONNECTIONS, durationSec: DURATION, core: LOAD_CORE }
      if (WARMUP > 0) await run({ ...o, durationSec: WARMUP })
      const cpu0 = cpuSeconds(pids.get(name))
      const load = await run(o)
      const cpu1 = cpuSeconds(pids.get(name))
      const cpu = cpu0 !== undefined && cpu1 !== undefined && cpu1 > cpu0 ? cpu1 - cpu0 : undefined
      const res: Measured = { ...load, cpuSec: cpu, reqPerCpuSec: cpu ? load.requests / cpu : undefined }
      results.get(name)!.push(res)
      console.log(`   ${name.padEnd(26)} ${fmt(res.rps, 0).padStart(8)} rps   p99 ${fmt(res.p99Ms, 2).padStart(7)} ms` +
        (res.reqPerCpuSec ? `   ${fmt(res.reqPerCpuSec, 0).padStart(7)} req/cpu-s (cpu ${fmt(res.cpuSec ?? 0, 2)} s)` : '') +
        (res.errors ? `   ERRORS ${res.errors}` : ''))
    }
  }
  killAll()
  await redis?.stop()
  fs.rmSync(tmp, { recursive: true, force: true })

  const summary: Record<string, { medianRps: number; medianP99Ms: number; medianReqPerCpuSec?: number; rounds: Measured[] }> = {}
  for (const [name, rs] of results) {
    const eff = rs.map((x) => x.reqPerCpuSec).filter((x): x is number => x !== undefined)
    summary[name] = {
      medianRps: median(rs.map((x) => x.rps)),
      medianP99Ms: median(rs.map((x) => x.p99Ms)),
      ...(eff.length ? { medianReqPerCpuSec: median(eff) } : {}),
      rounds: rs,
    }
  }
  const med = (n: TargetName): number | undefined => summary[n]?.medianRps
  console.log('')
  console.log(`${'target'.padEnd(20)} ${'median rps'.padStart(10)} ${'p99 ms'.padStart(8)} ${'req/cpu-s'.padStart(10)}   rounds rps`)
  for (const [name, s] of Object.entries(summary)) {
    const errs = s.rounds.reduce((a, x) => a + x.errors, 0)
    const eff = s.medianReqPerCpuSec === undefined ? 'n/a' : fmt(s.medianReqPerCpuSec, 0)
    console.log(`${name.padEnd(26)} ${fmt(s.medianRps, 0).padStart(10)} ${fmt(s.medianP99Ms, 2).padStart(8)} ${eff.padStart(10)}   ` +
      s.rounds.map((x) => fmt(x.rps, 0)).join(' ') + (errs ? `   (errors: ${errs})` : ''))
  }
  console.log('')
  console.log('ratios vs bare-http-proxy:   median rps   req/cpu-s (less sensitive to a noisy neighbour)')
  const effBare = summary['bare-http-proxy']?.medianReqPerCpuSec
  for (const name of Object.keys(summary)) {
    console.log(`  ${name.padEnd(26)} ${ratio(summary[name]!.medianRps, med('bare-http-proxy')).padStart(10)}   ` +
      ratio(summary[name]!.medianReqPerCpuSec, effBare).padStart(9))
  }

  // The cost of a limit: the same gateway with it against without it, same run (budgets: node 5%, cluster 15%).
  const limitRatios: Record<string, { rps: string; reqPerCpuSec: string }> = {}
  const effGw = summary['gateway-1-route']?.medianReqPerCpuSec
  for (const name of ['gateway-rate-limit-node', 'gateway-rate-limit-cluster', 'gateway-conc-node', 'gateway-breakers', 'gateway-split'] as const) {
    if (summary[name] === undefined) continue
    limitRatios[name] = { rps: ratio(med(name), med('gateway-1-route')), reqPerCpuSec: ratio(summary[name]!.medianReqPerCpuSec, effGw) }
  }
  if (Object.keys(limitRatios).length > 0) {
    console.log('')
    console.log('vs gateway-1-route:              median rps   req/cpu-s   (budgets: rate-limit node >= 0.95, cluster >= 0.85; breakers, split >= 0.97)')
    for (const [name, r] of Object.entries(limitRatios)) console.log(`  ${name.padEnd(28)} ${r.rps.padStart(6)}   ${r.reqPerCpuSec.padStart(9)}`)
  }

  const gwBare = ratio(med('gateway-1-route'), med('bare-http-proxy'))
  const gw10k = ratio(med('gateway-10k-routes'), med('gateway-1-route'))
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: CPUS,
    loadgen: LOADGEN,
    pinned: PIN,
    rounds: ROUNDS,
    durationSec: DURATION,
    warmupSec: WARMUP,
    connections: CONNECTIONS,
    path: BENCH_PATH,
    skipped,
    targets: summary,
    ratios: {
      vsBare: Object.fromEntries(Object.keys(summary).map((n) => [n, ratio(summary[n]!.medianRps, med('bare-http-proxy'))])),
      vsBareReqPerCpuSec: Object.fromEntries(Object.keys(summary).map((n) => [n, ratio(summary[n]!.medianReqPerCpuSec, effBare)])),
      gateway10kVsGateway1: gw10k,
      gatewayVsBare: gwBare,
      rateLimitsVsGateway1: limitRatios,
    },
  }
  const out = path.join(RESULTS_DIR, 'latest.json')
  fs.writeFileSync(out, JSON.stringify(json, null, 2) + '\n')
  console.log(`results: ${path.relative(process.cwd(), out) || out}`)
  console.log(`gateway-10k/gateway-1 rps ratio: ${gw10k}`)
  console.log(`gateway/bare-proxy rps ratio: ${gwBare}`)
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err)
  killAll()
  process.exit(1)
})
