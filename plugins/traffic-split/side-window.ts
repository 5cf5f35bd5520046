// What one side of a ramp did over the last `span` ms, for the rollback guard:
// upstream attempts, errors, and a latency histogram to read the p99 from.
// A ring of TIME_BUCKETS time buckets, each with its counts and its own
// latency histogram; the totals over the window (counts and histogram) are
// kept up to date as outcomes arrive and buckets fall out of the span. So an
// outcome costs a few increments and one logarithm, a p99 is a scan of
// LATENCY_BUCKETS cells, and nothing is allocated after construction.
//
// The latency histogram has fixed logarithmic buckets: bucket 0 holds every
// latency up to 1 ms, bucket i >= 1 holds (GROWTH^(i-1), GROWTH^i] ms, the
// last one everything above (about an hour). A quantile is reported as the
// upper edge of the bucket it falls in: never below the true value and less
// than 10 % above it (at most 1 ms for latencies under 1 ms).

/** The window slides in steps of span / TIME_BUCKETS. */
export const TIME_BUCKETS = 20
export const GROWTH = 1.1
export const LATENCY_BUCKETS = 160
const LN_GROWTH = Math.log(GROWTH)

/** Upper edge (ms) of each latency bucket; the last one has none: its lower edge stands for it. */
const EDGES = new Float64Array(LATENCY_BUCKETS)
for (let i = 0; i < LATENCY_BUCKETS; i++) EDGES[i] = GROWTH ** Math.min(i, LATENCY_BUCKETS - 2)

/** The histogram bucket of a latency in ms (NaN and negatives: bucket 0). */
export function latencyBucket (ms: number): number {
  if (!(ms > 1)) return 0
  let i = Math.ceil(Math.log(ms) / LN_GROWTH)
  if (i < 1) i = 1
  else if (i > LATENCY_BUCKETS - 1) i = LATENCY_BUCKETS - 1
  // The logarithm may land a hair off at an edge: the bucket is the first whose upper edge holds ms.
  if (i < LATENCY_BUCKETS - 1 && EDGES[i]! < ms) i++
  else if (i > 1 && EDGES[i - 1]! >= ms) i--
  return i
}

/** The value a quantile falling in bucket `i` is reported as (ms). */
export function bucketEdge (i: number): number {
  return EDGES[i]!
}

export class SideWindow {
  /** Totals over the buckets still in the span (read after advance()). */
  requests = 0
  errors = 0
  readonly #requests = new Uint32Array(TIME_BUCKETS)
  readonly #errors = new Uint32Array(TIME_BUCKETS)
  /** TIME_BUCKETS histograms of LATENCY_BUCKETS cells, one after the other. */
  readonly #latency = new Uint32Array(TIME_BUCKETS * LATENCY_BUCKETS)
  /** The histogram over the window: the sum of the buckets' ones. */
  readonly #total = new Uint32Array(LATENCY_BUCKETS)
  readonly #width: number
  /** Absolute number (time / width) of the newest bucket; -1 before the first outcome. */
  #head = -1

  constructor (readonly span: number) {
    this.#width = Math.max(1, Math.ceil(span / TIME_BUCKETS))
  }

  /** One upstream attempt at `now`: an error or not, its latency in ms. */
  add (now: number, error: boolean, latency: number): void {
    this.advance(now)
    const t = this.#head % TIME_BUCKETS
    const l = latencyBucket(latency)
    this.#requests[t]!++
    this.#latency[t * LATENCY_BUCKETS + l]!++
    this.#total[l]!++
    this.requests++
    if (error) {
      this.#errors[t]!++
      this.errors++
    }
  }

  /** Drops the buckets older than the span at `now`. */
  advance (now: number): void {
    const b = Math.floor(now / this.#width)
    if (b <= this.#head) return // same bucket (or a clock that went back: counted in the newest)
    if (this.#head < 0 || b - this.#head >= TIME_BUCKETS) {
      this.#reset()
    } else {
      for (let k = this.#head + 1; k <= b; k++) this.#clear(k % TIME_BUCKETS)
    }
    this.#head = b
  }

  /** The errors' share of the requests (0 without requests). */
  get errorRatio (): number {
    return this.requests === 0 ? 0 : this.errors / this.requests
  }

  /**
   * The `q` quantile (0 < q <= 1) of the latencies in the window, in ms: the
   * smallest bucket edge at or under which at least q of them are; 0 without
   * requests.
   */
  quantile (q: number): number {
    const n = this.requests
    if (n === 0) return 0
    const rank = Math.max(1, Math.ceil(q * n - 1e-9))
    const total = this.#total
    let seen = 0
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += total[i]!
      if (seen >= rank) return EDGES[i]!
    }
    return EDGES[LATENCY_BUCKETS - 1]!
  }

  get p99 (): number {
    return this.quantile(0.99)
  }

  #reset (): void {
    this.#requests.fill(0)
    this.#errors.fill(0)
    this.#latency.fill(0)
    this.#total.fill(0)
    this.requests = this.errors = 0
  }

  #clear (t: number): void {
    const n = this.#requests[t]!
    if (n === 0) return
    this.requests -= n
    this.errors -= this.#errors[t]!
    this.#requests[t] = this.#errors[t] = 0
    const h = this.#latency
    const total = this.#total
    const base = t * LATENCY_BUCKETS
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      const c = h[base + i]!
      if (c !== 0) {
        total[i]! -= c
        h[base + i] = 0
      }
    }
  }
}
