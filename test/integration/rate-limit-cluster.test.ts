// The rate-limit plugin at cluster scope with a real redis-server: exactness
// with one gateway, status and metrics; two gateway processes sharing a limit
// of 200/s for 10 s (the total admitted is printed); Redis killed and
// restarted under load (no limit decision waits past `timeout`, the local
// fallback admits about rate / expectedNodes, shared mode comes back).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { Agent, request } from 'undici'
import type { PluginInstance } from '../../plugins/types.js'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess, type GatewayProc } from '../helpers/gateway-process.js'
import { metric } from '../helpers/metrics.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'
import { writeConfig } from '../helpers/yaml-config.js'
import { clearOfWindowEdge } from '../helpers/window-edge.js'

let redis: RedisServer
let up: Upstream
const agent = new Agent({ connections: 128 })

before(async () => {
  redis = await startRedisServer()
  up = await startUpstream({ handler: (_req, res) => { res.end('ok') } })
})
after(async () => {
  await agent.close()
  await up.close()
  await redis.stop()
})

function redisSection (): Record<string, unknown> {
  return { url: redis.url, keyPrefix: `it${Math.random().toString(36).slice(2, 7)}:`, commandTimeout: 50, reconnect: { min: 20, max: 100 } }
}

function config (limit: Record<string, unknown>, nodeId = 'gw-1', redisCfg = redisSection()): Record<string, unknown> {
  return {
    node: { id: nodeId },
    redis: redisCfg,
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: [{ id: 'r', match: { paths: ['/r'] }, upstream: 'app', plugins: { 'rate-limit': { scope: 'cluster', ...limit } } }]
  }
}

function instanceOf (gw: TestGateway): PluginInstance {
  return gw.gw.current.routes.get('r')!.plugins.find((p) => p.name === 'rate-limit')!.instance
}

interface Tally { ok: number, limited: number, unavailable: number, other: number, maxMs: number }

/** Requests from `concurrency` loops until `stop()` says so; counts statuses and the slowest answer. */
async function loadUntil (url: string, concurrency: number, stop: () => boolean, tally: Tally = { ok: 0, limited: 0, unavailable: 0, other: 0, maxMs: 0 }): Promise<Tally> {
  const worker = async (): Promise<void> => {
    while (!stop()) {
      const t0 = performance.now()
      const res = await request(url, { dispatcher: agent })
      await res.body.dump()
      tally.maxMs = Math.max(tally.maxMs, performance.now() - t0)
      if (res.statusCode === 200) tally.ok++
      else if (res.statusCode === 429) tally.limited++
      else if (res.statusCode === 503) tally.unavailable++
      else tally.other++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return tally
}

test('cluster scope, one gateway: exactly the limit under concurrent load; status and metrics show shared mode', async () => {
  await clearOfWindowEdge(60_000, 20_000)
  // Exactness is the point here, so a loaded machine must not stall a Redis
  // reply past the command timeout (50 ms elsewhere): that would switch the
  // limit to its local fallback, which admits its own share on top.
  const gw = await startTestGateway(config({ rate: 150, window: '1m', expectedNodes: 3 }, 'gw-1', { ...redisSection(), commandTimeout: 1000 }))
  try {
    await until('shared mode', () => instanceOf(gw).status!().mode === 'shared')
    let sent = 0
    const t = await loadUntil(gw.url + '/r', 32, () => ++sent > 600)
    assert.equal(t.ok, 150)
    assert.equal(t.limited, 450)
    await until('learned itself', () => (instanceOf(gw).status!().expectedNodes as { learned: number | null }).learned === 1)
    const st = instanceOf(gw).status!()
    assert.equal(st.scope, 'cluster')
    assert.equal(st.mode, 'shared')
    assert.deepEqual(st.expectedNodes, { configured: 3, learned: 1, used: 3 }, 'configured wins over the learned count')
    assert.equal(st.localLimit, 50)
    assert.deepEqual(st.block, { last: (st.block as { last: number }).last, max: 12 })
    const m = await (await request(gw.adminUrl + '/metrics')).body.text()
    assert.equal(metric(m, 'gateway_limit_redis_mode', { route: 'r', limit: 'rate-limit' }), 0)
    assert.equal(metric(m, 'gateway_limit_admitted_total', { route: 'r', limit: 'rate-limit' }), 150)
    assert.equal(metric(m, 'gateway_limit_rejected_total', { route: 'r', limit: 'rate-limit' }), 450)
  } finally {
    await gw.stop()
  }
})

test('two gateway processes, one Redis, a cluster limit of 200/s, 10 s of load well above it: 2000 admitted ±5%', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-cluster-'))
  const redisCfg = redisSection()
  const procs: GatewayProc[] = []
  try {
    const ports: number[] = []
    for (const id of ['gw-a', 'gw-b']) {
      const listen = await freePort()
      const admin = await freePort()
      const file = writeConfig(dir, {
        ...config({ rate: 200, window: '1s' }, id, redisCfg),
        listen: { host: '127.0.0.1', port: listen },
        admin: { host: '127.0.0.1', port: admin },
        accessLog: { enabled: false }
      }, `${id}.yaml`)
      procs.push(await startGatewayProcess(file))
      ports.push(listen)
    }
    // Both gateways learned each other (the block size depends on it).
    // Both in shared mode (a limit is created before its Redis connection is ready).
    for (const p of procs) {
      await until('shared mode', async () => {
        const m = await (await request(`http://127.0.0.1:${p.adminPort}/metrics`)).body.text()
        return metric(m, 'gateway_limit_redis_mode', { route: 'r', limit: 'rate-limit' }) === 0
      }, 5000)
    }
    // Windows are whole seconds of Redis's clock (this machine's): load the 10 windows from the next boundary, and no
    // other (a request in the last moment of the window before, or the first of the one after, would find a full quota there).
    const boundary = Math.ceil(Date.now() / 1000) * 1000 + 1000
    await until('the first window', () => Date.now() >= boundary + 20, 3000)
    const end = boundary + 10_000
    const stop = (): boolean => Date.now() >= end - 20
    const tallies = await Promise.all(ports.map((p) => loadUntil(`http://127.0.0.1:${p}/r`, 24, stop)))
    const admitted = tallies[0]!.ok + tallies[1]!.ok
    const refused = tallies[0]!.limited + tallies[1]!.limited
    console.log(`two gateways, 200/s for 10 s: admitted ${admitted} (${tallies[0]!.ok} + ${tallies[1]!.ok}) of 2000, refused ${refused}`)
    assert.equal(tallies[0]!.other + tallies[1]!.other + tallies[0]!.unavailable + tallies[1]!.unavailable, 0)
    assert.ok(refused > admitted, 'the load was well above the limit')
    assert.ok(admitted >= 1900 && admitted <= 2100, `admitted ${admitted}, expected 2000 ±5%`)
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('Redis killed and restarted under load: no decision waits past timeout; the local fallback admits about rate/expectedNodes; shared mode comes back', async () => {
  const timeout = 10
  const gw = await startTestGateway(config({ rate: 200, window: '1s', expectedNodes: 4, timeout: `${timeout}ms` }))
  const modeMetric = async (): Promise<number | undefined> =>
    metric(await (await request(gw.adminUrl + '/metrics')).body.text(), 'gateway_limit_redis_mode', { route: 'r', limit: 'rate-limit' })
  try {
    await until('shared mode', () => instanceOf(gw).status!().mode === 'shared')
    const logsAtStart = gw.logs.length
    let phase: 'shared' | 'down' | 'back' | 'done' = 'shared'
    const tally = { ok: 0, limited: 0, unavailable: 0, other: 0, maxMs: 0 }
    const running = loadUntil(gw.url + '/r', 16, () => phase === 'done', tally)
    await until('load under way', () => tally.ok + tally.limited > 200, 5000)
    assert.equal(await modeMetric(), 0)

    await redis.stop()
    await until('local mode', async () => await modeMetric() === 1, 3000)
    phase = 'down'
    const logsBefore = gw.logs.length
    // Two whole windows of the fallback (windows of its own, from the first request after the last one ended).
    const downStart = tally.ok
    const t0 = Date.now()
    await until('2 s in local mode', () => Date.now() - t0 >= 2000, 3000)
    const downAdmitted = tally.ok - downStart
    assert.equal(instanceOf(gw).status!().mode, 'local')

    await redis.restart()
    await until('shared again', async () => await modeMetric() === 0, 5000)
    phase = 'back'
    assert.equal(instanceOf(gw).status!().mode, 'shared')
    const backStart = tally.ok
    await until('admitting through Redis again', () => tally.ok - backStart > 50, 3000)
    phase = 'done'
    await running

    console.log(`fallback admitted ${downAdmitted} in ~2 s (limit 200/s over 4 nodes: 50/s); slowest answer ${tally.maxMs.toFixed(1)} ms`)
    assert.ok(downAdmitted >= 50 && downAdmitted <= 150, `local fallback admitted ${downAdmitted} in 2 s`)
    assert.equal(tally.other + tally.unavailable, 0)
    const modeLines = gw.logs.slice(logsAtStart).filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('limit: '))
    assert.deepEqual(modeLines.map((l) => l.mode), ['local', 'shared'], 'each change logged once')
    const others = gw.logs.slice(logsBefore).filter((l) => l.msg !== 'access')
    assert.ok(others.length < 20, `no log line per request: ${others.length} lines besides the access log`)
    // The time each limit decision took: the gateway's own time before it went upstream (or refused).
    const lines = gw.logs.filter((l) => l.msg === 'access')
    let worst = 0
    for (const l of lines) {
      const d = (l.durationMs as number) - (typeof l.upstreamMs === 'number' ? l.upstreamMs : 0)
      worst = Math.max(worst, d)
    }
    console.log(`slowest limit decision (access log durationMs − upstreamMs): ${worst.toFixed(1)} ms over ${lines.length} requests`)
    assert.ok(lines.length > 500)
    assert.ok(worst < timeout + 40, `a decision took ${worst} ms (timeout ${timeout} ms)`)
  } finally {
    if (!redis.running) await redis.restart()
    await gw.stop()
  }
})
