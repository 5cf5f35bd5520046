// The Redis mode of a cluster-scope limit (limit-common/redis-mode.ts) and the
// learned count of live gateways, against a real redis-server: the mode follows
// the connection and failed commands, each change logged once; the heartbeat
// counts the gateways; the metrics show the mode.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { RedisService } from '../../../gateway/services/redis.js'
import { limitStats } from '../../../plugins/limit-common/metrics.js'
import { expectedNodes, liveNodes, RedisMode } from '../../../plugins/limit-common/redis-mode.js'
import { metric } from '../../helpers/metrics.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'
import { until } from '../../helpers/until.js'

let redis: RedisServer

before(async () => { redis = await startRedisServer() })
after(async () => { await redis.stop() })

function capture (): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    }
  })
  return { logger: pino({ level: 'debug' }, sink), lines }
}

function connect (logger: Logger): RedisService {
  return new RedisService({
    mode: 'standalone',
    endpoints: [{ host: '127.0.0.1', port: redis.port }],
    tls: false,
    db: 0,
    keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:`,
    commandTimeout: 50,
    connectTimeout: 1000,
    reconnect: { min: 20, max: 100 }
  }, 'k', { logger })
}

function modeLogs (lines: Array<Record<string, unknown>>): unknown[] {
  return lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('limit: ')).map((l) => l.mode)
}

test('the mode follows the connection: shared while ready, the policy while down, shared again after a restart; each change logged once', async () => {
  const { logger, lines } = capture()
  const conn = connect(logger)
  const registry = new Registry()
  const stats = limitStats(registry, 'r1', 'rate-limit')
  try {
    await until('ready', () => conn.state === 'ready')
    const mode = new RedisMode({ redis: conn, policy: 'local', logger, stats })
    assert.equal(mode.mode, 'shared')
    assert.equal(mode.tryRedis(), true)
    assert.equal(metric(await registry.metrics(), 'gateway_limit_redis_mode', { route: 'r1', limit: 'rate-limit' }), 0)

    await redis.stop()
    await until('down', () => mode.mode === 'local')
    assert.equal(mode.tryRedis(), false, 'no command while down')
    assert.equal(metric(await registry.metrics(), 'gateway_limit_redis_mode', { route: 'r1', limit: 'rate-limit' }), 1)

    await redis.restart()
    await until('shared again', () => mode.mode === 'shared', 5000)
    assert.deepEqual(modeLogs(lines), ['local', 'shared'], 'one line per change, none per reconnect attempt')
    mode.close()
    assert.equal(metric(await registry.metrics(), 'gateway_limit_redis_mode', { route: 'r1', limit: 'rate-limit' }), undefined,
      'no sample once no instance holds the limit')
  } finally {
    conn.close()
  }
})

test('a failed command while ready: the fallback (logged once), one probe per retryAfter, shared again when a probe answers', async () => {
  const { logger, lines } = capture()
  const conn = connect(logger)
  let now = 1000
  try {
    await until('ready', () => conn.state === 'ready')
    const mode = new RedisMode({ redis: conn, policy: 'closed', logger, stats: limitStats(new Registry(), undefined, 'x'), retryAfter: 100, now: () => now })
    for (let i = 0; i < 50; i++) mode.failed('timed out')
    assert.equal(mode.mode, 'closed')
    assert.match(mode.reason, /command failed: timed out/)
    assert.equal(mode.tryRedis(), false, 'within retryAfter: straight to the fallback')
    now += 100
    assert.equal(mode.tryRedis(), true, 'one probe')
    assert.equal(mode.tryRedis(), false, 'only one')
    mode.failed('timed out')
    now += 99
    assert.equal(mode.tryRedis(), false)
    now += 1
    assert.equal(mode.tryRedis(), true)
    mode.succeeded()
    assert.equal(mode.mode, 'shared')
    assert.equal(mode.tryRedis(), true)
    mode.succeeded()
    assert.deepEqual(modeLogs(lines), ['closed', 'shared'])
    mode.close()
  } finally {
    conn.close()
  }
})

test('a mode created while Redis is down starts in the policy; a closed one ignores later changes', async () => {
  const { logger, lines } = capture()
  const conn = connect(logger)
  try {
    const mode = new RedisMode({ redis: conn, policy: 'open', logger, stats: limitStats(new Registry(), 'r', 'x') })
    if (conn.state !== 'ready') assert.equal(mode.mode, 'open')
    mode.close()
    await until('ready', () => conn.state === 'ready')
    assert.notEqual(mode.mode, 'shared')
    assert.deepEqual(modeLogs(lines), [])
  } finally {
    conn.close()
  }
})

test('liveNodes: every gateway heartbeats its id; the count is learned, shared per node id, and drops when one leaves', async () => {
  const { logger } = capture()
  const a = connect(logger)
  const b = new RedisService({
    mode: 'standalone', endpoints: [{ host: '127.0.0.1', port: redis.port }], tls: false, db: 0,
    keyPrefix: a.keyPrefix, commandTimeout: 50, connectTimeout: 1000, reconnect: { min: 20, max: 100 }
  }, 'k', { logger })
  try {
    await until('ready', () => a.state === 'ready' && b.state === 'ready')
    const n1 = liveNodes(a, 'gw-1')
    const n1bis = liveNodes(a, 'gw-1')
    assert.equal(expectedNodes(undefined, n1), 1, 'never learned: 1')
    assert.equal(expectedNodes(4, n1), 4, 'configured wins')
    const n2 = liveNodes(b, 'gw-2')
    await until('two gateways learned', () => n1.count === 2 && n2.count === 2, 5000)
    assert.equal(n1bis.count, 2, 'one heartbeat per connection and node id')
    n2.release()
    n2.release()
    await until('one gateway left', () => n1.count === 1, 5000)
    // Redis gone: the last count stays (the local fallback divides by it).
    a.close()
    assert.equal(n1.count, 1)
    n1.release()
    n1bis.release()
  } finally {
    a.close()
    b.close()
  }
})
