// Token accounting of a cluster-scope rate limit against a real redis-server:
// the take/give scripts (redis-store.ts), the leases spending blocks in memory
// (lease-table.ts: single flight, exhausted windows refused locally, idle
// tokens given back, the deadline, what a lease spent in its window for the
// local fallback), and the key namespace (store-keys.ts).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { RedisService } from '../../../gateway/services/redis.js'
import { ADMIT, FETCH, LeaseTable, REJECT, UNAVAILABLE, type Grant, type LeaseHooks, type TokenStore } from '../../../plugins/rate-limit/lease-table.js'
import type { RateLimitOptions } from '../../../plugins/rate-limit/options.js'
import { RedisTokenStore } from '../../../plugins/rate-limit/redis-store.js'
import { definitionHash, storeKeys } from '../../../plugins/rate-limit/store-keys.js'
import { redisConnection } from '../../helpers/redis-connection.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'
import { until } from '../../helpers/until.js'
import { clearOfWindowEdge } from '../../helpers/window-edge.js'

let redis: RedisServer
let conn: RedisService
let n = 0

before(async () => {
  redis = await startRedisServer()
  conn = await redisConnection(redis, { keyPrefix: 'lt:' })
})
after(async () => {
  conn.close()
  await redis.stop()
})

/** A fresh base key per test. */
const base = (): string => `lt:test:${++n}`

/** Counts takes and gives on the way to Redis. */
class CountingStore implements TokenStore {
  takes = 0
  gives = 0
  inflight = 0
  maxInflight = 0
  constructor (readonly inner: RedisTokenStore) {}
  get limit (): number { return this.inner.limit }
  get windowMs (): number { return this.inner.windowMs }
  async take (key: string, want: number): Promise<Grant> {
    this.takes++
    this.maxInflight = Math.max(this.maxInflight, ++this.inflight)
    try {
      return await this.inner.take(key, want)
    } finally {
      this.inflight--
    }
  }

  give (key: string, window: number, k: number): Promise<unknown> {
    this.gives++
    return this.inner.give(key, window, k)
  }
}

function hooks (nodes = 1): LeaseHooks & { failures: string[], successes: number } {
  const h = {
    failures: [] as string[],
    successes: 0,
    succeeded () { h.successes++ },
    failed (why: string) { h.failures.push(why) },
    nodes: () => nodes
  }
  return h
}

async function counter (key: string, window: number): Promise<number> {
  return Number(await conn.client.get(`${key}:${window}`) ?? 0)
}

test('take: a block crossing the limit gets exactly what was left, the counter stays at the limit; give only into its own window', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const store = new RedisTokenStore(conn.client, 10, 60_000)
  const key = base()
  const a = await store.take(key, 6)
  assert.equal(a.granted, 6)
  assert.equal(a.remaining, 4)
  assert.ok(a.msLeft > 0 && a.msLeft <= 60_000)
  const b = await store.take(key, 6)
  assert.equal(b.granted, 4, 'limit − previous count')
  assert.equal(b.remaining, 0)
  assert.equal(b.window, a.window)
  assert.equal(await counter(key, a.window), 10, 'never above the limit, so tokens given back are usable')
  assert.equal((await store.take(key, 1)).granted, 0)
  await store.give(key, a.window, 3)
  assert.equal(await counter(key, a.window), 7)
  assert.equal((await store.take(key, 5)).granted, 3)
  assert.equal(await store.give(key, a.window - 1, 5), -1, 'a window that has ended is never credited')
  assert.equal(await conn.client.exists(`${key}:${a.window - 1}`), 0)
  const ttl = await conn.client.pttl(`${key}:${a.window}`)
  assert.ok(ttl > 0 && ttl <= 120_000, `expires one window after its end (${ttl})`)
})

test('leases: one fetch at a time per key; never more than the limit in total; an exhausted window is refused without Redis', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const store = new CountingStore(new RedisTokenStore(conn.client, 100, 60_000))
  const key = base()
  // A block is sized from the key's local rate, measured on the table's clock:
  // one that moves 1 ms per request makes it 1/ms whatever this machine's speed.
  let clock = Date.now()
  const table = new LeaseTable(store, { storeKey: () => key, hooks: hooks(1), now: () => clock })
  try {
    let admitted = 0
    let rejected = 0
    const decide = async (): Promise<void> => {
      const now = ++clock
      let r = table.spend('k', now)
      if (r === FETCH) r = await table.acquire('k', now + 1000, () => true)
      if (r === ADMIT) admitted++
      else if (r === REJECT) rejected++
      else assert.fail(`unexpected ${r}`)
    }
    // 300 requests in waves of 30 concurrent ones.
    for (let wave = 0; wave < 10; wave++) await Promise.all(Array.from({ length: 30 }, decide))
    assert.equal(admitted, 100)
    assert.equal(rejected, 200)
    assert.equal(store.maxInflight, 1, 'single flight')
    assert.ok(store.takes < 60, `blocks, not a round trip per request (${store.takes} takes)`)
    assert.ok(table.lastBlock <= 25, 'block ≤ limit / (4 × nodes)')
    const takes = store.takes
    for (let i = 0; i < 50; i++) assert.equal(table.spend('k', ++clock), REJECT)
    assert.equal(store.takes, takes, 'no Redis call per refused request')
  } finally {
    table.close()
  }
})

test('two gateways on one counter: together exactly the limit', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const key = base()
  const tables = [1, 2].map(() => new LeaseTable(new RedisTokenStore(conn.client, 200, 60_000), { storeKey: () => key, hooks: hooks(2) }))
  try {
    let admitted = 0
    const decide = async (t: LeaseTable): Promise<void> => {
      const now = Date.now()
      let r = t.spend('k', now)
      if (r === FETCH) r = await t.acquire('k', now + 1000, () => true)
      if (r === ADMIT) admitted++
    }
    for (let wave = 0; wave < 20; wave++) await Promise.all(Array.from({ length: 40 }, (_, i) => decide(tables[i % 2]!)))
    assert.equal(admitted, 200)
    assert.ok(tables.every((t) => t.lastBlock <= 25), 'block ≤ 200 / (4 × 2)')
  } finally {
    for (const t of tables) t.close()
  }
})

test('idle leases give their tokens back; leases idle a window past their end are dropped', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const HOUR = 3_600_000
  const store = new CountingStore(new RedisTokenStore(conn.client, 1000, HOUR))
  const key = base()
  // The table's clock moves 1 ms per request: a local rate of 1/ms, blocks of about 50 (blockMs).
  let clock = Date.now()
  const table = new LeaseTable(store, { storeKey: () => key, hooks: hooks(1), idleMs: 60_000, now: () => clock })
  try {
    // Warm the rate estimate so that a block is more than one token.
    for (let i = 0; i < 40; i++) {
      const now = ++clock
      if (table.spend('k', now) === FETCH) assert.equal(await table.acquire('k', now + 1000, () => true), ADMIT)
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
    }
    const held = table.held()
    assert.ok(held > 0, 'tokens in hand')
    const window = Math.floor(Date.now() / HOUR)
    const before = await counter(key, window)
    assert.equal(before, 40 + held)
    table.sweep(clock + 30_000)
    assert.equal(table.held(), held, 'not idle yet')
    table.sweep(clock + 60_000)
    assert.equal(table.held(), 0)
    await until('given back', async () => await counter(key, window) === 40)
    assert.equal(store.gives, 1)
    table.sweep(clock + 3 * HOUR)
    assert.equal(table.leases.size, 0, 'dropped')
  } finally {
    table.close()
  }
})

test('deadline: a frozen Redis costs a request at most its deadline, then UNAVAILABLE; a late answer still brings its tokens', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const store = new CountingStore(new RedisTokenStore(conn.client, 100, 60_000))
  const key = base()
  const h = hooks(1)
  const table = new LeaseTable(store, { storeKey: () => key, hooks: h })
  redis.pause()
  try {
    const t0 = performance.now()
    const now = Date.now()
    assert.equal(table.spend('k', now), FETCH)
    const results = await Promise.all([
      table.acquire('k', now + 20, () => true),
      table.acquire('k', now + 25, () => true)
    ])
    const waited = performance.now() - t0
    assert.deepEqual(results, [UNAVAILABLE, UNAVAILABLE])
    assert.ok(waited < 20 + 30, `waited ${waited.toFixed(1)} ms`)
    assert.equal(store.takes, 1, 'the second request joined the first fetch')
    assert.equal(h.failures.length, 1)
    // The budget is the deadline less the time the fetch was sent (a ms after `now` if the clock ticked in between).
    const budget = Number(/no answer within (\d+)ms/.exec(h.failures[0]!)?.[1])
    assert.ok(budget >= 18 && budget <= 20, h.failures[0])
  } finally {
    redis.resume()
  }
  await until('late answer', () => store.inflight === 0, 3000)
  assert.equal(h.successes, 0, 'a late answer does not count as Redis being healthy')
  assert.equal(table.held(), 1, 'its token is in hand')
  assert.equal(table.spend('k', Date.now()), ADMIT)
  table.close()
})

test('what the local fallback admitted is charged with the next block (a window\'s worth at most)', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const store = new RedisTokenStore(conn.client, 100, 60_000)
  const key = base()
  const table = new LeaseTable(store, { storeKey: () => key, hooks: hooks(1) })
  try {
    const now = Date.now()
    assert.equal(table.spend('k', now), FETCH)
    for (let i = 0; i < 30; i++) table.owe('k', now)
    assert.equal(await table.acquire('k', now + 1000, () => true), ADMIT)
    const window = Math.floor(Date.now() / 60_000)
    assert.equal(await counter(key, window), 31, 'the block (1) and the 30 admitted locally')
    assert.equal(table.remaining, 69)
  } finally {
    table.close()
  }
  // A window already used up: the debt it could not absorb goes to the next block, once.
  const key3 = base()
  const full = new LeaseTable(store, { storeKey: () => key3, hooks: hooks(1) })
  try {
    const window = Math.floor(Date.now() / 60_000)
    await conn.client.set(`${key3}:${window}`, 95, 'PX', 60_000)
    const now = Date.now()
    assert.equal(full.spend('k', now), FETCH)
    for (let i = 0; i < 8; i++) full.owe('k', now)
    assert.equal(await full.acquire('k', now + 1000, () => true), REJECT, '5 left: all of them pay the debt')
    assert.equal(await counter(key3, window), 100)
    await conn.client.set(`${key3}:${window}`, 0, 'KEEPTTL')
    full.leases.get('k')!.end = 0 // as if the window had ended
    assert.equal(full.spend('k', Date.now()), FETCH)
    assert.equal(await full.acquire('k', Date.now() + 1000, () => true), ADMIT)
    assert.equal(await counter(key3, window), 3 + full.lastBlock, 'the 3 not absorbed, then the block')
  } finally {
    full.close()
  }
  // Debt older than a window is forgiven: an outage does not block the windows after it.
  let clock = Date.now()
  const key2 = base()
  const stale = new LeaseTable(store, { storeKey: () => key2, hooks: hooks(1), now: () => clock })
  try {
    assert.equal(stale.spend('k', clock), FETCH)
    for (let i = 0; i < 5; i++) stale.owe('k', clock)
    clock += 61_000
    assert.equal(stale.spend('k', clock), FETCH)
    assert.equal(await stale.acquire('k', clock + 1000, () => true), ADMIT)
    assert.equal(await counter(key2, Math.floor(Date.now() / 60_000)), stale.lastBlock, 'only the block')
  } finally {
    stale.close()
  }
})

test('unreported: the tokens spent from a lease in its window, each reported once; tokens given back are not spent; 0 once the window has ended', async () => {
  await clearOfWindowEdge(60_000, 15_000)
  const HOUR = 3_600_000
  const key = base()
  // 1 ms per request on the table's clock: blocks of about 50, so tokens stay in hand.
  let clock = Date.now()
  const table = new LeaseTable(new RedisTokenStore(conn.client, 1000, HOUR), { storeKey: () => key, hooks: hooks(1), idleMs: 60_000, now: () => clock })
  try {
    const decide = async (): Promise<void> => {
      const now = ++clock
      if (table.spend('k', now) === FETCH) assert.equal(await table.acquire('k', now + 1000, () => true), ADMIT)
    }
    for (let i = 0; i < 40; i++) {
      await decide()
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
    }
    assert.ok(table.held() > 0, 'tokens in hand (not spent)')
    assert.equal(table.unreported('k', clock), 40)
    const left = table.windowLeftMs
    assert.ok(left > 0 && left <= HOUR, `ms left in the window (${left})`)
    assert.equal(table.unreported('k', clock), 0, 'reported once')
    table.sweep(clock + 60_000)
    assert.equal(table.held(), 0, 'given back')
    for (let i = 0; i < 3; i++) await decide()
    assert.equal(table.unreported('k', clock), 3, 'only the new ones; the tokens given back were not spent')
    assert.equal(table.unreported('other', clock), 0, 'no lease')
    await decide()
    assert.equal(table.unreported('k', table.leases.get('k')!.end), 0, 'the window has ended')
  } finally {
    table.close()
  }
})

test('key namespace: a hash of what the counts mean; route or *; long values hashed; a hash tag per key', () => {
  const o: RateLimitOptions = { rate: 10, window: 1000, burst: 0, key: ['ip'], scope: 'cluster', onRedisFailure: 'local', timeout: 10, headers: false }
  const h = definitionHash(o)
  assert.match(h, /^[0-9a-f]{8}$/)
  assert.equal(definitionHash({ ...o, headers: true, timeout: 20, onRedisFailure: 'open', name: 'x' }), h, 'options that do not change the counts keep them')
  for (const changed of [{ rate: 11 }, { window: 2000 }, { burst: 1 }, { key: ['route'] }]) {
    assert.notEqual(definitionHash({ ...o, ...changed }), h, JSON.stringify(changed))
  }
  const k = storeKeys('gw:', 'orders', h)
  assert.equal(k('10.0.0.1', 'rate'), `gw:rate-limit:{orders:${h}:rate:10.0.0.1}`)
  assert.equal(storeKeys('gw:', undefined, h)('', 'burst'), `gw:rate-limit:{*:${h}:burst:}`)
  const long = k('x'.repeat(65), 'rate')
  assert.match(long, new RegExp(`^gw:rate-limit:\\{orders:${h}:rate:[A-Za-z0-9_-]{43}\\}$`))
})
