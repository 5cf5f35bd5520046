// A fixed-window counter per key in this process: rate-limiter-flexible's
// RateLimiterMemory, driven synchronously. Its consume() always returns a
// promise, and an access phase that returns one costs a microtask and the
// core's deadline bookkeeping per request; the limiter's own storage
// (MemoryStorage.incrby: count, and the window's expiry) is synchronous, so
// this calls it directly and keeps the whole decision on the request's stack.
// That storage is not part of the library's typed API: `memoryWindow` checks
// it is there and fails at create time (and in the unit tests) if an upgrade
// removed it.
//
// Window: starts at a key's first request and lasts `windowMs` (so each key
// has its own phase); the counter then starts again from 0.
import { RateLimiterMemory } from 'rate-limiter-flexible'

interface Res { consumedPoints: number; msBeforeNext: number }
interface Storage {
  incrby(key: string, points: number, durationSec: number): Res
  get(key: string): Res | null
  readonly _storage: Map<string, unknown>
}

export class MemoryWindow {
  /** ms until the window of the key last consumed ends (read right after consume()). */
  resetMs = 0
  /** Count of the key last consumed in its window, this request included. */
  count = 0
  readonly limiter: RateLimiterMemory
  readonly #storage: Storage
  readonly #durationSec: number

  constructor (readonly windowMs: number, keyPrefix: string) {
    this.limiter = new RateLimiterMemory({ points: 1, duration: windowMs / 1000, keyPrefix })
    const storage = (this.limiter as unknown as { _memoryStorage?: Storage })._memoryStorage
    if (typeof storage?.incrby !== 'function' || typeof storage.get !== 'function' || !(storage._storage instanceof Map)) {
      throw new Error('rate-limiter-flexible: RateLimiterMemory no longer has the synchronous storage this gateway drives (check the installed version)')
    }
    this.#storage = storage
    this.#durationSec = windowMs / 1000
  }

  /** Counts one request of `key`; returns its count in the window (this one included). */
  consume (key: string): number {
    const res = this.#storage.incrby(this.limiter.getKey(key) as string, 1, this.#durationSec)
    this.resetMs = res.msBeforeNext < 0 ? this.windowMs : res.msBeforeNext
    this.count = res.consumedPoints
    return res.consumedPoints
  }

  /** The count of `key` in its current window (0 when it has none); sets resetMs. */
  peek (key: string): number {
    const res = this.#storage.get(this.limiter.getKey(key) as string)
    if (res === null || res.msBeforeNext <= 0) {
      this.resetMs = this.windowMs
      return 0
    }
    this.resetMs = res.msBeforeNext
    return res.consumedPoints
  }

  /**
   * Counts `n` requests of `key` admitted elsewhere, without taking its count
   * above `cap`; a key with no live window gets one that ends in `ttlMs`.
   */
  add (key: string, n: number, cap: number, ttlMs: number): void {
    const rlKey = this.limiter.getKey(key) as string
    const res = this.#storage.get(rlKey)
    const room = cap - (res === null || res.msBeforeNext <= 0 ? 0 : res.consumedPoints)
    if (room <= 0 || ttlMs <= 0) return
    this.#storage.incrby(rlKey, n < room ? n : room, ttlMs / 1000)
  }

  /** Keys with a live window. */
  get size (): number { return this.#storage._storage.size }

  /** The `n` busiest keys of their current window, busiest first (for status(): bounded). */
  top (n: number): Array<{ key: string, count: number }> {
    const out: Array<{ key: string, count: number }> = []
    const now = Date.now()
    for (const [rlKey, record] of this.#storage._storage as Map<string, { value: number, expiresAt: number | null }>) {
      if (record.expiresAt !== null && record.expiresAt <= now) continue
      const count = record.value
      if (out.length === n && count <= out[n - 1]!.count) continue
      const key = this.limiter.parseKey(rlKey) as string
      let i = out.length
      while (i > 0 && out[i - 1]!.count < count) i--
      out.splice(i, 0, { key, count })
      if (out.length > n) out.pop()
    }
    return out
  }
}
