// A circuit breaker's state machine, shared by the node breaker (outlier
// ejection) and the route breaker. It is fed attempt outcomes and reports
// every transition with its reason; it owns no timer and reads time from an
// injected clock, so the owner decides how "open" is enforced (the node
// breaker takes the node out of its balancers and sets a timer; the route
// breaker answers at once and moves to half-open lazily).
//
//   closed     every call goes through. Opens on `consecutiveFailures` failures
//              in a row, or once `minCalls` calls are in the sliding `window`,
//              on a share of failures >= `errorRatio` or of calls slower than
//              `slowCallThreshold` >= `slowCallRatio`.
//   open       nothing goes through, for openTime * 2^(trips-1) capped at
//              maxOpenTime (`trips`: consecutive openings without a close).
//   half-open  `halfOpenRequests` trial calls go through; all succeed: closed
//              (trips reset); one fails (or is slow): open again, longer.
//
// Failures: connect / reset / timeout / bad-response, and responses with a
// status in `failureStatuses`. `cancelled` (the client left) says nothing
// about the target and only gives back a half-open trial slot.
import type { BreakerConfig } from '../config/types.js'
import type { OutcomeKind } from '../../plugins/types.js'
import { SlidingWindow } from './sliding-window.js'

export type BreakerState = 'closed' | 'open' | 'half-open'
export type TransitionReason =
  | 'consecutive-failures' | 'error-ratio' | 'slow-calls' // closed -> open
  | 'half-open-failure' // half-open -> open
  | 'timer' // open -> half-open
  | 'trials-succeeded' // half-open -> closed
  | 'active-check' // open or half-open -> closed: the node's active check saw it fail and recover

export interface BreakerHooks {
  /** Called on every transition, after the state changed. */
  transition (to: BreakerState, reason: TransitionReason): void
  /**
   * Asked before closed -> open: false refuses the trip (the node breaker's max
   * ejection share); the breaker stays closed with its counters restarted.
   */
  mayOpen? (reason: TransitionReason): boolean
}

export type Clock = () => number

export class Breaker {
  state: BreakerState = 'closed'
  /** Reason of the last transition; undefined before the first. */
  reason: TransitionReason | undefined = undefined
  /** Clock time of the last transition (or of creation). */
  since: number
  /** Openings since the breaker last closed: the open time doubles with each. */
  trips = 0
  /** Openings in the breaker's life, and trips refused by mayOpen(). */
  totalTrips = 0
  refusedTrips = 0
  /** Clock time at which an open breaker may go half-open. */
  openUntil = 0
  /** Half-open: trial permits not yet handed out by acquire(), and trials that succeeded. */
  trialsLeft = 0
  trialsSucceeded = 0
  #o: BreakerConfig
  #consecutive = 0
  #window: SlidingWindow | undefined
  /** failureStatuses as a lookup by status. */
  #failStatus = new Uint8Array(600)

  constructor (options: BreakerConfig, readonly now: Clock, readonly hooks: BreakerHooks) {
    this.#o = options
    this.since = now()
    this.reconfigure(options)
  }

  get options (): BreakerConfig { return this.#o }

  /** New options; the state (and the open time in force) is kept, the counters restart. */
  reconfigure (options: BreakerConfig): void {
    this.#o = options
    this.#failStatus.fill(0)
    for (const s of options.failureStatuses) this.#failStatus[s] = 1
    this.#consecutive = 0
    const ratios = options.errorRatio !== undefined || options.slowCallRatio !== undefined
    this.#window = ratios ? new SlidingWindow(options.window) : undefined
    if (this.state === 'half-open') this.trialsLeft = Math.min(this.trialsLeft, options.halfOpenRequests)
  }

  /**
   * May a call go through now? Open and due: goes half-open first. Half-open:
   * takes a trial permit (give it back with release() when the call never
   * reaches the target).
   */
  acquire (): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open' && !this.poll()) return false
    if (this.trialsLeft > 0) {
      this.trialsLeft--
      return true
    }
    return false
  }

  /** Gives back a half-open trial permit taken by acquire() whose call never reached the target. */
  release (): void {
    if (this.state === 'half-open' && this.trialsLeft + this.trialsSucceeded < this.#o.halfOpenRequests) this.trialsLeft++
  }

  /** Open and its time is up: goes half-open (reason `timer`). Returns whether the breaker is now half-open. */
  poll (): boolean {
    if (this.state === 'open' && this.now() >= this.openUntil) {
      this.state = 'half-open'
      this.trialsLeft = this.#o.halfOpenRequests
      this.trialsSucceeded = 0
      this.#moved('half-open', 'timer')
    }
    return this.state === 'half-open'
  }

  /** ms until an open breaker may go half-open (0 when not open or due). */
  msUntilHalfOpen (): number {
    return this.state === 'open' ? Math.max(0, Math.ceil(this.openUntil - this.now())) : 0
  }

  /** Is this outcome a failure by these options (cancelled: never)? */
  isFailure (kind: OutcomeKind, status: number): boolean {
    return kind === 'response' ? this.#failStatus[status] === 1 : kind !== 'cancelled'
  }

  /** One attempt's outcome. `latency`: ms from dispatch to the response headers or the failure. */
  record (kind: OutcomeKind, status: number, latency: number): void {
    if (kind === 'cancelled') return this.release()
    const o = this.#o
    const failure = kind === 'response' ? this.#failStatus[status] === 1 : true
    const slow = o.slowCallRatio !== undefined && latency > o.slowCallThreshold!
    if (this.state === 'closed') {
      this.#consecutive = failure ? this.#consecutive + 1 : 0
      let reason: TransitionReason | undefined
      if (o.consecutiveFailures > 0 && this.#consecutive >= o.consecutiveFailures) reason = 'consecutive-failures'
      const w = this.#window
      if (w !== undefined) {
        w.add(this.now(), failure, slow)
        if (reason === undefined && w.calls >= o.minCalls) {
          if (o.errorRatio !== undefined && w.failures >= o.errorRatio * w.calls) reason = 'error-ratio'
          else if (o.slowCallRatio !== undefined && w.slow >= o.slowCallRatio * w.calls) reason = 'slow-calls'
        }
      }
      if (reason !== undefined) this.#trip(reason)
    } else if (this.state === 'half-open') {
      if (failure || slow) return this.#open('half-open-failure')
      if (++this.trialsSucceeded >= o.halfOpenRequests) {
        this.state = 'closed'
        this.trips = 0
        this.#restart()
        this.#moved('closed', 'trials-succeeded')
      }
    }
    // open: an attempt admitted before the breaker opened; it changes nothing.
  }

  /**
   * Closes an open or half-open breaker at once (trips reset), for a reason
   * outside the outcomes it was fed; a closed one is left as it is.
   */
  close (reason: TransitionReason): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.trips = 0
    this.trialsLeft = 0
    this.trialsSucceeded = 0
    this.#restart()
    this.#moved('closed', reason)
  }

  #trip (reason: TransitionReason): void {
    if (this.hooks.mayOpen !== undefined && !this.hooks.mayOpen(reason)) {
      this.refusedTrips++
      this.#restart()
      return
    }
    this.#open(reason)
  }

  #open (reason: TransitionReason): void {
    const o = this.#o
    this.trips++
    this.totalTrips++
    // 2^(trips-1) without overflow: past 2^30 the cap has long been reached.
    const factor = 2 ** Math.min(this.trips - 1, 30)
    this.openUntil = this.now() + Math.min(o.openTime * factor, o.maxOpenTime)
    this.state = 'open'
    this.trialsLeft = 0
    this.trialsSucceeded = 0
    this.#restart()
    this.#moved('open', reason)
  }

  #restart (): void {
    this.#consecutive = 0
    this.#window?.reset()
  }

  #moved (to: BreakerState, reason: TransitionReason): void {
    this.reason = reason
    this.since = this.now()
    this.hooks.transition(to, reason)
  }
}
