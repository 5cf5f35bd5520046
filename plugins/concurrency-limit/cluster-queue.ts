// The wait queue of a cluster-scope concurrency limit (`queue: {size, timeout}`).
// A request that Redis refused (all `max` permits held somewhere in the
// cluster) waits here, in a FIFO per key on this gateway, bounded by `size`
// per key and by `timeout`. Each key's queue is served by at most one acquire
// in flight at a time, for its oldest waiter, so Redis sees at most one call
// per key per gateway per poll, however many requests wait:
//   - when this gateway frees a permit of the key (wake), at once;
//   - otherwise on a poll every ~25 ms (jittered, so gateways do not beat in step);
//   - at once again after an admission (more permits may be free).
// An admission goes to the oldest waiter still there; if none is left (client
// gone, timed out), the permit is given back at once. While Redis cannot be
// used (see RedisMode), the host's failure policy decides for the head of the
// queue instead (local: a permit of the local fallback, or keep waiting).
//
// Fairness is FIFO within a gateway only: across gateways, whoever's acquire
// reaches Redis first after a permit frees up gets it.
import { Deadline, Deadlines } from '../../gateway/proxy/deadlines.js'
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import type { RedisMode } from '../limit-common/redis-mode.js'
import type { AccessResult } from '../types.js'
import type { Held } from './local-permits.js'

/** Settles a request's access phase (with a reply, or with a decision still to come). */
export type Resolve = (v: AccessResult | Promise<AccessResult>) => void

/** Mean ms between two acquires of a key's queue when no permit is freed here. */
export const POLL_MS = 25

/** A request waiting for a permit. release(): its request ended while it waited (client gone). */
export class Waiter extends Deadline implements Held {
  keyQueue: KeyQueue | undefined = undefined
  readonly since = performance.now()

  constructor (readonly owner: ClusterQueue, readonly ctx: RequestContext, readonly keyValue: string,
    readonly resolve: Resolve) {
    super()
  }

  release (): void {
    this.owner.giveUp(this)
  }
}

/** The waiters of one key, and the one acquire that serves them. */
class KeyQueue {
  readonly waiters: Waiter[] = []
  attempt: Attempt | undefined = undefined
  timer: NodeJS.Timeout | undefined = undefined
  /** A permit of the key was freed here while an attempt was in flight: if refused, try again at once. */
  freed = false

  constructor (readonly key: string, readonly keyValue: string) {}
}

/** One acquire in flight for a key's queue, under a fresh permit id. */
class Attempt extends Deadline {
  constructor (readonly q: KeyQueue, readonly id: string) {
    super()
  }
}

/** What the limit does with the outcomes of a wait. */
export interface QueueHost {
  /** Redis admitted `w` under permit `id`. */
  admitted(w: Waiter, id: string): void
  /** Redis cannot be used now: answer `w` by the failure policy, or return false to keep it waiting (local fallback full). */
  fallback(w: Waiter): boolean
  /** Still waiting at the queue timeout. */
  expired(w: Waiter): void
}

export interface ClusterQueueOptions {
  /** Waiters per key. */
  size: number
  /** ms a request waits. */
  timeout: number
  /** ms budget of one acquire. */
  attemptTimeout: number
  mode: RedisMode
  /** The Redis acquire: 1 when admitted. */
  acquire: (key: string, id: string) => Promise<unknown>
  /** Gives back a permit admitted after nobody waited for it any more. */
  giveBack: (key: string, id: string) => void
  newId: () => string
  host: QueueHost
}

export class ClusterQueue {
  readonly #o: ClusterQueueOptions
  readonly #queues = new Map<string, KeyQueue>()
  readonly #waits = new Deadlines((d) => this.#expire(d as Waiter))
  readonly #attempts = new Deadlines((d) => this.#attemptTimedOut(d as Attempt))
  /** Requests waiting, all keys. */
  waiting = 0

  constructor (o: ClusterQueueOptions) {
    this.#o = o
  }

  /** Someone waits (or an acquire is in flight) for a permit of this key: a new request queues behind them. */
  has (keyValue: string): boolean {
    return this.#queues.has(keyValue)
  }

  /** Queues a request for a permit of `key`; undefined when this key's queue is full. */
  join (ctx: RequestContext, key: string, keyValue: string, resolve: Resolve): Waiter | undefined {
    let q = this.#queues.get(keyValue)
    if (q === undefined) {
      q = new KeyQueue(key, keyValue)
      this.#queues.set(keyValue, q)
    } else if (q.waiters.length >= this.#o.size) {
      return undefined
    }
    const w = new Waiter(this, ctx, keyValue, resolve)
    w.keyQueue = q
    q.waiters.push(w)
    this.waiting++
    this.#waits.start(w, this.#o.timeout)
    // Just refused: the next try is at the poll, or when a permit is freed here.
    if (q.attempt === undefined && q.timer === undefined) this.#arm(q)
    return w
  }

  /** This gateway freed a permit of the key: its oldest waiter tries for it now. */
  wake (keyValue: string): void {
    const q = this.#queues.get(keyValue)
    if (q === undefined) return
    if (q.attempt !== undefined) q.freed = true
    else this.#serve(q)
  }

  /** The waiter's request ended while it waited. An acquire in flight for it serves the next one, or is given back. */
  giveUp (w: Waiter): void {
    if (!this.#unqueue(w)) return
    this.#waits.settle(w)
    w.resolve(undefined)
  }

  /** Serves the head of the queue: one acquire, or the failure policy while Redis cannot be used. */
  #serve (q: KeyQueue): void {
    if (q.timer !== undefined) {
      clearTimeout(q.timer)
      q.timer = undefined
    }
    if (q.attempt !== undefined) return
    while (q.waiters.length > 0) {
      if (this.#o.mode.tryRedis()) {
        this.#attempt(q)
        return
      }
      const w = q.waiters[0]!
      if (!this.#o.host.fallback(w)) break
      this.#dequeueHead(q)
    }
    this.#idle(q)
  }

  /** No acquire in flight: poll later while some wait, else forget the key. */
  #idle (q: KeyQueue): void {
    if (q.waiters.length > 0) this.#arm(q)
    else if (q.attempt === undefined) this.#forget(q)
  }

  #arm (q: KeyQueue): void {
    if (q.timer !== undefined) return
    q.timer = setTimeout(() => {
      q.timer = undefined
      this.#serve(q)
    }, Math.round(POLL_MS * (0.8 + 0.4 * Math.random())))
    q.timer.unref()
  }

  #attempt (q: KeyQueue): void {
    const a = new Attempt(q, this.#o.newId())
    q.attempt = a
    q.freed = false
    this.#attempts.start(a, this.#o.attemptTimeout)
    this.#o.acquire(q.key, a.id).then(
      (r) => { this.#answered(a, r === 1) },
      (err: unknown) => { this.#failed(a, err) })
  }

  #answered (a: Attempt, admitted: boolean): void {
    this.#o.mode.succeeded()
    if (!this.#attempts.settle(a)) {
      // Answered after its deadline: nobody takes it, give it back at once.
      if (admitted) this.#o.giveBack(a.q.key, a.id)
      return
    }
    const q = a.q
    q.attempt = undefined
    if (admitted) {
      const w = q.waiters[0]
      if (w === undefined) {
        this.#o.giveBack(q.key, a.id)
      } else {
        this.#dequeueHead(q)
        this.#o.host.admitted(w, a.id)
      }
      this.#serve(q)
    } else if (q.freed) {
      this.#serve(q)
    } else {
      this.#idle(q)
    }
  }

  #failed (a: Attempt, err: unknown): void {
    this.#o.mode.failed((err as Error)?.message ?? String(err))
    if (!this.#attempts.settle(a)) return
    a.q.attempt = undefined
    // Redis is now out of use: the failure policy decides for the waiters.
    this.#serve(a.q)
  }

  #attemptTimedOut (a: Attempt): void {
    this.#o.mode.failed(`no answer within ${this.#o.attemptTimeout}ms`)
    a.q.attempt = undefined
    this.#serve(a.q)
  }

  #expire (w: Waiter): void {
    if (this.#unqueue(w)) this.#o.host.expired(w)
  }

  #dequeueHead (q: KeyQueue): void {
    const w = q.waiters.shift()!
    w.keyQueue = undefined
    this.waiting--
    this.#waits.settle(w)
  }

  #unqueue (w: Waiter): boolean {
    const q = w.keyQueue
    if (q === undefined) return false
    w.keyQueue = undefined
    const i = q.waiters.indexOf(w)
    if (i >= 0) q.waiters.splice(i, 1)
    this.waiting--
    if (q.waiters.length === 0 && q.attempt === undefined) this.#forget(q)
    return true
  }

  #forget (q: KeyQueue): void {
    if (q.timer !== undefined) clearTimeout(q.timer)
    q.timer = undefined
    if (this.#queues.get(q.keyValue) === q) this.#queues.delete(q.keyValue)
  }
}
