// Counts of calls, failures and slow calls over the last `span` ms, in a ring
// of fixed time buckets (typed arrays): adding a call is a few increments, and
// nothing is allocated after construction. A bucket that falls out of the
// span is subtracted from the totals and zeroed when time moves past it.

const BUCKETS = 10

export class SlidingWindow {
  /** Totals over the buckets still in the span (read after advance()). */
  calls = 0
  failures = 0
  slow = 0
  readonly #calls = new Uint32Array(BUCKETS)
  readonly #failures = new Uint32Array(BUCKETS)
  readonly #slow = new Uint32Array(BUCKETS)
  readonly #width: number
  /** Absolute number (time / width) of the newest bucket; -1 before the first call. */
  #head = -1

  constructor (readonly span: number) {
    this.#width = Math.max(1, Math.ceil(span / BUCKETS))
  }

  add (now: number, failure: boolean, slow: boolean): void {
    this.advance(now)
    const i = this.#head % BUCKETS
    this.#calls[i]!++
    this.calls++
    if (failure) {
      this.#failures[i]!++
      this.failures++
    }
    if (slow) {
      this.#slow[i]!++
      this.slow++
    }
  }

  /** Drops the buckets older than the span at `now`. */
  advance (now: number): void {
    const b = Math.floor(now / this.#width)
    if (b <= this.#head) return // same bucket (or a clock that went back: counted in the newest)
    if (this.#head < 0 || b - this.#head >= BUCKETS) {
      this.reset()
    } else {
      for (let k = this.#head + 1; k <= b; k++) this.#clear(k % BUCKETS)
    }
    this.#head = b
  }

  reset (): void {
    this.#calls.fill(0)
    this.#failures.fill(0)
    this.#slow.fill(0)
    this.calls = this.failures = this.slow = 0
  }

  #clear (i: number): void {
    this.calls -= this.#calls[i]!
    this.failures -= this.#failures[i]!
    this.slow -= this.#slow[i]!
    this.#calls[i] = this.#failures[i] = this.#slow[i] = 0
  }
}
