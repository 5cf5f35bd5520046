// The retry budget's sliding window, on explicit times (ms).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RetryBudget, RetryWindow } from '../../../gateway/upstream/retry-budget.js'

/** Retries allowed at `now`, withdrawing until the budget refuses. */
function drain (b: RetryBudget, now: number): number {
  let n = 0
  while (b.withdraw(now)) n++
  return n
}

test('with no requests, minPerSecond x 10 s retries are allowed per window', () => {
  const b = new RetryBudget({ ratio: 0.2, minPerSecond: 3 })
  assert.equal(drain(b, 5_000), 30)
  assert.equal(b.window.exhausted, 1)
})

test('each request adds ratio of a retry; the floor comes on top', () => {
  const b = new RetryBudget({ ratio: 0.2, minPerSecond: 0 })
  for (let i = 0; i < 100; i++) b.sent(1_000 + i)
  assert.equal(drain(b, 1_500), 20)
  b.sent(1_600)
  b.sent(1_700)
  b.sent(1_800)
  b.sent(1_900)
  b.sent(1_950)
  assert.equal(drain(b, 1_999), 1, '105 requests: 21 retries')
})

test('requests and retries leave the window after 10 s, bucket by bucket', () => {
  const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0 })
  for (let i = 0; i < 10; i++) b.sent(0)
  for (let i = 0; i < 10; i++) b.sent(5_000)
  assert.equal(drain(b, 5_500), 10)
  // At 10.0 s the bucket of second 0 is gone: 10 requests and the 10 retries of second 5 remain.
  assert.equal(drain(b, 10_000), 0)
  for (let i = 0; i < 10; i++) b.sent(12_000)
  assert.equal(drain(b, 12_000), 0, '20 requests, 10 retries: the budget is spent')
  // At 15 s the retries of second 5 leave too.
  assert.equal(drain(b, 15_000), 5)
  // Long quiet: everything has left.
  assert.equal(drain(b, 60_000), 0)
  assert.equal(b.window.requests, 0)
})

test('a new budget on the same window (a reload) keeps its counts and applies its own ratio', () => {
  const window = new RetryWindow()
  const before = new RetryBudget({ ratio: 0.2, minPerSecond: 1 }, window)
  for (let i = 0; i < 50; i++) before.sent(100)
  assert.equal(drain(before, 200), 20)
  const after = new RetryBudget({ ratio: 0.4, minPerSecond: 1 }, window)
  assert.equal(drain(after, 300), 10, '0.4 x 50 + 10 = 30, of which 20 were spent')
  assert.equal(window.retried, 30)
})
