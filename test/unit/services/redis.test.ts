// Pure parts of the shared Redis connection: the reconnect backoff, when a
// silent connection is taken for dead, and when a plugin instance must be
// created again because a service it read changed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isStale, type Services } from '../../../gateway/services/plugin-services.js'
import { backoff, deadAfter, type RedisService } from '../../../gateway/services/redis.js'

test('backoff: exponential from min, capped at max, jittered but never outside [min, max]', () => {
  const delay = backoff(50, 2000)
  for (let attempt = 1; attempt <= 40; attempt++) {
    const cap = Math.min(2000, 50 * 2 ** (attempt - 1))
    for (let i = 0; i < 50; i++) {
      const d = delay(attempt)
      assert.ok(d >= 50 && d <= cap, `attempt ${attempt}: ${d} outside [50, ${cap}]`)
    }
  }
  assert.equal(delay(1), 50)
  const late = new Set(Array.from({ length: 50 }, () => delay(20)))
  assert.ok(late.size > 1, 'jittered')
})

test('deadAfter: ten command timeouts, at least 500 ms', () => {
  assert.equal(deadAfter(50), 500)
  assert.equal(deadAfter(20), 500)
  assert.equal(deadAfter(200), 2000)
})

test('isStale: only a service the instance read, and that changed, makes it stale', () => {
  const a = {} as RedisService
  const b = {} as RedisService
  const now: Services = { redis: b, nodeId: 'n1' }
  assert.equal(isStale({}, now), false, 'read nothing')
  assert.equal(isStale({ redis: b }, now), false)
  assert.equal(isStale({ redis: a }, now), true)
  assert.equal(isStale({ redis: undefined }, now), true, 'read "no Redis", now there is one')
  assert.equal(isStale({ nodeId: 'n1' }, now), false)
  assert.equal(isStale({ nodeId: 'n0' }, now), true)
  assert.equal(isStale({ redis: a }, { redis: a, nodeId: 'n2' }), false, 'a node id it never read')
})
