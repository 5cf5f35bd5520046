// Permits counted in memory, per key: at most `max` held at once, and an
// optional bounded FIFO of requests waiting for one. Node scope counts here;
// cluster scope falls back here (at its share of the cluster limit) while
// Redis is unavailable. A key is forgotten as soon as nothing holds or waits
// for it, so memory follows the requests in flight, not the keys ever seen.
//
// A released permit goes straight to the oldest waiter of its key (the count
// does not drop in between), so a request arriving at that moment cannot take
// it first.
import { Deadline, Deadlines } from '../../gateway/proxy/deadlines.js'

/** What a request holds between its access and log phases: released (or given up) exactly once. */
export interface Held {
  release(): void
}

/** What happens to a waiter: the instance decides (answer, metrics). */
export interface WaitHooks {
  granted(w: Waiter, count: KeyCount): void
  expired(w: Waiter): void
}

/** One key's permits. Held by each request that has one of them. */
export class KeyCount implements Held {
  held = 0
  /** FIFO of waiters (only while some wait). */
  waiters: Waiter[] | undefined = undefined

  constructor (readonly owner: LocalPermits, readonly key: string) {}

  release (): void {
    this.owner.release(this)
  }
}

/** A request waiting for a permit of `count`. release(): its client left (or the core answered it meanwhile). */
export class Waiter extends Deadline implements Held {
  count: KeyCount | undefined = undefined
  readonly since = performance.now()

  constructor (readonly hooks: WaitHooks, readonly resolve: (v: unknown) => void, readonly data: unknown) {
    super()
  }

  release (): void {
    this.count?.owner.giveUp(this)
  }
}

export interface LocalStatus {
  key: string
  inflight: number
  waiting: number
}

export class LocalPermits {
  readonly #counts = new Map<string, KeyCount>()
  readonly #deadlines: Deadlines
  /** Permits held, all keys. */
  held = 0
  /** Requests waiting, all keys. */
  waiting = 0

  /** `queueSize`/`queueTimeout`: 0 without a queue. */
  constructor (public max: number, readonly queueSize: number, readonly queueTimeout: number) {
    this.#deadlines = new Deadlines((d) => this.#expire(d as Waiter))
  }

  /** A permit of `key`, or undefined when all `max` are held. */
  tryAcquire (key: string): KeyCount | undefined {
    let c = this.#counts.get(key)
    if (c === undefined) {
      c = new KeyCount(this, key)
      this.#counts.set(key, c)
    } else if (c.held >= this.max) {
      return undefined
    }
    c.held++
    this.held++
    return c
  }

  /** Queues `w` for a permit of `key`; false when there is no queue or it is full. */
  enqueue (key: string, w: Waiter): boolean {
    const c = this.#counts.get(key)
    // No count: a permit was freed since tryAcquire failed (cannot happen in one turn, but stay correct).
    if (c === undefined || this.queueSize === 0) return false
    const waiters = c.waiters ??= []
    if (waiters.length >= this.queueSize) return false
    waiters.push(w)
    w.count = c
    this.waiting++
    this.#deadlines.start(w, this.queueTimeout)
    return true
  }

  release (c: KeyCount): void {
    // Above max after `max` was lowered (learned node count): no hand-over until back under it.
    const w = c.held <= this.max ? c.waiters?.shift() : undefined
    if (w !== undefined) {
      // Handed over: the count stays, the waiter holds it now.
      this.waiting--
      this.#deadlines.settle(w)
      w.count = undefined
      w.hooks.granted(w, c)
      return
    }
    this.held--
    if (--c.held === 0) this.#counts.delete(c.key)
  }

  /** The waiter's request ended while it waited. */
  giveUp (w: Waiter): void {
    if (!this.#unqueue(w)) return
    this.#deadlines.settle(w)
    w.resolve(undefined)
  }

  #expire (w: Waiter): void {
    if (this.#unqueue(w)) w.hooks.expired(w)
  }

  #unqueue (w: Waiter): boolean {
    const c = w.count
    if (c === undefined) return false
    w.count = undefined
    const i = c.waiters!.indexOf(w)
    if (i >= 0) c.waiters!.splice(i, 1)
    if (c.waiters!.length === 0) c.waiters = undefined
    this.waiting--
    return true
  }

  /** The `n` keys with the most permits held, busiest first (for the admin API, never the request path). */
  busiest (n: number): LocalStatus[] {
    const all = [...this.#counts.values()]
    all.sort((a, b) => b.held - a.held)
    return all.slice(0, n).map((c) => ({ key: c.key, inflight: c.held, waiting: c.waiters?.length ?? 0 }))
  }

  /** Keys currently tracked (for tests of bounded memory). */
  get keys (): number {
    return this.#counts.size
  }
}
