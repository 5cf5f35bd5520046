// The in-memory permit count of concurrency-limit (node scope, and the local
// fallback of cluster scope): accounting per key, hand-over to the oldest
// waiter, a waiter giving up or expiring, keys forgotten at zero.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LocalPermits, Waiter, type KeyCount, type WaitHooks } from '../../../plugins/concurrency-limit/local-permits.js'
import { until } from '../../helpers/until.js'

function hooks (): WaitHooks & { granted: WaitHooks['granted']; log: string[] } {
  const log: string[] = []
  return {
    log,
    granted (w: Waiter, c: KeyCount) { log.push(`granted ${String(w.data)} ${c.key}`); w.resolve(undefined) },
    expired (w: Waiter) { log.push(`expired ${String(w.data)}`); w.resolve('refused') }
  }
}

test('at most max per key; keys are independent; a key is forgotten at zero', () => {
  const p = new LocalPermits(2, 0, 0)
  const a1 = p.tryAcquire('a')!
  const a2 = p.tryAcquire('a')!
  assert.equal(p.tryAcquire('a'), undefined)
  const b1 = p.tryAcquire('b')!
  assert.equal(p.held, 3)
  assert.equal(p.keys, 2)
  a1.release()
  assert.ok(p.tryAcquire('a'))
  a2.release()
  a1.release()
  b1.release()
  assert.equal(p.held, 0)
  assert.equal(p.keys, 0)
})

test('a released permit goes to the oldest waiter (the count does not drop in between); queue bounded', () => {
  const h = hooks()
  const p = new LocalPermits(1, 2, 10_000)
  const held = p.tryAcquire('k')!
  const w1 = new Waiter(h, () => {}, 'w1')
  const w2 = new Waiter(h, () => {}, 'w2')
  assert.equal(p.enqueue('k', w1), true)
  assert.equal(p.enqueue('k', w2), true)
  assert.equal(p.enqueue('k', new Waiter(h, () => {}, 'w3')), false, 'queue full')
  assert.equal(p.waiting, 2)
  held.release()
  assert.deepEqual(h.log, ['granted w1 k'])
  assert.equal(p.held, 1)
  assert.equal(p.tryAcquire('k'), undefined, 'no barging in at the hand-over')
  w2.release() // gave up
  assert.equal(p.waiting, 0)
  held.release() // w1's permit, handed over
  assert.equal(p.held, 0)
  assert.equal(p.keys, 0)
})

test('a waiter still queued at the timeout expires; a late give-up does nothing', async () => {
  const h = hooks()
  const p = new LocalPermits(1, 1, 30)
  const held = p.tryAcquire('k')!
  let result: unknown
  const w = new Waiter(h, (v) => { result = v }, 'w')
  p.enqueue('k', w)
  await until('expired', () => h.log.length === 1)
  assert.deepEqual(h.log, ['expired w'])
  assert.equal(result, 'refused')
  assert.equal(p.waiting, 0)
  w.release()
  held.release()
  assert.equal(p.held, 0)
  assert.equal(p.keys, 0)
})
