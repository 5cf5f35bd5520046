// A rate limit in this process (scope: node, and the `local` fallback of a
// cluster limit): `rate` requests per window per key, exact within the
// process, plus the burst bucket. All synchronous (memory-window.ts).
//
// Burst (rate-limiter-flexible's BurstyRateLimiter, done synchronously): a
// request over the rate of its window is still admitted while the key's
// burst bucket — `burst` requests per `burstWindow` — has room. So over any
// burstWindow at most rate × (burstWindow / window) + burst requests pass, and
// never more than rate + burst within one window.
import { MemoryWindow } from './memory-window.js'

export class NodeLimit {
  /** After check(): the key's remaining requests in the window (burst not included). */
  remaining = 0
  /** After check(): ms until the key's window ends (a refused request may retry then). */
  resetMs = 0
  /** After check(): the burst bucket's remaining room and ms until it refills (when there is a bucket). */
  burstRemaining = 0
  burstResetMs = 0
  readonly main: MemoryWindow
  readonly bucket: MemoryWindow | undefined

  /** `rate` and `burst` may be changed later (the local fallback follows the learned node count). */
  constructor (public rate: number, windowMs: number, public burst: number, burstWindowMs: number, keyPrefix: string) {
    this.main = new MemoryWindow(windowMs, keyPrefix)
    this.bucket = burst > 0 ? new MemoryWindow(burstWindowMs, `${keyPrefix}:burst`) : undefined
  }

  /** Counts a request of `key`: true when admitted. */
  check (key: string): boolean {
    const n = this.main.consume(key)
    this.resetMs = this.main.resetMs
    if (n <= this.rate) {
      this.remaining = this.rate - n
      return true
    }
    this.remaining = 0
    return this.burstOnly(key)
  }

  /** Counts a request of `key` against the burst bucket only (its window's rate is used up). */
  burstOnly (key: string): boolean {
    const bucket = this.bucket
    if (bucket === undefined) return false
    const b = bucket.consume(key)
    this.burstResetMs = bucket.resetMs
    this.burstRemaining = b <= this.burst ? this.burst - b : 0
    return b <= this.burst
  }

  /** Reads the burst bucket of `key` without counting (for the RateLimit fields). */
  peekBurst (key: string): void {
    const bucket = this.bucket
    if (bucket === undefined) return
    const b = bucket.peek(key)
    this.burstResetMs = bucket.resetMs
    this.burstRemaining = b <= this.burst ? this.burst - b : 0
  }
}
