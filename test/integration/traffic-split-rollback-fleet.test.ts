// The rollback decision shared by a fleet through a real redis-server: two
// (or three) gateways' guards, each on its own Redis connection and metrics
// registry. The one that decides writes the decision; the others roll back
// within a poll without having seen bad traffic. With Redis frozen or gone,
// each judges its own traffic, nothing throws or rejects, and a decision made
// meanwhile reaches the fleet once Redis is back.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RedisService } from '../../gateway/services/redis.js'
import type { RollbackOptions } from '../../plugins/traffic-split/options.js'
import { RollbackGuard } from '../../plugins/traffic-split/rollback.js'
import { decisionKey, DECISION_TTL_S, POLL_MS } from '../../plugins/traffic-split/rollback-fleet.js'
import type { UpstreamOutcome } from '../../plugins/types.js'
import { metric } from '../helpers/metrics.js'
import { pluginEnv, type TestPluginEnv } from '../helpers/plugin-env.js'
import { redisConnection } from '../helpers/redis-connection.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { until } from '../helpers/until.js'

const OPTIONS: RollbackOptions = { errorRatio: 0.05, latencyFactor: 2, latencyFloor: 50, window: 60_000, minRequests: 50, statuses: [500, 502, 503, 504] }
const PREFIX = 'fleet:'

let redis: RedisServer
const conns: RedisService[] = []
const rejections: unknown[] = []
const onRejection = (err: unknown): void => { rejections.push(err) }

before(async () => {
  process.on('unhandledRejection', onRejection)
  redis = await startRedisServer()
})
after(async () => {
  for (const c of conns) c.close()
  await redis.stop()
  process.off('unhandledRejection', onRejection)
})

async function connection (): Promise<RedisService> {
  const c = await redisConnection(redis, { keyPrefix: PREFIX, commandTimeout: 200 })
  conns.push(c)
  return c
}

interface Gateway { env: TestPluginEnv; guard: RollbackGuard }

/** A gateway's guard for `rampKey`, on its own connection and registry. */
function gateway (nodeId: string, conn: RedisService, rampKey: string): Gateway {
  const env = pluginEnv({ nodeId, redis: conn })
  return { env, guard: new RollbackGuard(OPTIONS, { from: 'blue', to: 'green' }, { key: rampKey }, env) }
}

const ok: UpstreamOutcome = { upstream: 'u', node: 'n', kind: 'response', status: 200, latency: 12, sent: true, attempt: 1 }
const failed: UpstreamOutcome = { ...ok, status: 502 }

/** 100 attempts per side on the gateway's clock; green fails them all when `bad`. */
function traffic (g: Gateway, bad: boolean): void {
  for (let i = 0; i < 100; i++) {
    g.guard.observe('blue', ok)
    g.guard.observe('green', bad ? failed : ok)
    g.env.clock.now += 10
  }
}

function status (g: Gateway): Record<string, any> {
  return g.guard.status()
}

let ramps = 0
const newRamp = (): string => `payments:{"to":"green","start":"2026-12-01T10:${String(++ramps).padStart(2, '0')}:00Z"}`

describe('rollback decision shared through Redis', () => {
  it('the gateway that decides writes it; another rolls back within a poll without bad traffic of its own', async () => {
    const ramp = newRamp()
    const a = gateway('gw-a', await connection(), ramp)
    const b = gateway('gw-b', await connection(), ramp)
    traffic(b, false)
    traffic(a, true)
    assert.equal(a.guard.rolledBack, true, 'A rolls back at once')
    const t0 = Date.now()
    await until('B rolls back', () => b.guard.rolledBack, 3000)
    const took = Date.now() - t0
    assert.ok(took <= 2 * POLL_MS + 200, `B learned it in ${took} ms`)

    const da = status(a).decision
    const db = status(b).decision
    assert.equal(da.decided, 'here')
    assert.equal(db.decided, 'fleet')
    assert.equal(db.by, 'gw-a')
    assert.equal(db.at, da.at)
    assert.equal(db.why, da.why)
    assert.deepEqual(db.figures, da.figures)
    assert.equal(db.figures.to.errors, db.figures.to.requests)
    // B's own figures: healthy.
    assert.equal(status(b).to.errors, 0)
    assert.deepEqual(status(b).redis, { mode: 'shared', reason: 'redis ready', key: decisionKey(PREFIX, ramp), shared: true })
    assert.equal(status(a).redis.shared, true)

    assert.equal(metric(await a.env.metrics.metrics(), 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), 1)
    assert.equal(metric(await b.env.metrics.metrics(), 'gateway_split_rollbacks_total', { route: 'payments', decided: 'fleet' }), 1)
    assert.equal(metric(await b.env.metrics.metrics(), 'gateway_split_rollbacks_total', { route: 'payments', decided: 'here' }), undefined)
    const warned = b.env.logs.filter((l) => l.level === 40)
    assert.equal(warned.length, 1)
    assert.equal(warned[0]!.decided, 'fleet')
    assert.equal(warned[0]!.by, 'gw-a')

    // The record: SET NX with a day's TTL, under keyPrefix + split:rollback:<digest>.
    const c = conns[0]!.client
    const ttl = await c.ttl(decisionKey(PREFIX, ramp))
    assert.ok(ttl > DECISION_TTL_S - 60 && ttl <= DECISION_TTL_S, `ttl ${ttl}`)
    const record = JSON.parse((await c.get(decisionKey(PREFIX, ramp)))!)
    assert.equal(record.by, 'gw-a')
    assert.equal(record.route, 'payments')

    // A gateway (re)started mid-ramp learns it on its first poll.
    const late = gateway('gw-c', await connection(), ramp)
    await until('a gateway started later rolls back', () => late.guard.rolledBack, 2000)
    assert.equal(status(late).decision.by, 'gw-a')
    for (const g of [a, b, late]) g.guard.close()
  })

  it('another ramp has another key: it is not rolled back by the first one\'s decision', async () => {
    const ramp = newRamp()
    const a = gateway('gw-a', await connection(), ramp)
    // Polling from the same moment: one on A's ramp (the control), one on another ramp.
    const control = gateway('gw-b', await connection(), ramp)
    const other = gateway('gw-c', await connection(), newRamp())
    traffic(a, true)
    await until('the control learns A\'s decision', () => control.guard.rolledBack, 2000)
    assert.equal(other.guard.rolledBack, false)
    assert.equal(status(other).decision, null)
    for (const g of [a, control, other]) g.guard.close()
  })

  it('Redis frozen: each gateway judges its own traffic, nothing throws; the decision reaches the fleet once Redis answers again', async () => {
    const ramp = newRamp()
    const a = gateway('gw-a', await connection(), ramp)
    const b = gateway('gw-b', await connection(), ramp)
    const quiet = gateway('gw-c', await connection(), ramp)
    redis.pause()
    try {
      traffic(a, true)
      assert.equal(a.guard.rolledBack, true, 'A rolls back on its own traffic')
      // The write times out (commandTimeout): decided here, not shared.
      await until('A records its decision', () => status(a).decision !== null, 2000)
      assert.equal(status(a).decision.decided, 'here')
      assert.equal(status(a).redis.mode, 'local')
      assert.equal(status(a).redis.shared, false)
      // B sees bad traffic too and decides for itself; the quiet gateway sees none and waits.
      traffic(b, true)
      assert.equal(b.guard.rolledBack, true)
      traffic(quiet, false)
      await until('the quiet gateway\'s poll times out', () => status(quiet).redis.mode === 'local', 2000)
      assert.equal(quiet.guard.rolledBack, false)
    } finally {
      redis.resume()
    }
    await until('the quiet gateway learns the decision once Redis is back', () => quiet.guard.rolledBack, 8000)
    const winner = status(quiet).decision.by as string
    assert.ok(winner === 'gw-a' || winner === 'gw-b', winner)
    // Both deciders wrote or found the fleet's decision; the one that came second shows the winner's.
    await until('A and B have shared their decisions', () => status(a).redis.shared && status(b).redis.shared, 5000)
    const loser = winner === 'gw-a' ? b : a
    assert.equal(status(loser).decision.decided, 'here')
    assert.equal(status(loser).fleetDecision.by, winner)
    for (const g of [a, b, quiet]) g.guard.close()
    assert.deepEqual(rejections, [])
  })

  it('Redis stopped: a gateway started during the outage judges locally, and its decision is written when Redis is back', async () => {
    const ramp = newRamp()
    const connA = await connection()
    const connB = await connection()
    await redis.stop()
    try {
      await until('the connections see Redis down', () => connA.state !== 'ready' && connB.state !== 'ready', 5000)
      const a = gateway('gw-a', connA, ramp)
      const b = gateway('gw-b', connB, ramp)
      traffic(a, true)
      assert.equal(a.guard.rolledBack, true)
      assert.equal(status(a).decision.decided, 'here')
      assert.equal(status(a).redis.mode, 'local')
      assert.match(status(a).redis.reason, /^redis (down|connecting)$/)
      assert.equal(b.guard.rolledBack, false)
      await redis.restart()
      await until('B rolls back once Redis is back', () => b.guard.rolledBack, 8000)
      assert.equal(status(b).decision.by, 'gw-a')
      assert.equal(status(a).redis.shared, true)
      a.guard.close()
      b.guard.close()
    } finally {
      if (!redis.running) await redis.restart()
    }
    assert.deepEqual(rejections, [])
  })

  it('close() stops the poll: a closed guard does not learn a later decision', async () => {
    const ramp = newRamp()
    const a = gateway('gw-a', await connection(), ramp)
    // Polling from the same moment: the control goes on, the other is closed.
    const control = gateway('gw-b', await connection(), ramp)
    const closed = gateway('gw-c', await connection(), ramp)
    closed.guard.close()
    traffic(a, true)
    await until('the control learns A\'s decision', () => control.guard.rolledBack, 2000)
    assert.equal(closed.guard.rolledBack, false)
    a.guard.close()
    control.guard.close()
  })
})
