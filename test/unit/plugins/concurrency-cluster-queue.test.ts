// The wait queue of a cluster-scope concurrency limit (cluster-queue.ts), with
// the Redis acquire replaced by a function the test answers by hand: one
// acquire in flight per key however many wait, an admission goes to the
// oldest waiter still there (or is given back), a permit freed here is tried
// for at once, a late admission is given back, the failure policy decides
// while Redis fails, the queue is bounded in size and time. The Redis side is
// covered against a real redis-server in test/integration/concurrency-limit-cluster-queue.test.ts.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { RequestContext } from '../../../gateway/proxy/request-context.js'
import { ClusterQueue, type Waiter } from '../../../plugins/concurrency-limit/cluster-queue.js'
import { limitStats } from '../../../plugins/limit-common/metrics.js'
import { RedisMode } from '../../../plugins/limit-common/redis-mode.js'
import type { AccessResult, RedisConnection } from '../../../plugins/types.js'
import { until } from '../../helpers/until.js'

interface Call { key: string; id: string; answer(admitted: boolean): void; fail(): void }

function setup (opts: { size?: number; timeout?: number; attemptTimeout?: number; fallback?: (w: Waiter) => boolean } = {}) {
  const calls: Call[] = []
  const log: string[] = []
  const conn = { state: 'ready', keyPrefix: '', onStateChange: () => () => {} } as unknown as RedisConnection
  const mode = new RedisMode({ redis: conn, policy: 'local', logger: pino({ level: 'silent' }), stats: limitStats(new Registry(), 'r', 'c') })
  let n = 0
  const q = new ClusterQueue({
    size: opts.size ?? 10,
    timeout: opts.timeout ?? 10_000,
    attemptTimeout: opts.attemptTimeout ?? 10_000,
    mode,
    acquire: async (key, id) => await new Promise((resolve, reject) => {
      calls.push({ key, id, answer: (admitted) => resolve(admitted ? 1 : 0), fail: () => reject(new Error('boom')) })
    }),
    giveBack: (_key, id) => { log.push(`given back ${id}`) },
    newId: () => `id${++n}`,
    host: {
      admitted: (w, id) => { log.push(`${name(w)} admitted ${id}`); w.resolve(undefined) },
      fallback: (w) => {
        const decided = opts.fallback?.(w) ?? true
        if (decided) log.push(`${name(w)} fallback`)
        return decided
      },
      expired: (w) => { log.push(`${name(w)} expired`); w.resolve({ status: 503 } as AccessResult) }
    }
  })
  const join = (who: string, key = 'k'): Waiter | undefined =>
    q.join({ requestId: who } as unknown as RequestContext, `p:${key}`, key, () => {})
  return { q, calls, log, mode, join }
}

function name (w: Waiter): string {
  return (w.ctx as unknown as { requestId: string }).requestId
}

/** Lets the promise callbacks of an answered acquire run. */
const settle = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

test('one acquire in flight per key however many wait; an admission goes to the oldest waiter, and the next is tried at once', async () => {
  const { q, calls, log, join } = setup()
  join('a')
  join('b')
  join('c')
  join('x', 'other')
  assert.equal(q.waiting, 4)
  // nothing sent until the poll: they were just refused
  assert.equal(calls.length, 0)
  await until('first poll of each key', () => calls.length === 2)
  await settle()
  assert.deepEqual(calls.map((c) => c.key).sort(), ['p:k', 'p:other'], 'one per key')
  const k = calls.find((c) => c.key === 'p:k')!
  k.answer(true)
  await settle()
  assert.deepEqual(log, [`a admitted ${k.id}`])
  assert.equal(calls.length, 3, 'the next waiter of k tried at once (more permits may be free)')
  calls[2]!.answer(false)
  await settle()
  assert.equal(calls.length, 3, 'refused: nothing more until the poll')
  await until('polled again', () => calls.length === 4)
  assert.equal(q.waiting, 3)
})

test('a permit freed here: tried for at once; during an acquire in flight, again right after its refusal', async () => {
  const { calls, log, join, q } = setup()
  join('a')
  q.wake('k')
  assert.equal(calls.length, 1, 'woken: sent now, not at the poll')
  q.wake('k')
  assert.equal(calls.length, 1, 'still one in flight')
  calls[0]!.answer(false)
  await settle()
  assert.equal(calls.length, 2, 'the refusal may predate the release: tried again at once')
  calls[1]!.answer(true)
  await settle()
  assert.deepEqual(log, ['a admitted id2'])
  assert.equal(q.has('k'), false, 'key forgotten')
})

test('a waiter that leaves while its acquire is in flight: the admission goes to the next one, or is given back', async () => {
  const { calls, log, join, q } = setup()
  const a = join('a')!
  join('b')
  q.wake('k')
  a.release()
  calls[0]!.answer(true)
  await settle()
  assert.deepEqual(log, ['b admitted id1'])
  const c = join('c')!
  q.wake('k')
  c.release()
  assert.equal(q.waiting, 0)
  calls[1]!.answer(true)
  await settle()
  assert.deepEqual(log, ['b admitted id1', 'given back id2'])
  assert.equal(q.has('k'), false)
})

test('an acquire past its timeout: the failure policy decides for the waiters; its late admission is given back', async () => {
  const { calls, log, join, q, mode } = setup({ attemptTimeout: 30 })
  join('a')
  join('b')
  q.wake('k')
  await until('the policy decided', () => log.length === 2)
  assert.deepEqual(log, ['a fallback', 'b fallback'])
  assert.equal(mode.mode, 'local')
  calls[0]!.answer(true)
  await settle()
  assert.deepEqual(log, ['a fallback', 'b fallback', 'given back id1'])
})

test('a failed acquire: the policy decides; a local fallback that is full keeps them waiting, in order', async () => {
  let room = 0
  const { calls, log, join, q } = setup({ fallback: () => room-- > 0 })
  join('a')
  join('b')
  q.wake('k')
  calls[0]!.fail()
  await settle()
  assert.deepEqual(log, [], 'no local permit: still waiting')
  assert.equal(q.waiting, 2)
  room = 1
  q.wake('k')
  assert.deepEqual(log, ['a fallback'], 'the oldest first')
  assert.equal(calls.length, 1, 'Redis not tried while it fails (until the probe is due)')
})

test('bounded: a full key refuses to queue; a wait past the timeout expires', async () => {
  const { join, log, q, calls } = setup({ size: 2, timeout: 40 })
  assert.ok(join('a'))
  assert.ok(join('b'))
  assert.equal(join('c'), undefined, 'full')
  assert.ok(join('d', 'other'), 'per key')
  await until('expired', () => log.length === 3)
  assert.deepEqual(log.sort(), ['a expired', 'b expired', 'd expired'])
  assert.equal(q.waiting, 0)
  for (const c of calls) c.answer(true)
  await settle()
  assert.equal(q.has('k'), false, 'forgotten once its last acquire answered')
  assert.equal(log.filter((l) => l.startsWith('given back')).length, calls.length, 'admitted after everyone left: given back')
})
