// The `local` fallback of a cluster-scope rate limit against a real
// redis-server: in the window in which Redis goes away, a gateway admits only
// what is left of its local share once the tokens it already spent through
// Redis in that window are counted (rate, and the burst bucket); in the next
// window, its full local share. Tokens still in hand when Redis goes (Redis
// granted them, at most a block) are spent whatever the mode: so in the window
// of the outage a gateway admits the larger of its local share and what Redis
// had granted it, never the sum.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { RedisService } from '../../../gateway/services/redis.js'
import { limitStats } from '../../../plugins/limit-common/metrics.js'
import { ClusterLimit, type ClusterLimitOptions } from '../../../plugins/rate-limit/cluster-limit.js'
import { ADMIT } from '../../../plugins/rate-limit/lease-table.js'
import { redisConnection } from '../../helpers/redis-connection.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'
import { until } from '../../helpers/until.js'
import { clearOfWindowEdge } from '../../helpers/window-edge.js'

const logger = pino({ level: 'silent' }, new Writable({ write (_c, _e, cb) { cb() } }))
let redis: RedisServer
let conn: RedisService
let n = 0

before(async () => {
  redis = await startRedisServer()
  conn = await redisConnection(redis, { keyPrefix: 'fb:', logger })
})
after(async () => {
  conn.close()
  await redis.stop()
})

/** A cluster limit of its own (fresh Redis keys) shared by `expectedNodes` gateways. */
function clusterLimit (o: Partial<ClusterLimitOptions>): ClusterLimit {
  const base = `fb:test:${++n}`
  return new ClusterLimit({
    rate: 40,
    windowMs: 60_000,
    burst: 0,
    burstWindowMs: 60_000,
    timeout: 20,
    policy: 'local',
    expectedNodes: 2,
    storeKey: (key, bucket) => `${base}:${bucket}:${key}`,
    localPrefix: base,
    ...o
  }, { redis: conn, nodeId: `node-${n}`, logger, stats: limitStats(new Registry(), `r${n}`, 'rate-limit') })
}

/** `count` requests of `key` one after the other: how many were admitted. */
async function admitted (limit: ClusterLimit, key: string, count: number): Promise<number> {
  let ok = 0
  for (let i = 0; i < count; i++) {
    const r = limit.check(key)
    if ((typeof r === 'number' ? r : (await r).r) === ADMIT) ok++
  }
  return ok
}

/** Redis window index of `windowMs` now (same machine, same clock). */
const windowOf = (windowMs: number): number => Math.floor(Date.now() / windowMs)

async function restartRedis (): Promise<void> {
  if (!redis.running) await redis.restart()
  await until('ready again', () => conn.state === 'ready', 5000)
}

test('local fallback: in the window Redis goes away, only what is left of the local share once the tokens spent through Redis are counted; the next window, the full share', async () => {
  const windowMs = 2000
  // rate 40 over 2 gateways: a local share of 20 per window.
  const limit = clusterLimit({ rate: 40, windowMs })
  try {
    await clearOfWindowEdge(windowMs, 1500)
    const w = windowOf(windowMs)
    assert.equal(limit.mode.mode, 'shared')
    assert.equal(await admitted(limit, 'a', 15), 15, '15 through Redis on key a')
    assert.equal(await admitted(limit, 'b', 22), 22, '22 through Redis on key b (more than the local share)')
    const inHand = limit.main.leases.get('b')!.tokens

    await redis.stop()
    await until('local mode', () => limit.mode.mode === 'local', 3000)
    const a = await admitted(limit, 'a', 30)
    const b = await admitted(limit, 'b', 30)
    const c = await admitted(limit, 'c', 30)
    assert.equal(windowOf(windowMs), w, 'still the window of the outage (test timing)')
    assert.equal(a, 20 - 15, 'key a: the rest of its local share (tokens in hand included)')
    assert.ok(b <= inHand, `key b: spent more than the local share through Redis; only the ${inHand} tokens in hand (${b})`)
    assert.equal(c, 20, 'key c: nothing spent through Redis, the whole local share')

    await until('the next window', () => windowOf(windowMs) > w, windowMs + 1000)
    assert.equal(await admitted(limit, 'a', 30), 20, 'the next window: the full local share')
    assert.equal(await admitted(limit, 'b', 30), 20)
  } finally {
    limit.close()
    await restartRedis()
  }
})

test('local fallback, burst bucket: the burst tokens spent through Redis count against the local burst share (Redis frozen: commands time out)', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  // rate 4, burst 40 over 2 gateways: local shares of 2 and 20.
  const limit = clusterLimit({ rate: 4, burst: 40, windowMs: 60_000, burstWindowMs: 60_000 })
  try {
    assert.equal(await admitted(limit, 'k', 4 + 12), 4 + 12, 'the rate, then 12 from the burst bucket, through Redis')
    assert.equal(limit.remaining, 0)

    redis.pause()
    const after = await admitted(limit, 'k', 40)
    assert.equal(limit.mode.mode, 'local')
    assert.equal(after, 20 - 12, 'the rest of the local burst share')
  } finally {
    limit.close()
    redis.resume()
    await restartRedis()
  }
})

test('local fallback, two outages in one window: the second counts what was spent through Redis in between, on top of what the first admitted', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  // rate 40 over 2 gateways: a local share of 20.
  const limit = clusterLimit({ rate: 40, windowMs: 60_000 })
  try {
    assert.equal(await admitted(limit, 'k', 5), 5, 'through Redis')
    await redis.stop()
    await until('local mode', () => limit.mode.mode === 'local', 3000)
    assert.equal(await admitted(limit, 'k', 5), 5, 'in the fallback (or from the tokens in hand)')
    await restartRedis()
    await until('shared mode', () => limit.mode.mode === 'shared', 3000)
    assert.equal(await admitted(limit, 'k', 6), 6, 'through Redis again')
    await redis.stop()
    await until('local mode again', () => limit.mode.mode === 'local', 3000)
    assert.equal(await admitted(limit, 'k', 30), 20 - 5 - 5 - 6, 'the rest of the local share')
  } finally {
    limit.close()
    await restartRedis()
  }
})
