// Retries on real loopback nodes: which failures are sent again and to which
// node, request bodies re-sent intact when nothing was sent, the per-try
// timeout inside the request's header timeout, and the retry budget (with its
// state carried over a reload).
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startFailingNode, type FailingNode } from '../helpers/failing-node.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { freePort } from '../helpers/free-port.js'
import { metric } from '../helpers/metrics.js'

interface Echo { upstream: string; method: string; url: string; bodyLength: number; bodySha256: string }
interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string; ms: number }

let live: Upstream
let gw: TestGateway
let dead: string
let dead2: string
const faulty: FailingNode[] = []

before(async () => {
  live = await startUpstream({ name: 'live' })
  dead = `http://127.0.0.1:${await freePort()}`
  dead2 = `http://127.0.0.1:${await freePort()}`
  gw = await startTestGateway({ upstreams: { live: { nodes: [{ url: live.url }] } }, routes: [{ id: 'live', match: { paths: ['/live'] }, upstream: 'live' }] })
})

after(async () => {
  await gw.stop()
  await Promise.all([live.close(), ...faulty.map((f) => f.close())])
})

async function faultyNode (mode: 'stall' | 'reset'): Promise<FailingNode> {
  const f = await startFailingNode(mode)
  faulty.push(f)
  return f
}

/** Reloads the gateway with these upstreams, each served on `/NAME/*`. */
async function useUpstreams (upstreams: Record<string, Record<string, unknown>>): Promise<void> {
  gw.rewrite({
    upstreams,
    routes: Object.keys(upstreams).map((name) => ({ id: name, match: { paths: [`/${name}/*`] }, upstream: name, bodyLimit: '8mb' }))
  })
  const outcome = await gw.gw.reloader.reload('test')
  assert.equal(outcome.result, 'ok', outcome.errors.join('\n'))
}

async function send (path: string, opts: { method?: string; body?: Buffer | Readable | string } = {}): Promise<Answer> {
  const t0 = performance.now()
  const res = await request(gw.url + path, { method: (opts.method ?? 'GET') as 'GET', body: opts.body ?? null })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 }
}

const code = (a: Answer): string => (JSON.parse(a.text) as { error: { code: string } }).error.code
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const seenAt = (node: { requests: Array<{ url?: string; target?: string }> }, path: string): number =>
  node.requests.filter((r) => (r.url ?? r.target) === path).length

async function metrics (): Promise<string> {
  return await (await fetch(gw.adminUrl + '/metrics')).text()
}

test('a retry goes to a third node when two failed: no node is tried twice', async () => {
  const r1 = await faultyNode('reset')
  const r2 = await faultyNode('reset')
  await useUpstreams({ three: { nodes: [{ url: r1.url }, { url: r2.url }, { url: live.url }], retries: 2 } })
  for (let i = 0; i < 6; i++) {
    const path = `/three/${i}`
    const res = await send(path)
    assert.equal(res.status, 200, `${path} answered by the live node`)
    assert.equal((JSON.parse(res.text) as Echo).upstream, 'live')
    assert.equal(seenAt(live, path), 1)
    assert.ok(seenAt(r1, path) <= 1 && seenAt(r2, path) <= 1, `${path} went at most once to each failed node`)
  }
  assert.ok(r1.requests.length > 0 && r2.requests.length > 0, 'both failing nodes were tried')
  // Requests that started on the first failed node went to the second, then to the third.
  assert.ok([0, 1, 2, 3, 4, 5].some((i) => seenAt(r1, `/three/${i}`) === 1 && seenAt(r2, `/three/${i}`) === 1))
})

test('a POST whose node refused the connection is retried on a live node with its body intact (Content-Length and chunked)', async () => {
  await useUpstreams({ half: { nodes: [{ url: dead }, { url: live.url }], retries: 1 } })
  const body = randomBytes(700 * 1024)
  for (let i = 0; i < 4; i++) {
    for (const framing of ['length', 'chunked'] as const) {
      const path = `/half/${framing}/${i}`
      // A Readable of unknown length goes out chunked; a Buffer with Content-Length.
      const res = await send(path, { method: 'POST', body: framing === 'length' ? body : Readable.from([body.subarray(0, 300_000), body.subarray(300_000)]) })
      assert.equal(res.status, 200, `${path}: ${res.text}`)
      const echo = JSON.parse(res.text) as Echo
      assert.equal(echo.bodyLength, body.length)
      assert.equal(echo.bodySha256, sha256(body), `${path}: the body arrived byte for byte`)
      assert.equal(seenAt(live, path), 1)
    }
  }
})

test('a POST (and a PUT with a body) reset after it was sent is not retried', async () => {
  const resetter = await faultyNode('reset')
  await useUpstreams({ rp: { nodes: [{ url: resetter.url }, { url: live.url }], retries: 1 } })
  for (const method of ['POST', 'PUT']) {
    let failed = 0
    for (let i = 0; i < 4; i++) {
      const path = `/rp/${method}/${i}`
      const res = await send(path, { method, body: 'payload' })
      if (res.status === 502) {
        failed++
        assert.equal(code(res), 'GW_UPSTREAM_RESET')
        assert.equal(seenAt(resetter, path), 1)
        assert.equal(seenAt(live, path), 0, `${path} was never sent a second time`)
      } else {
        assert.equal(res.status, 200)
      }
    }
    assert.equal(failed, 2, `round robin sent two ${method}s to the resetting node`)
  }
})

test('a per-try timeout sends an idempotent GET to another node; a POST gets 504 at the try timeout', async () => {
  const stall = await faultyNode('stall')
  await useUpstreams({ try: { nodes: [{ url: stall.url }, { url: live.url }], retries: 1, timeouts: { try: '200ms', header: '3s' } } })
  for (let i = 0; i < 4; i++) {
    const path = `/try/get/${i}`
    const res = await send(path)
    assert.equal(res.status, 200, `${path}: ${res.text}`)
    assert.equal(seenAt(live, path), 1)
    assert.ok(res.ms < 700, `${path}: answered after at most one try timeout (${Math.round(res.ms)} ms), far below timeouts.header`)
  }
  assert.equal(stall.requests.filter((r) => r.target.startsWith('/try/get/')).length, 2, 'two GETs started on the stalled node')

  let timedOut = 0
  for (let i = 0; i < 2; i++) {
    const path = `/try/post/${i}`
    const res = await send(path, { method: 'POST', body: 'x' })
    if (res.status === 504) {
      timedOut++
      assert.equal(code(res), 'GW_UPSTREAM_TIMEOUT')
      assert.equal(seenAt(live, path), 0, 'a POST that may have been processed is not sent again')
      assert.ok(res.ms >= 190 && res.ms < 700, `answered at the try timeout (${Math.round(res.ms)} ms), not the header timeout`)
    }
  }
  assert.equal(timedOut, 1)
})

test('the per-try timeout starts once the request is sent: a slow upload longer than the try is not cut', async () => {
  await useUpstreams({ upload: { nodes: [{ url: live.url }], timeouts: { try: '200ms' } } })
  const parts = [Buffer.alloc(1000, 97), Buffer.alloc(1000, 98), Buffer.alloc(1000, 99), Buffer.alloc(1000, 100)]
  async function * slowly (): AsyncGenerator<Buffer> {
    for (const p of parts) {
      yield p
      await new Promise((resolve) => setTimeout(resolve, 150)) // the client's pace: 4 x 150 ms of upload
    }
  }
  const res = await send('/upload/slow', { method: 'POST', body: Readable.from(slowly()) })
  assert.equal(res.status, 200, res.text)
  assert.ok(res.ms >= 500, `the upload took its time (${Math.round(res.ms)} ms)`)
  assert.equal((JSON.parse(res.text) as Echo).bodySha256, sha256(Buffer.concat(parts)))
})

test('timeouts.header bounds the whole request: the last attempt gets what is left, and is not retried', async () => {
  const s = [await faultyNode('stall'), await faultyNode('stall'), await faultyNode('stall')]
  await useUpstreams({ stalls: { nodes: s.map((n) => ({ url: n.url })), retries: 2, timeouts: { try: '600ms', header: '1000ms' } } })
  const res = await send('/stalls/x')
  assert.equal(res.status, 504)
  assert.equal(code(res), 'GW_UPSTREAM_TIMEOUT')
  // First try: 600 ms, then retried; the second has the 400 ms left of timeouts.header: when they run out the
  // request is over. Three tries of 600 ms would have reached every node and taken 1800 ms.
  assert.deepEqual(s.map((n) => seenAt(n, '/stalls/x')), [1, 1, 0], 'two nodes tried, the third never')
  // undici's header timer (what is left of timeouts.header) runs on a clock of about 0.5 s: allow it that.
  assert.ok(res.ms >= 950 && res.ms < 1700, `answered when timeouts.header ran out (${Math.round(res.ms)} ms)`)
})

test('the retry budget caps retries during an outage, and its state survives a reload', async () => {
  const path = (i: number): string => `/budget/${i}`
  await useUpstreams({ budget: { nodes: [{ url: dead2 }, { url: live.url }], retries: 1, retryBudget: { ratio: 0.1, minPerSecond: 1 } } })
  const liveBefore = live.requests.length
  let failed = 0
  const t0 = Date.now()
  for (let i = 0; i < 200; i++) {
    const res = await send(path(i))
    if (res.status === 502) {
      failed++
      assert.equal(code(res), 'GW_UPSTREAM_REFUSED', 'a retry refused by the budget answers the original error')
    } else {
      assert.equal(res.status, 200)
    }
  }
  assert.ok(Date.now() - t0 < 9000, 'the 200 requests fit in one budget window')
  // Round robin: 100 requests started on the dead node; those retried reached the live node.
  const retried = live.requests.length - liveBefore - 100
  assert.equal(retried + failed, 100)
  // At most ratio x requests + minPerSecond x 10 s = 0.1 x 200 + 10; without a budget all 100 would be retried.
  assert.ok(retried <= 30, `retries held to the budget: ${retried}`)
  assert.ok(retried >= 25, `the budget allowed what it should: ${retried}`)
  const text = await metrics()
  assert.equal(metric(text, 'gateway_upstream_retries_total', { upstream: 'budget', result: 'retried' }), retried)
  assert.equal(metric(text, 'gateway_upstream_retries_total', { upstream: 'budget', result: 'budget_exhausted' }), failed)

  // A reload that rebuilds the upstream (ratio 0: only the 10 retries of minPerSecond per window) keeps the
  // retries already made: the budget is spent, and no failed request is retried.
  await useUpstreams({ budget: { nodes: [{ url: dead2 }, { url: live.url }], retries: 1, retryBudget: { ratio: 0, minPerSecond: 1 } } })
  let failedAfter = 0
  for (let i = 200; i < 210; i++) if ((await send(path(i))).status === 502) failedAfter++
  assert.equal(failedAfter, 5, 'every request that started on the dead node failed: the budget was carried over')
  assert.equal(metric(await metrics(), 'gateway_upstream_retries_total', { upstream: 'budget', result: 'budget_exhausted' }), failed + 5)
})
