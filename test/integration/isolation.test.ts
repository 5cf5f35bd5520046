// Isolation between business lines: a route to a stalled upstream (accepts,
// never answers), saturated by many concurrent clients, with `limits` set,
// does not raise the p99 latency of a healthy route on another upstream
// beyond a small bound, and its excess requests get 503 GW_UPSTREAM_BUSY at
// once. The gateway runs as its own process; the saturating clients run on a
// worker thread, so the healthy route's latencies are measured on an event
// loop of their own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { Pool } from 'undici'
import { startUpstream } from '../helpers/upstream.js'
import { startFailingNode } from '../helpers/failing-node.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { freePort } from '../helpers/free-port.js'
import { tempDir } from '../helpers/cli-config.js'
import { writeConfig } from '../helpers/yaml-config.js'
import { until } from '../helpers/until.js'
import type { LoadReport } from '../helpers/load-worker.js'

/** Requests the stalled upstream may hold (limits.maxRequests): all held by clients that wait. */
const HOLD = 64
/** Clients sending to the stalled route beyond the bound, each a request every PAUSE_MS after the last answer (about 1,400/s together). */
const LOOPS = 16
const PAUSE_MS = 10
/** Healthy-route requests per measurement, 4 at a time. */
const SAMPLES = 500
/** Measurements with the stalled route saturated, each followed by one without. */
const ROUNDS = 3

function p (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

/** Latencies (ms, sorted) of `n` GETs on the healthy route, 4 concurrent clients. */
async function measure (client: Pool, n: number): Promise<number[]> {
  const out: number[] = []
  let next = 0
  const one = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const t0 = performance.now()
      const res = await client.request({ path: `/healthy/${i}`, method: 'GET' })
      await res.body.text()
      assert.equal(res.statusCode, 200)
      out.push(performance.now() - t0)
    }
  }
  await Promise.all([one(), one(), one(), one()])
  return out.sort((a, b) => a - b)
}

const ms = (v: number): string => v.toFixed(2)

test('a saturated route to a stalled upstream does not raise the p99 of a healthy route', async (t) => {
  const healthy = await startUpstream({ name: 'healthy' })
  const stall = await startFailingNode('stall')
  t.after(async () => { await healthy.close(); await stall.close() })
  const [port, adminPort] = [await freePort(), await freePort()]
  const file = writeConfig(tempDir(t), {
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort },
    accessLog: { enabled: false },
    upstreams: {
      healthy: { nodes: [{ url: healthy.url }] },
      stalled: { nodes: [{ url: stall.url }], timeouts: { header: '60s' }, limits: { maxRequests: HOLD, maxPending: 0 } }
    },
    routes: [
      { id: 'healthy', match: { paths: ['/healthy/*'] }, upstream: 'healthy' },
      { id: 'stalled', match: { paths: ['/stalled/*'] }, upstream: 'stalled' }
    ]
  })
  const gw = await startGatewayProcess(file)
  t.after(async () => { await gw.stop('SIGKILL') })
  const client = new Pool(`http://127.0.0.1:${port}`, { connections: 4 })
  t.after(() => client.destroy())

  await measure(client, 300) // warm-up: connections, JIT
  const alone: number[] = await measure(client, SAMPLES) // nothing at all on the stalled route
  const withLoad: number[] = []

  const worker = new Worker(new URL('../helpers/load-worker.js', import.meta.url), {
    workerData: { url: `http://127.0.0.1:${port}/stalled/`, hold: HOLD, loops: LOOPS, pauseMs: PAUSE_MS }
  })
  t.after(() => worker.terminate())
  await once(worker, 'message') // ready
  await until(`${HOLD} requests held at the stalled upstream`, () => stall.requests.length === HOLD, 10_000)
  // Rounds with and without the excess clients, interleaved, so a burst of
  // load from elsewhere on the machine weighs on both sides alike. The held
  // requests stay in the rounds without: idle sockets, no event-loop time.
  for (let round = 0; round < ROUNDS; round++) {
    worker.postMessage('go')
    withLoad.push(...await measure(client, SAMPLES))
    worker.postMessage('pause')
    await once(worker, 'message') // paused
    alone.push(...await measure(client, SAMPLES))
  }
  worker.postMessage('stop')
  const [report] = await once(worker, 'message') as [LoadReport]
  alone.sort((a, b) => a - b)
  withLoad.sort((a, b) => a - b)

  const p99Alone = p(alone, 0.99)
  const p99With = p(withLoad, 0.99)
  const bound = Math.max(2 * p99Alone, p99Alone + 20)
  const excess = report.latencies
  t.diagnostic(`healthy route (${alone.length} and ${withLoad.length} requests) p50/p99 alone ${ms(p(alone, 0.5))}/${ms(p99Alone)} ms; with the stalled route saturated ` +
    `${ms(p(withLoad, 0.5))}/${ms(p99With)} ms (bound ${ms(bound)} ms); excess requests ${excess.length}: ` +
    `p50/p99/max ${ms(p(excess, 0.5))}/${ms(p(excess, 0.99))}/${ms(excess.at(-1)!)} ms, answers ${JSON.stringify(report.answers)}`)

  assert.deepEqual(Object.keys(report.answers), ['503 GW_UPSTREAM_BUSY'], 'every excess request was refused by the bulkhead')
  assert.ok(excess.length >= ROUNDS * LOOPS, 'the stalled route was kept saturated while the healthy route was measured')
  assert.equal(report.heldEnded, 0, 'the held requests were still waiting')
  assert.equal(stall.requests.length, HOLD, 'nothing beyond the bound reached the stalled upstream')
  assert.ok(p(excess, 0.99) < 100, `excess requests answered at once (p99 ${ms(p(excess, 0.99))} ms)`)
  assert.ok(p99With <= bound, `healthy p99 ${ms(p99With)} ms with the stalled route saturated, ${ms(p99Alone)} ms alone: bound ${ms(bound)} ms`)
})
