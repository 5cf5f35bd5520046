// A concurrency limit counted in this process (scope: node). The access phase
// takes a permit of the request's key, or queues the request (queue:), or
// refuses it; the log phase — called exactly once per request however it
// ended — releases what the request holds: its permit, or its place in the
// queue. Synchronous unless the request has to wait.
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import { compileKey, type KeyFn } from '../limit-common/key.js'
import type { AccessResult, ErrorReply, PluginEnv, PluginInstance } from '../types.js'
import { LocalPermits, Waiter, type KeyCount, type WaitHooks } from './local-permits.js'
import { concurrencyMetrics, type ConcurrencyMetrics } from './metrics.js'
import type { ConcurrencyLimitOptions } from './options.js'
import { CORE_SLACK, limitedReply } from './replies.js'
import { clearHeld, holdOn, slotName, takeHeld } from './slot.js'

/** Keys the admin API lists, busiest first. */
export const STATUS_KEYS = 10

export class NodeLimit implements PluginInstance, WaitHooks {
  readonly accessTimeout: number | undefined
  readonly onAccessTimeout = 'closed' as const
  readonly #o: ConcurrencyLimitOptions
  readonly #key: KeyFn
  readonly #permits: LocalPermits
  readonly #slot: string
  readonly #limited: ErrorReply
  readonly #m: ConcurrencyMetrics

  constructor (o: ConcurrencyLimitOptions, env: PluginEnv) {
    this.#o = o
    this.#key = compileKey(o.key)
    this.#permits = new LocalPermits(o.max, o.queue?.size ?? 0, o.queue?.timeout ?? 0)
    this.#slot = slotName(env.scope)
    this.#limited = limitedReply(o.queue?.timeout)
    this.#m = concurrencyMetrics(env.metrics, env.routeId, o.name)
    // Only a queued request returns a promise; the queue's own deadline answers it first.
    this.accessTimeout = o.queue === undefined ? undefined : o.queue.timeout + CORE_SLACK
  }

  access (ctx: RequestContext): AccessResult | Promise<AccessResult> {
    const key = this.#key(ctx)
    const c = this.#permits.tryAcquire(key)
    if (c !== undefined) {
      holdOn(ctx, this.#slot, c)
      this.#m.stats.admitted++
      this.#m.inflight.value++
      return
    }
    if (this.#permits.queueSize === 0) return this.#refuse()
    let resolve!: (v: unknown) => void
    const p = new Promise<AccessResult>((r) => { resolve = r as (v: unknown) => void })
    const w = new Waiter(this, resolve, ctx)
    if (!this.#permits.enqueue(key, w)) return this.#refuse()
    holdOn(ctx, this.#slot, w)
    return p
  }

  log (ctx: RequestContext): void {
    const held = takeHeld(ctx, this.#slot)
    if (held === undefined) return
    if (!(held instanceof Waiter)) this.#m.inflight.value--
    held.release()
  }

  // --- WaitHooks: the queue's outcomes ---

  granted (w: Waiter, c: KeyCount): void {
    const ctx = w.data as RequestContext
    holdOn(ctx, this.#slot, c)
    this.#m.stats.admitted++
    this.#m.inflight.value++
    this.#m.queueWait.observe((performance.now() - w.since) / 1000)
    w.resolve(undefined)
  }

  expired (w: Waiter): void {
    clearHeld(w.data as RequestContext, this.#slot)
    this.#m.queueWait.observe((performance.now() - w.since) / 1000)
    w.resolve(this.#refuse())
  }

  #refuse (): ErrorReply {
    this.#m.stats.rejected++
    return this.#limited
  }

  status (): Record<string, unknown> {
    return {
      kind: 'limit',
      name: this.#o.name,
      scope: 'node',
      key: this.#o.key,
      max: this.#o.max,
      inflight: this.#permits.held,
      queued: this.#permits.waiting,
      ...(this.#o.queue === undefined ? {} : { queue: { size: this.#o.queue.size, timeout: this.#o.queue.timeout } }),
      busiest: this.#permits.busiest(STATUS_KEYS)
    }
  }
}
