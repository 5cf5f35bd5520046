// Leased token blocks: how a cluster-scope rate limit avoids a Redis round trip
// per request. Per key, a gateway holds a lease: tokens taken from the shared
// store in one round trip, spent in memory, valid until the store's window
// ends. A request with a token in hand is decided synchronously.
//
// - A block is about `blockMs` (50 ms) of this gateway's traffic on the key
//   (a moving estimate of the local rate), clamped to [1, limit / (4 × nodes)]
//   so one gateway never sits on much of the cluster's quota.
// - When the store grants less than asked, the window is used up: the key is
//   refused locally until the window ends, with no store call per refusal.
// - One fetch per key at a time (single flight): requests that find no token
//   wait on the fetch in progress, never past their deadline (the fetch's
//   timer is that of the request that started it, which no later request's
//   deadline precedes).
// - Requests the `local` fallback admitted while the store could not be used
//   (owe()) are charged to the store with the next block, when they are from
//   the last window's time: a short outage or a slow answer does not add to
//   the total; after a long outage, at most a window's worth is charged. What
//   a window that was already used up could not absorb is carried into the
//   next window, once.
// - When the `local` fallback takes a key over in a window, it first counts
//   what this gateway already spent from the key's lease in that window
//   (unreported()), so it does not admit its share on top of it. The table
//   knows it without a per-request count: tokens put in hand in the window,
//   less those still in hand, given back or dropped.
// - Tokens held by a lease idle for `idleMs` are given back to the store, so
//   other gateways can use them; leases idle for a whole window past their
//   end are dropped (memory stays bounded with per-IP keys).
//
// The store (TokenStore) is Redis for scope: cluster (redis-store.ts); a later
// worker mode can put the primary process behind the same interface so that a
// node-scope limit becomes the machine's limit at the same cost.
export interface Grant {
  granted: number
  /** ms left in the store's window when it answered. */
  msLeft: number
  /** The window's index (windows of a key are numbered in time order). */
  window: number
  /** What the store had left in the window after this grant. */
  remaining: number
}

export interface TokenStore {
  readonly limit: number
  readonly windowMs: number
  take(key: string, want: number): Promise<Grant>
  /** Gives `n` unused tokens of `window` back (best effort). */
  give(key: string, window: number, n: number): Promise<unknown>
}

/** What the table needs from its owner: Redis mode and the node count. */
export interface LeaseHooks {
  succeeded(): void
  failed(why: string): void
  /** Gateways sharing the limit (for the largest block). */
  nodes(): number
}

export const ADMIT = 1
export const REJECT = 0
/** No token in hand and the window not used up: a fetch is needed. */
export const FETCH = -1
/** The store could not answer in time. */
export const UNAVAILABLE = -2

class Lease {
  tokens = 0
  window = -1
  /** Local ms at which the window ends: never later than in the store (measured from when the fetch was sent). */
  end = 0
  exhausted = false
  /** The store's remaining count at the last grant. */
  remaining = 0
  fetch: Fetch | undefined = undefined
  lastUse = 0
  /** Requests since the last fetch started, and when it started: the local rate. */
  demand = 0
  fetchedAt = 0
  /** Requests per ms (moving average). */
  rate = 0
  /** Requests admitted by the local fallback since `debtSince`, to be charged to the store with the next block. */
  debt = 0
  debtSince = 0
  /** The debt was already carried over from a window that could not absorb it (it is carried once). */
  carried = false
  /** Tokens put in hand in `window`, less those given back or dropped: what was spent is taken − tokens. */
  taken = 0
  /** Of the tokens spent in `window`, those already reported to the local fallback. */
  reported = 0
}

interface Fetch {
  promise: Promise<void>
  deadline: number
  /** The store answered in time. */
  answered: boolean
}

export interface LeaseTableOptions {
  /** The store's key of a limit key. */
  storeKey: (key: string) => string
  hooks: LeaseHooks
  now?: () => number
  blockMs?: number
  idleMs?: number
}

export class LeaseTable {
  readonly leases = new Map<string, Lease>()
  /** After spend()/acquire(): ms until the key's window ends. */
  resetMs = 0
  /** After spend()/acquire(): what the cluster has left in the window, as far as this gateway knows. */
  remaining = 0
  /** The last block asked for (status). */
  lastBlock = 0
  /** After unreported() returned more than 0: ms until the key's window ends. */
  windowLeftMs = 0
  readonly blockMs: number
  readonly idleMs: number
  readonly #store: TokenStore
  readonly #storeKey: (key: string) => string
  readonly #hooks: LeaseHooks
  readonly #now: () => number
  readonly #sweeper: NodeJS.Timeout

  constructor (store: TokenStore, opts: LeaseTableOptions) {
    this.#store = store
    this.#storeKey = opts.storeKey
    this.#hooks = opts.hooks
    this.#now = opts.now ?? Date.now
    this.blockMs = opts.blockMs ?? 50
    this.idleMs = opts.idleMs ?? 100
    this.#sweeper = setInterval(() => this.sweep(this.#now()), this.idleMs)
    this.#sweeper.unref()
  }

  get limit (): number { return this.#store.limit }

  /** ADMIT or REJECT when decided in memory, FETCH when a block is needed (then call acquire()). */
  spend (key: string, now: number): number {
    let lease = this.leases.get(key)
    if (lease === undefined) {
      lease = new Lease()
      this.leases.set(key, lease)
    }
    lease.demand++
    return this.#spend(lease, now)
  }

  #spend (lease: Lease, now: number): number {
    lease.lastUse = now
    if (now >= lease.end) {
      lease.taken -= lease.tokens
      lease.tokens = 0
      lease.exhausted = false
    }
    this.resetMs = lease.end > now ? lease.end - now : this.#store.windowMs
    if (lease.tokens > 0) {
      lease.tokens--
      this.remaining = lease.remaining + lease.tokens
      return ADMIT
    }
    this.remaining = 0
    return lease.exhausted ? REJECT : FETCH
  }

  /** A request of `key` was admitted without the store (local fallback): charge it with the next block. */
  owe (key: string, now: number): void {
    const lease = this.leases.get(key)
    if (lease === undefined) return
    if (now - lease.debtSince > this.#store.windowMs) {
      lease.debt = 0
      lease.debtSince = now
    }
    lease.debt++
  }

  /**
   * For the local fallback: the tokens of `key` spent in its current window
   * and not yet reported by an earlier call (0 once the window has ended, as
   * far as this gateway knows); then windowLeftMs is the ms left in it.
   */
  unreported (key: string, now: number): number {
    const lease = this.leases.get(key)
    if (lease === undefined || now >= lease.end) return 0
    const n = lease.taken - lease.tokens - lease.reported
    if (n <= 0) return 0
    lease.reported += n
    this.windowLeftMs = lease.end - now
    return n
  }

  /**
   * After spend() said FETCH: waits for a block, at most until `deadline`
   * (ms, like now()). ADMIT, REJECT, or UNAVAILABLE (no answer in time; the
   * caller applies its failure policy).
   */
  async acquire (key: string, deadline: number, mayRetry: () => boolean): Promise<number> {
    const lease = this.leases.get(key)
    if (lease === undefined) return UNAVAILABLE
    for (;;) {
      const f = lease.fetch ?? this.#fetch(key, lease, deadline)
      if (f.deadline > deadline) return UNAVAILABLE
      await f.promise
      const r = this.#spend(lease, this.#now())
      if (r !== FETCH) return r
      // The store answered, but others took the block: go again while time is left.
      if (!f.answered || this.#now() >= deadline || !mayRetry()) return UNAVAILABLE
    }
  }

  #fetch (key: string, lease: Lease, deadline: number): Fetch {
    const sentAt = this.#now()
    const want = this.#blockSize(lease, sentAt)
    this.lastBlock = want
    const debt = sentAt - lease.debtSince <= this.#store.windowMs ? lease.debt : 0
    lease.debt = 0
    let settle!: () => void
    const f: Fetch = { promise: new Promise<void>((resolve) => { settle = resolve }), deadline, answered: false }
    lease.fetch = f
    let late = false
    const done = (): void => {
      if (lease.fetch === f) lease.fetch = undefined
      settle()
    }
    const expire = (): void => {
      if (f.answered) return
      late = true
      this.#hooks.failed(`no answer within ${deadline - sentAt}ms`)
      done()
    }
    // Timers run before I/O in an event-loop turn: when the loop was busy, the
    // answer may be waiting unread. setImmediate runs after this turn's I/O, so
    // a reply already received wins, and the wait grows by one turn at most.
    const timer = setTimeout(() => setImmediate(expire), Math.max(0, deadline - sentAt))
    this.#store.take(this.#storeKey(key), want + debt).then((g) => {
      clearTimeout(timer)
      // A late answer still brings its tokens (they are counted in the store), but proves nothing about Redis's health.
      if (!late) {
        f.answered = true
        this.#hooks.succeeded()
      }
      this.#grant(lease, g, want, debt, sentAt)
      done()
    }, (err: Error) => {
      clearTimeout(timer)
      lease.debt += debt // not charged: next time
      if (!late) this.#hooks.failed(err.message)
      done()
    })
    return f
  }

  /** `g` answers a take of want + debt: the debt is paid first, the rest is in hand. */
  #grant (lease: Lease, g: Grant, want: number, debt: number, sentAt: number): void {
    if (g.window < lease.window) return // an older window's answer, arriving late: worthless now
    if (g.window > lease.window) {
      lease.window = g.window
      lease.tokens = 0
      lease.exhausted = false
      lease.taken = 0
      lease.reported = 0
    }
    lease.end = sentAt + g.msLeft
    const got = g.granted > debt ? g.granted - debt : 0
    lease.tokens += got
    lease.taken += got
    lease.remaining = g.remaining
    if (g.granted < want + debt) lease.exhausted = true
    if (g.granted < debt && !lease.carried) {
      lease.debt += debt - g.granted
      lease.debtSince = this.#now()
      lease.carried = true
    } else if (lease.debt === 0) {
      lease.carried = false
    }
  }

  /** About blockMs of the key's local traffic, clamped to [1, limit / (4 × nodes)]. */
  #blockSize (lease: Lease, now: number): number {
    const dt = now - lease.fetchedAt
    if (lease.fetchedAt > 0 && dt > 0) {
      const r = lease.demand / dt
      lease.rate = lease.rate === 0 ? r : (lease.rate + r) / 2
    }
    lease.demand = 0
    lease.fetchedAt = now
    const max = this.maxBlock()
    const want = Math.ceil(lease.rate * this.blockMs)
    return want < 1 ? 1 : want > max ? max : want
  }

  /** Sets resetMs and remaining from the key's lease, without spending (after an await, when other requests may have set them since). */
  describe (key: string, now: number): void {
    const lease = this.leases.get(key)
    if (lease === undefined || now >= lease.end) {
      this.resetMs = this.#store.windowMs
      this.remaining = this.#store.limit
      return
    }
    this.resetMs = lease.end - now
    this.remaining = lease.exhausted && lease.tokens === 0 ? 0 : lease.remaining + lease.tokens
  }

  maxBlock (): number {
    return Math.max(1, Math.floor(this.#store.limit / (4 * this.#hooks.nodes())))
  }

  /** Gives back the tokens of idle leases; drops leases idle for a window past their end. */
  sweep (now: number): void {
    if (this.leases.size === 0) return
    const windowMs = this.#store.windowMs
    for (const [key, lease] of this.leases) {
      if (lease.fetch !== undefined) continue
      if (lease.tokens > 0) {
        if (now - lease.lastUse < this.idleMs) continue
        if (now < lease.end) this.#giveBack(key, lease)
        lease.taken -= lease.tokens
        lease.tokens = 0
        lease.rate = 0
      } else if (now >= lease.end + windowMs && now - lease.lastUse >= windowMs) {
        this.leases.delete(key)
      }
    }
  }

  #giveBack (key: string, lease: Lease): void {
    this.#store.give(this.#storeKey(key), lease.window, lease.tokens).catch(() => {
      // Lost: those tokens stay counted until the window ends (under-admission only).
    })
  }

  /** Tokens held now, all keys (status, tests). */
  held (): number {
    let n = 0
    for (const lease of this.leases.values()) n += lease.tokens
    return n
  }

  /** Gives every token in hand back and stops the sweeper (the instance was retired). */
  close (): void {
    clearInterval(this.#sweeper)
    const now = this.#now()
    for (const [key, lease] of this.leases) {
      if (lease.tokens > 0 && now < lease.end) this.#giveBack(key, lease)
      lease.taken -= lease.tokens
      lease.tokens = 0
    }
  }
}
