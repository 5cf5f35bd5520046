// The breaker state machine on a fake clock: each opening rule, the open time's
// growth and cap, half-open trials, cancelled outcomes, refused trips; and the
// sliding window's buckets.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Breaker, type BreakerState, type TransitionReason } from '../../../gateway/health/breaker.js'
import { SlidingWindow } from '../../../gateway/health/sliding-window.js'
import type { BreakerConfig } from '../../../gateway/config/types.js'

const BASE: BreakerConfig = {
  consecutiveFailures: 3,
  window: 10_000,
  minCalls: 10,
  failureStatuses: [500, 502, 503, 504],
  openTime: 1_000,
  maxOpenTime: 5_000,
  halfOpenRequests: 2
}

function make (options: Partial<BreakerConfig> = {}, mayOpen?: () => boolean): { b: Breaker; clock: { t: number }; moves: Array<[BreakerState, TransitionReason]> } {
  const clock = { t: 1_000_000 }
  const moves: Array<[BreakerState, TransitionReason]> = []
  const b = new Breaker({ ...BASE, ...options }, () => clock.t, {
    transition: (to, reason) => { moves.push([to, reason]) },
    ...(mayOpen === undefined ? {} : { mayOpen })
  })
  return { b, clock, moves }
}

const ok = (b: Breaker, latency = 1): void => b.record('response', 200, latency)
const fail = (b: Breaker): void => b.record('response', 503, 1)

describe('Breaker: opening rules', () => {
  it('opens on N consecutive failures; a success in between restarts the count', () => {
    const { b, moves } = make()
    fail(b); fail(b); ok(b); fail(b); fail(b)
    assert.equal(b.state, 'closed')
    fail(b)
    assert.equal(b.state, 'open')
    assert.deepEqual(moves, [['open', 'consecutive-failures']])
  })

  it('every failing outcome kind counts, and configured statuses only', () => {
    const { b } = make({ consecutiveFailures: 4 })
    b.record('connect', 0, 1); b.record('reset', 0, 1); b.record('timeout', 0, 1)
    b.record('response', 404, 1) // not a failure status: restarts the count
    b.record('bad-response', 0, 1); b.record('connect', 0, 1); b.record('reset', 0, 1)
    assert.equal(b.state, 'closed')
    b.record('response', 500, 1)
    assert.equal(b.state, 'open')
    const { b: b2 } = make({ consecutiveFailures: 2, failureStatuses: [429] })
    b2.record('response', 503, 1); b2.record('response', 503, 1)
    assert.equal(b2.state, 'closed', '503 is not a failure when failureStatuses is [429]')
    b2.record('response', 429, 1); b2.record('response', 429, 1)
    assert.equal(b2.state, 'open')
  })

  it('cancelled is neutral: it neither counts as a failure nor breaks a run of them', () => {
    const { b } = make()
    fail(b); b.record('cancelled', 0, 1); fail(b)
    for (let i = 0; i < 20; i++) b.record('cancelled', 0, 1)
    assert.equal(b.state, 'closed')
    fail(b)
    assert.equal(b.state, 'open')
  })

  it('opens on the error ratio once minCalls are in the window, not before', () => {
    const { b, moves } = make({ consecutiveFailures: 0, errorRatio: 0.5, minCalls: 10 })
    for (let i = 0; i < 4; i++) { fail(b); ok(b) } // 8 calls, 50 %
    fail(b) // 9 calls
    assert.equal(b.state, 'closed', 'fewer than minCalls: not judged')
    ok(b) // 10 calls, 5 failures
    assert.equal(b.state, 'open')
    assert.deepEqual(moves, [['open', 'error-ratio']])
  })

  it('a ratio below the threshold keeps it closed', () => {
    const { b } = make({ consecutiveFailures: 0, errorRatio: 0.5, minCalls: 4 })
    for (let i = 0; i < 30; i++) { ok(b); ok(b); fail(b) } // a third
    assert.equal(b.state, 'closed')
  })

  it('failures older than the window are forgotten', () => {
    const { b, clock } = make({ consecutiveFailures: 0, errorRatio: 0.5, minCalls: 4, window: 1_000 })
    for (let i = 0; i < 3; i++) fail(b)
    clock.t += 1_500
    ok(b); ok(b); ok(b)
    fail(b) // 4 calls in the window, 1 failure
    assert.equal(b.state, 'closed')
  })

  it('opens on the slow-call ratio: calls slower than the threshold', () => {
    const { b, moves } = make({ consecutiveFailures: 0, slowCallRatio: 0.5, slowCallThreshold: 100, minCalls: 4 })
    ok(b, 100); ok(b, 100); ok(b, 100) // at the threshold: not slow
    ok(b, 101)
    assert.equal(b.state, 'closed')
    ok(b, 500); ok(b, 500) // 3 of 6 slow
    assert.equal(b.state, 'open')
    assert.deepEqual(moves, [['open', 'slow-calls']])
  })
})

describe('Breaker: open time and half-open', () => {
  it('open time doubles per consecutive trip up to maxOpenTime, and resets once closed', () => {
    const { b, clock } = make({ consecutiveFailures: 1, openTime: 1_000, maxOpenTime: 5_000, halfOpenRequests: 1 })
    const openFor: number[] = []
    for (let i = 0; i < 5; i++) {
      fail(b)
      assert.equal(b.state, 'open')
      openFor.push(b.msUntilHalfOpen())
      clock.t += b.msUntilHalfOpen() - 1
      assert.equal(b.acquire(), false, 'still open 1 ms before its time')
      clock.t += 1
      assert.equal(b.acquire(), true, 'half-open: one trial')
      assert.equal(b.state, 'half-open')
    }
    assert.deepEqual(openFor, [1_000, 2_000, 4_000, 5_000, 5_000])
    ok(b)
    assert.equal(b.state, 'closed')
    fail(b)
    assert.equal(b.msUntilHalfOpen(), 1_000, 'after a close the next trip starts from openTime again')
  })

  it('half-open lets a bounded number of trials through and closes when they all succeed', () => {
    const { b, clock, moves } = make({ halfOpenRequests: 2 })
    fail(b); fail(b); fail(b)
    clock.t += 1_000
    assert.equal(b.acquire(), true)
    assert.equal(b.acquire(), true)
    assert.equal(b.acquire(), false, 'no third trial')
    ok(b)
    assert.equal(b.state, 'half-open')
    ok(b)
    assert.equal(b.state, 'closed')
    assert.equal(b.acquire(), true)
    assert.deepEqual(moves, [['open', 'consecutive-failures'], ['half-open', 'timer'], ['closed', 'trials-succeeded']])
  })

  it('a failed trial reopens with the grown open time', () => {
    const { b, clock, moves } = make()
    fail(b); fail(b); fail(b)
    clock.t += 1_000
    assert.equal(b.acquire(), true)
    fail(b)
    assert.equal(b.state, 'open')
    assert.equal(b.msUntilHalfOpen(), 2_000)
    assert.deepEqual(moves.at(-1), ['open', 'half-open-failure'])
  })

  it('a slow trial reopens when slow calls are judged', () => {
    const { b, clock } = make({ slowCallRatio: 0.5, slowCallThreshold: 100 })
    fail(b); fail(b); fail(b)
    clock.t += 1_000
    assert.equal(b.acquire(), true)
    ok(b, 300)
    assert.equal(b.state, 'open')
  })

  it('cancelled gives a half-open trial slot back; release() too; never more than halfOpenRequests', () => {
    const { b, clock } = make({ halfOpenRequests: 1 })
    fail(b); fail(b); fail(b)
    clock.t += 1_000
    assert.equal(b.acquire(), true)
    assert.equal(b.acquire(), false)
    b.record('cancelled', 0, 1)
    assert.equal(b.state, 'half-open', 'cancelled does not reopen')
    assert.equal(b.acquire(), true, 'the slot came back')
    b.release()
    b.release()
    b.record('cancelled', 0, 1)
    assert.equal(b.trialsLeft, 1, 'no more slots than halfOpenRequests')
  })

  it('outcomes arriving while open change nothing', () => {
    const { b, moves } = make()
    fail(b); fail(b); fail(b)
    for (let i = 0; i < 10; i++) { ok(b); fail(b) }
    assert.equal(b.state, 'open')
    assert.equal(moves.length, 1)
  })

  it('a trip refused by mayOpen keeps it closed, counts the refusal and restarts the counters', () => {
    let allow = false
    const { b, moves } = make({}, () => allow)
    fail(b); fail(b); fail(b)
    assert.equal(b.state, 'closed')
    assert.equal(b.refusedTrips, 1)
    allow = true
    fail(b); fail(b)
    assert.equal(b.state, 'closed', 'the count restarted after the refusal')
    fail(b)
    assert.equal(b.state, 'open')
    assert.deepEqual(moves, [['open', 'consecutive-failures']])
  })

  it('reconfigure keeps the state and applies the new thresholds', () => {
    const { b } = make()
    fail(b); fail(b); fail(b)
    b.reconfigure({ ...BASE, consecutiveFailures: 10 })
    assert.equal(b.state, 'open')
  })
})

describe('SlidingWindow', () => {
  it('keeps running totals over the span and drops expired buckets', () => {
    const w = new SlidingWindow(1_000) // 10 buckets of 100 ms
    w.add(0, true, false)
    w.add(50, false, true)
    w.add(550, true, true)
    assert.deepEqual([w.calls, w.failures, w.slow], [3, 2, 2])
    w.advance(1_050) // the bucket [0, 100) is now out
    assert.deepEqual([w.calls, w.failures, w.slow], [1, 1, 1])
    w.advance(5_000)
    assert.deepEqual([w.calls, w.failures, w.slow], [0, 0, 0])
    w.add(5_001, false, false)
    assert.equal(w.calls, 1)
  })
})
