// The retry budget of an upstream: retries never exceed `ratio` x the requests
// sent to the upstream over a sliding window of WINDOW_MS, plus `minPerSecond`
// per second of the window (Finagle's RetryBudget; Envoy's retry budget has
// the same 20% default). The window is BUCKETS one-second counters in typed
// arrays: counting a request or a retry allocates nothing.
//
// The counters (RetryWindow) outlive a reload: the Upstream built from the new
// config takes its predecessor's window, so a reload in the middle of an outage
// does not hand out a fresh budget. The ratio and floor are the config's, per
// Upstream object.
import type { RetryBudgetConfig } from '../config/types.js'

const BUCKETS = 10
const BUCKET_MS = 1000
export const WINDOW_MS = BUCKETS * BUCKET_MS

/** Requests and retries of the last WINDOW_MS, per one-second bucket; totals since start for the metrics. */
export class RetryWindow {
  readonly #requests = new Float64Array(BUCKETS)
  readonly #retries = new Float64Array(BUCKETS)
  /** Sums over the buckets. */
  requests = 0
  retries = 0
  /** Retries sent, and retries refused by the budget, since the upstream was first configured. */
  retried = 0
  exhausted = 0
  /** The second (now / BUCKET_MS) the current bucket counts. */
  #second = -1

  /** A request's first attempt was sent at `now` (ms on a monotonic clock). */
  request (now: number): void {
    const i = this.moveTo(now)
    this.#requests[i]!++
    this.requests++
  }

  retry (now: number): void {
    const i = this.moveTo(now)
    this.#retries[i]!++
    this.retries++
    this.retried++
  }

  /** Brings the window to `now`: the buckets of the seconds that went by are emptied. Returns the current bucket. */
  moveTo (now: number): number {
    const second = Math.floor(now / BUCKET_MS)
    if (second > this.#second) {
      const gone = Math.min(second - this.#second, BUCKETS)
      for (let k = 1; k <= gone; k++) {
        const i = (this.#second + k) % BUCKETS
        this.requests -= this.#requests[i]!
        this.retries -= this.#retries[i]!
        this.#requests[i] = 0
        this.#retries[i] = 0
      }
      this.#second = second
    }
    return this.#second % BUCKETS
  }
}

export class RetryBudget {
  readonly ratio: number
  /** Retries always allowed per window, whatever the request rate. */
  readonly floor: number

  constructor (config: RetryBudgetConfig, readonly window: RetryWindow = new RetryWindow()) {
    this.ratio = config.ratio
    this.floor = config.minPerSecond * (WINDOW_MS / 1000)
  }

  /** A request's first attempt was sent at `now`. */
  sent (now: number): void {
    this.window.request(now)
  }

  /** May one more retry be sent at `now`? Counted as sent when it may, as refused when not. */
  withdraw (now: number): boolean {
    const w = this.window
    w.moveTo(now)
    if (w.retries + 1 > this.ratio * w.requests + this.floor) {
      w.exhausted++
      return false
    }
    w.retry(now)
    return true
  }

  /** For the admin API: the window's counts at `now`, and the totals. */
  state (now: number): { windowRequests: number; windowRetries: number; retried: number; exhausted: number } {
    const w = this.window
    w.moveTo(now)
    return { windowRequests: w.requests, windowRetries: w.retries, retried: w.retried, exhausted: w.exhausted }
  }
}
