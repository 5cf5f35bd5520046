// The rollback guard of a ramp, fed outcomes on an injected clock: when it
// judges (both sides past minRequests), the error-ratio and p99 triggers
// relative to the old side, the window forgetting old outcomes, a decision
// kept for the ramp and a new ramp starting fresh; and the latency histogram
// it reads the p99 from.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import type { RollbackOptions } from '../../../plugins/traffic-split/options.js'
import { JUDGE_MS, RollbackGuard } from '../../../plugins/traffic-split/rollback.js'
import { bucketEdge, GROWTH, latencyBucket, LATENCY_BUCKETS, SideWindow } from '../../../plugins/traffic-split/side-window.js'
import type { OutcomeKind, UpstreamOutcome } from '../../../plugins/types.js'
import { metric } from '../../helpers/metrics.js'
import { pluginEnv, type TestPluginEnv } from '../../helpers/plugin-env.js'

const OPTIONS: RollbackOptions = {
  errorRatio: 0.05,
  latencyFactor: 2,
  latencyFloor: 50,
  window: 60_000,
  minRequests: 100,
  statuses: [500, 502, 503, 504]
}

let ramps = 0
/** A guard on a ramp of its own (blue -> green) unless `key` is given. */
function guard (env: TestPluginEnv, o: Partial<RollbackOptions> = {}, key = `payments:ramp-${++ramps}`): RollbackGuard {
  return new RollbackGuard({ ...OPTIONS, ...o }, { from: 'blue', to: 'green' }, { key }, env)
}

function outcome (kind: OutcomeKind, status: number, latency: number): UpstreamOutcome {
  return { upstream: 'u', node: 'http://127.0.0.1:1', kind, status, latency, sent: kind !== 'connect', attempt: 1 }
}

interface Traffic {
  /** Outcomes per side. */
  n: number
  /** Every `errorEvery`-th outcome is a 503 (0: none). */
  errorEvery?: number
  latency?: number
  /** Every `slowEvery`-th outcome takes `slow` ms instead. */
  slowEvery?: number
  slow?: number
}

/**
 * `n` outcomes on each side, interleaved, the clock moving `step` ms after
 * each pair (10 ms: 100 pairs a second, so the guard judges every 10 pairs).
 */
function feed (g: RollbackGuard, env: TestPluginEnv, blue: Traffic, green: Traffic, step = 10): void {
  const one = (side: string, t: Traffic, i: number): void => {
    const error = t.errorEvery !== undefined && t.errorEvery > 0 && i % t.errorEvery === 0
    const latency = t.slowEvery !== undefined && i % t.slowEvery === 0 ? t.slow! : t.latency ?? 10
    g.observe(side, outcome('response', error ? 503 : 200, latency))
  }
  for (let i = 1; i <= Math.max(blue.n, green.n); i++) {
    if (i <= blue.n) one('blue', blue, i)
    if (i <= green.n) one('green', green, i)
    env.clock.now += step
  }
}

/** The p99 status() shows for outcomes all of `ms`: the upper edge of their bucket, to 0.1 ms. */
function reported (ms: number): number {
  return Math.round(bucketEdge(latencyBucket(ms)) * 10) / 10
}

function side (g: RollbackGuard, which: 'from' | 'to'): Record<string, unknown> {
  return g.status()[which] as Record<string, unknown>
}

function decision (g: RollbackGuard): Record<string, unknown> | null {
  return g.status().decision as Record<string, unknown> | null
}

function warnings (env: TestPluginEnv): Array<Record<string, unknown>> {
  return env.logs.filter((l) => l.level === 40)
}

describe('RollbackGuard', () => {
  it('judges nothing until both sides have minRequests in the window', () => {
    const env = pluginEnv()
    const g = guard(env)
    // Green fails every request, but blue has only 99.
    feed(g, env, { n: 99 }, { n: 500, errorEvery: 1 })
    assert.equal(g.rolledBack, false)
    assert.deepEqual(side(g, 'from'), { side: 'blue', requests: 99, errors: 0, errorRatio: 0, p99: reported(10), minRequestsReached: false })
    assert.equal(side(g, 'to').minRequestsReached, true)
    assert.equal(decision(g), null)
    // The 100th on blue (JUDGE_MS after the last judgement): now it judges.
    env.clock.now += JUDGE_MS
    feed(g, env, { n: 1 }, { n: 0 })
    assert.equal(g.rolledBack, true)
  })

  it('ten requests cannot trigger it: green at 99 failures, blue at 1000 successes', () => {
    const env = pluginEnv()
    const g = guard(env)
    feed(g, env, { n: 1000 }, { n: 99, errorEvery: 1 })
    assert.equal(g.rolledBack, false)
    assert.equal(side(g, 'to').minRequestsReached, false)
  })

  it('rolls back when the new side\'s error ratio exceeds the old side\'s by more than errorRatio; logged and counted once', async () => {
    const env = pluginEnv({ nodeId: 'gw-1' })
    const g = guard(env)
    // Blue 1 % errors, green 10 %. Judged every 10 pairs: first with both past 100 at the 101st pair, after blue's
    // outcome: blue 1 error in 101, green 10 in 100, 0.1 > 0.0099 + 0.05.
    feed(g, env, { n: 200, errorEvery: 100 }, { n: 200, errorEvery: 10 })
    assert.equal(g.rolledBack, true)
    const d = decision(g)!
    assert.equal(d.by, 'gw-1')
    assert.equal(d.decided, 'here')
    assert.equal(d.why, 'error ratio 0.1 > 0.0099 + 0.05')
    const figures = d.figures as Record<string, Record<string, unknown>>
    assert.deepEqual(figures.from, { side: 'blue', requests: 101, errors: 1, errorRatio: 0.0099, p99: reported(10) })
    assert.deepEqual(figures.to, { side: 'green', requests: 100, errors: 10, errorRatio: 0.1, p99: reported(10) })
    assert.equal(figures.window, 60_000)
    assert.equal(figures.minRequests, 100)
    // More traffic after the decision: no second decision, log or count.
    feed(g, env, { n: 300 }, { n: 300, errorEvery: 2 })
    assert.equal(decision(g)!.at, d.at)
    const w = warnings(env)
    assert.equal(w.length, 1)
    assert.equal(w[0]!.route, 'payments')
    assert.equal(w[0]!.decided, 'here')
    assert.equal(w[0]!.by, 'gw-1')
    assert.deepEqual(w[0]!.figures, figures)
    const text = await env.metrics.metrics()
    assert.equal(metric(text, 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), 1)
    assert.equal(metric(text, 'gateway_split_rollbacks_total', { route: 'payments', decided: 'fleet' }), undefined)
    g.close()
  })

  it('an error ratio within errorRatio of the old side\'s does not roll back', () => {
    const env = pluginEnv()
    const g = guard(env)
    // Blue 1 %, green 5 %: 0.05 is not above 0.01 + 0.05.
    feed(g, env, { n: 1000, errorEvery: 100 }, { n: 1000, errorEvery: 20 })
    assert.equal(g.rolledBack, false)
    assert.equal(side(g, 'to').errorRatio, 0.05)
  })

  it('relative: when the old side fails alike, the new one is not blamed', () => {
    const env = pluginEnv()
    const g = guard(env)
    // A third of every side's requests fail (a shared dependency is down), and both are slow.
    feed(g, env, { n: 1000, errorEvery: 3, latency: 400 }, { n: 1000, errorEvery: 3, latency: 420 })
    assert.equal(g.rolledBack, false)
    assert.equal(side(g, 'from').errorRatio, side(g, 'to').errorRatio)
  })

  it('connect, reset, timeout and bad-response are errors; cancelled attempts are not counted; statuses says which responses are', () => {
    const env = pluginEnv()
    const g = guard(env, { statuses: [429] })
    const kinds: OutcomeKind[] = ['connect', 'reset', 'timeout', 'bad-response']
    for (const k of kinds) g.observe('green', outcome(k, 0, 5))
    g.observe('green', outcome('response', 429, 5))
    g.observe('green', outcome('response', 503, 5)) // not in statuses here
    g.observe('green', outcome('cancelled', 0, 5))
    g.observe('red', outcome('connect', 0, 5)) // not one of the ramp's sides
    assert.equal(side(g, 'to').requests, 6)
    assert.equal(side(g, 'to').errors, 5)
    assert.equal(side(g, 'from').requests, 0)
    assert.equal(side(g, 'from').p99, null)
  })

  it('rolls back when the new side\'s p99 exceeds the old side\'s × latencyFactor and latencyFloor', () => {
    const env = pluginEnv()
    const g = guard(env)
    // Blue at 20 ms; green mostly 20 ms too, but 2 % at 300 ms: its p99 is 300 ms (a mean would be 26 ms).
    feed(g, env, { n: 400, latency: 20 }, { n: 400, latency: 20, slowEvery: 50, slow: 300 })
    assert.equal(g.rolledBack, true)
    const d = decision(g)!
    assert.match(String(d.why), /^p99 \d+(\.\d)?ms > \d+(\.\d)?ms × 2 and > 50ms$/)
    const figures = d.figures as Record<string, Record<string, number>>
    assert.ok(figures.to!.p99! >= 300 && figures.to!.p99! < 330, `green p99 ${figures.to!.p99}`)
    assert.ok(figures.from!.p99! >= 20 && figures.from!.p99! < 22, `blue p99 ${figures.from!.p99}`)
    assert.equal(figures.to!.errors, 0)
  })

  it('slow outliers under 1 % do not move the p99', () => {
    const env = pluginEnv()
    const g = guard(env)
    feed(g, env, { n: 1000, latency: 20 }, { n: 1000, latency: 20, slowEvery: 200, slow: 5000 })
    assert.equal(g.rolledBack, false)
    assert.ok((side(g, 'to').p99 as number) < 22)
  })

  it('a p99 under latencyFloor is never too slow, whatever the factor', () => {
    const env = pluginEnv()
    const g = guard(env, { latencyFloor: 50 })
    // Green 4x slower than blue, but 40 ms.
    feed(g, env, { n: 500, latency: 10 }, { n: 500, latency: 40 })
    assert.equal(g.rolledBack, false)
    // The same with a floor of 30 ms rolls back.
    const env2 = pluginEnv()
    const g2 = guard(env2, { latencyFloor: 30 })
    feed(g2, env2, { n: 500, latency: 10 }, { n: 500, latency: 40 })
    assert.equal(g2.rolledBack, true)
  })

  it('the window slides: outcomes older than `window` are forgotten', () => {
    const env = pluginEnv()
    const g = guard(env, { window: 10_000 })
    // Green's errors while blue is under minRequests: no judgement.
    feed(g, env, { n: 50 }, { n: 200, errorEvery: 2 })
    assert.equal(g.rolledBack, false)
    assert.equal(side(g, 'to').errors, 100)
    // 11 s later both sides are healthy: the old errors are out of the window.
    env.clock.now += 11_000
    assert.deepEqual([side(g, 'to').requests, side(g, 'to').errors, side(g, 'from').requests], [0, 0, 0])
    feed(g, env, { n: 200 }, { n: 200 })
    assert.equal(g.rolledBack, false)
    assert.equal(side(g, 'to').requests, 200)
    assert.equal(side(g, 'to').errors, 0)
  })

  it('the window slides in steps of window / 20: half a window later, half the outcomes are left', () => {
    const env = pluginEnv()
    const g = guard(env, { window: 20_000 })
    // One outcome per side every 100 ms for 20 s.
    feed(g, env, { n: 200 }, { n: 200 }, 100)
    // At the end, the first second's bucket has just left the window.
    assert.equal(side(g, 'to').requests, 190)
    env.clock.now += 10_000
    const left = side(g, 'to').requests as number
    assert.ok(left >= 90 && left <= 110, `left ${left}`)
  })

  it('compares at most every JUDGE_MS: a burst of failures at one instant is judged on the next outcome JUDGE_MS later', () => {
    const env = pluginEnv()
    const g = guard(env, { minRequests: 10 })
    feed(g, env, { n: 10 }, { n: 0 }, 0) // the first outcome judged (nothing to judge)
    feed(g, env, { n: 0 }, { n: 50, errorEvery: 1 }, 0)
    assert.equal(g.rolledBack, false)
    env.clock.now += JUDGE_MS - 1
    g.observe('green', outcome('response', 200, 10))
    assert.equal(g.rolledBack, false)
    env.clock.now += 1
    g.observe('green', outcome('response', 200, 10))
    assert.equal(g.rolledBack, true)
  })

  it('stays rolled back for the ramp: a guard re-created for the same ramp (a reload) starts rolled back; a new ramp starts fresh', async () => {
    const env = pluginEnv()
    const key = 'payments:{"to":"green","start":"2026-12-01T10:00:00Z","from":0,"duration":600000}'
    const g1 = guard(env, {}, key)
    feed(g1, env, { n: 200 }, { n: 200, errorEvery: 2 })
    assert.equal(g1.rolledBack, true)
    const at = decision(g1)!.at
    // A reload re-creates the plugin (another rule, say) with the same ramp: the old instance closes after the new one exists.
    const g2 = guard(env, {}, key)
    g1.close()
    assert.equal(g2.rolledBack, true)
    assert.equal(decision(g2)!.at, at)
    // Healthy traffic afterwards changes nothing.
    feed(g2, env, { n: 300 }, { n: 300 })
    assert.equal(g2.rolledBack, true)
    g2.close()
    // Even with no guard left for a while (the route was edited twice).
    const g3 = guard(env, {}, key)
    assert.equal(g3.rolledBack, true)
    g3.close()
    // A new ramp (another start) is another key: fresh figures, no decision.
    const g4 = guard(env, {}, key.replace('10:00:00Z', '11:00:00Z'))
    assert.equal(g4.rolledBack, false)
    assert.equal(decision(g4), null)
    assert.equal(side(g4, 'to').requests, 0)
    // Logged and counted once for the ramp.
    assert.equal(warnings(env).length, 1)
    assert.equal(metric(await env.metrics.metrics(), 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), 1)
    g4.close()
  })

  it('a reload that keeps the ramp keeps the window\'s figures; another gateway (registry) has its own', () => {
    const env = pluginEnv()
    const key = 'payments:ramp-kept'
    const g1 = guard(env, {}, key)
    feed(g1, env, { n: 60 }, { n: 60 })
    const g2 = guard(env, {}, key)
    g1.close()
    assert.equal(side(g2, 'to').requests, 60)
    feed(g2, env, { n: 50 }, { n: 50, errorEvery: 1 })
    // Past 100 each, green at 40 % errors: judged on the figures of both instances.
    assert.equal(g2.rolledBack, true)
    const other = pluginEnv({ metrics: new Registry() })
    const g3 = guard(other, {}, key)
    assert.equal(g3.rolledBack, false)
    g2.close()
    g3.close()
  })

  it('status() shows the options, per side figures, whether minRequests is reached, the decision, and no Redis', () => {
    const env = pluginEnv()
    const g = guard(env)
    const s = g.status()
    assert.deepEqual(s, {
      rolledBack: false,
      window: 60_000,
      minRequests: 100,
      errorRatio: 0.05,
      latencyFactor: 2,
      latencyFloor: 50,
      statuses: [500, 502, 503, 504],
      from: { side: 'blue', requests: 0, errors: 0, errorRatio: 0, p99: null, minRequestsReached: false },
      to: { side: 'green', requests: 0, errors: 0, errorRatio: 0, p99: null, minRequestsReached: false },
      decision: null,
      redis: null
    })
    g.close()
    g.close()
  })
})

describe('SideWindow latency histogram', () => {
  it('bucket i holds (GROWTH^(i-1), GROWTH^i] ms, bucket 0 everything up to 1 ms', () => {
    assert.equal(latencyBucket(0), 0)
    assert.equal(latencyBucket(-3), 0)
    assert.equal(latencyBucket(Number.NaN), 0)
    assert.equal(latencyBucket(1), 0)
    assert.equal(latencyBucket(1.0001), 1)
    for (let i = 1; i < LATENCY_BUCKETS - 1; i++) {
      const edge = bucketEdge(i)
      assert.equal(latencyBucket(edge), i, `edge of ${i}`)
      assert.equal(latencyBucket(edge * 1.0000001), i + 1, `just above the edge of ${i}`)
    }
    assert.equal(latencyBucket(1e12), LATENCY_BUCKETS - 1)
  })

  it('a quantile is never below the true value and less than 10 % above it', () => {
    // A fixed pseudo-random sample spread over 0.5 ms .. 20 s.
    let seed = 42
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let run = 0; run < 20; run++) {
      const w = new SideWindow(60_000)
      const values: number[] = []
      for (let i = 0; i < 1000 + run * 37; i++) {
        const v = 0.5 * Math.exp(rand() * Math.log(40_000))
        values.push(v)
        w.add(1000, false, v)
      }
      values.sort((a, b) => a - b)
      for (const q of [0.5, 0.9, 0.99]) {
        const exact = values[Math.ceil(q * values.length) - 1]!
        const got = w.quantile(q)
        assert.ok(got >= exact, `q${q} ${got} >= ${exact}`)
        assert.ok(got <= Math.max(exact * GROWTH, 1) + 1e-9, `q${q} ${got} <= ${exact} × ${GROWTH}`)
      }
    }
  })

  it('counts only what is in the span; a clock going back counts in the newest bucket', () => {
    const w = new SideWindow(1000)
    w.add(10_000, true, 5)
    w.add(10_500, false, 5)
    assert.deepEqual([w.requests, w.errors], [2, 1])
    w.add(10_400, false, 5)
    assert.equal(w.requests, 3)
    w.advance(11_020)
    assert.deepEqual([w.requests, w.errors], [2, 0])
    w.advance(50_000)
    assert.deepEqual([w.requests, w.errors, w.p99], [0, 0, 0])
  })
})
