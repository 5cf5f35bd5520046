// Deadlines of plugins' asynchronous access phases. A phase whose promise has
// not settled within its budget is expired (the runtime then applies the
// plugin's failure policy); whichever of settling and expiring comes first
// wins, and the other is ignored.
//
// One timer per distinct budget, not one per phase: deadlines with the same
// budget expire in the order they started, so each budget has a FIFO of
// pending deadlines and one armed timer for its oldest. Settling only marks
// the deadline; the FIFO drops it when it reaches the front (at once when it
// is already there, the common case). See bench/micro.ts for the numbers
// against a setTimeout per phase.
import type { RequestContext } from './request-context.js'
import type { AccessStep } from '../snapshot/types.js'

/** A pending deadline. */
export class Deadline {
  /** performance.now() at which it expires. */
  at = 0
  /** Settled or expired: nothing more happens to it. */
  done = false
  queue: DeadlineQueue | undefined = undefined
}

/** An access phase waiting on its promise: access step `index` of the request `ctx` (cleared once done, so a promise kept forever keeps no request). */
export class PendingAccess extends Deadline {
  constructor (public ctx: RequestContext | undefined, readonly step: AccessStep, readonly index: number) {
    super()
  }
}

/** The longest delay a Node timer takes (a longer one would fire at once). */
const MAX_DELAY = 2 ** 31 - 1

/** Pending deadlines of one budget, oldest first: a ring buffer, and one timer armed for the oldest. */
class DeadlineQueue {
  #ring: Array<Deadline | undefined> = new Array(16)
  #head = 0
  #size = 0
  #timer: NodeJS.Timeout | undefined = undefined
  /** Inside #fire: an expire callback that starts a deadline must not arm a second timer. */
  #firing = false
  readonly #onFire = (): void => this.#fire()

  constructor (readonly budget: number, readonly expire: (d: Deadline) => void) {}

  get size (): number { return this.#size }

  push (d: Deadline): void {
    if (this.#size === this.#ring.length) this.#grow()
    this.#ring[(this.#head + this.#size) & (this.#ring.length - 1)] = d
    this.#size++
    // Later deadlines of this budget never expire earlier: only an idle queue needs a timer.
    if (this.#timer === undefined && !this.#firing) this.#arm(d.at)
  }

  /** Drops settled deadlines from the front. */
  dropSettled (): void {
    const ring = this.#ring
    const mask = ring.length - 1
    while (this.#size > 0 && ring[this.#head]!.done) {
      ring[this.#head] = undefined
      this.#head = (this.#head + 1) & mask
      this.#size--
    }
  }

  front (): Deadline | undefined {
    return this.#size > 0 ? this.#ring[this.#head] : undefined
  }

  #grow (): void {
    const old = this.#ring
    const ring: Array<Deadline | undefined> = new Array(old.length * 2)
    for (let i = 0; i < this.#size; i++) ring[i] = old[(this.#head + i) & (old.length - 1)]
    this.#ring = ring
    this.#head = 0
  }

  #arm (at: number): void {
    this.#timer = setTimeout(this.#onFire, Math.min(MAX_DELAY, Math.max(1, Math.ceil(at - performance.now()))))
    this.#timer.unref()
  }

  #fire (): void {
    this.#timer = undefined
    // Node's timers count whole milliseconds of a clock read once per loop turn: allow them 1 ms early.
    const now = performance.now() + 1
    this.#firing = true
    try {
      while (this.#size > 0) {
        // Read afresh each time: an expire callback may start deadlines of this budget, and so grow the ring.
        const ring = this.#ring
        const d = ring[this.#head]!
        if (!d.done && d.at > now) break
        ring[this.#head] = undefined
        this.#head = (this.#head + 1) & (ring.length - 1)
        this.#size--
        if (!d.done) {
          d.done = true
          this.expire(d)
        }
      }
    } finally {
      this.#firing = false
      if (this.#size > 0) this.#arm(this.#ring[this.#head]!.at)
    }
  }

}

export class Deadlines {
  readonly #queues = new Map<number, DeadlineQueue>()

  /** `expire` is called (from a timer) for each deadline that passes before it is settled; it must not throw. */
  constructor (readonly expire: (d: Deadline) => void) {}

  /** Starts `d`'s deadline: `budget` ms (an integer of at least 1) from now. */
  start (d: Deadline, budget: number): void {
    let q = this.#queues.get(budget)
    if (q === undefined) {
      q = new DeadlineQueue(budget, this.expire)
      this.#queues.set(budget, q)
    }
    d.at = performance.now() + budget
    d.queue = q
    q.push(d)
  }

  /** `d` settled: true when in time (its deadline is cancelled), false when it had expired already. */
  settle (d: Deadline): boolean {
    if (d.done) return false
    d.done = true
    const q = d.queue!
    if (q.front() === d) q.dropSettled()
    return true
  }

  /** Deadlines started and not yet dropped (settled ones not yet at the front included). */
  get pending (): number {
    let n = 0
    for (const q of this.#queues.values()) n += q.size
    return n
  }
}
