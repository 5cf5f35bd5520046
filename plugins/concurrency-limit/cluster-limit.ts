// A concurrency limit shared through Redis by every gateway (scope: cluster).
// One round trip to take a permit (access phase), one to give it back (log
// phase); the permits this gateway holds are renewed every lease/3 by one
// timer per instance, in one pipelined call, so a request that runs longer
// than the lease keeps its permit, and a gateway that died stops renewing and
// its permits expire by themselves within the lease.
//
// Redis failures (see limit-common/redis-mode.ts): a request never waits past
// `timeout` for Redis. While Redis is unusable — connection not ready, or a
// command failed or timed out and no probe has succeeded since — requests go
// straight to the failure policy: `local` (a node-local count of
// ceil(max / expectedNodes) per key), `open` (admitted, uncounted) or `closed`
// (503 GW_LIMIT_UNAVAILABLE).
//
// Releases: a release that fails (Redis down, slow) is retried once, at the
// next renewal tick; if that fails too, the permit is no longer renewed and
// expires with its lease. A release never removes another request's permit
// (ids are unique) and runs once per request (takeHeld).
//
// With `queue:`, a request refused because all permits are held (by Redis, or
// by the local fallback) waits in this gateway's FIFO for its key instead of
// being refused at once; see cluster-queue.ts. A permit freed here goes to the
// key's oldest waiter first (its acquire is sent right after the release).
import { randomBytes, createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { Deadline, Deadlines } from '../../gateway/proxy/deadlines.js'
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import { compileKey, type KeyFn } from '../limit-common/key.js'
import { RedisMode, expectedNodes, liveNodes, type NodeCensus } from '../limit-common/redis-mode.js'
import type { AccessResult, ErrorReply, PluginEnv, PluginInstance, RedisConnection } from '../types.js'
import { ClusterQueue, type QueueHost, type Resolve, type Waiter } from './cluster-queue.js'
import { KeyCount, LocalPermits, type Held } from './local-permits.js'
import { concurrencyMetrics, type ConcurrencyMetrics } from './metrics.js'
import { STATUS_KEYS } from './node-limit.js'
import type { ConcurrencyLimitOptions } from './options.js'
import { acquire, RENEW } from './redis-scripts.js'
import { CORE_SLACK, limitedReply, unavailableReply } from './replies.js'
import { clearHeld, holdOn, slotName, takeHeld } from './slot.js'

/** Distinguishes this process's permit ids from those of an earlier run with the same node id. */
const BOOT = randomBytes(4).toString('hex')
let sequence = 0

function permitId (nodeId: string): string {
  return `${nodeId}/${BOOT}/${++sequence}`
}

/** A permit in Redis: its set and its id. */
interface RedisPermit {
  readonly key: string
  readonly id: string
}

const PENDING = 0
const HELD = 1
const DONE = 2

/** One request's permit: pending (the acquire is in flight), held, or done (released, given up, or gone to the fallback). */
class Permit extends Deadline implements Held, RedisPermit {
  state = PENDING
  resolve: Resolve | undefined = undefined

  constructor (readonly owner: ClusterLimit, readonly ctx: RequestContext, readonly key: string, readonly keyValue: string, readonly id: string) {
    super()
  }

  release (): void {
    this.owner.release(this)
  }
}

export class ClusterLimit implements PluginInstance, QueueHost {
  readonly accessTimeout: number
  readonly onAccessTimeout: 'open' | 'closed'
  readonly #o: ConcurrencyLimitOptions
  readonly #redis: RedisConnection
  readonly #mode: RedisMode
  readonly #census: NodeCensus
  readonly #key: KeyFn
  /** `${keyPrefix}concurrency-limit:<global|route id>:<hash of max>:` */
  readonly #keyBase: string
  readonly #nodeId: string
  readonly #slot: string
  readonly #limited: ErrorReply
  readonly #m: ConcurrencyMetrics
  readonly #logger: Logger
  readonly #deadlines = new Deadlines((d) => this.#timedOut(d as Permit))
  /** The local fallback (policy local). */
  readonly #local: LocalPermits
  /** Permits this gateway holds in Redis, by id: what the renewal renews. */
  readonly #held = new Map<string, Permit>()
  /** Releases that failed, retried once at the next tick. */
  #retry: RedisPermit[] = []
  /** Requests waiting for a permit (queue:). */
  readonly #queue: ClusterQueue | undefined
  readonly #timer: NodeJS.Timeout
  #closed = false

  constructor (o: ConcurrencyLimitOptions, env: PluginEnv) {
    const redis = env.redis
    if (redis === undefined) throw new Error('concurrency-limit: scope cluster needs a top-level redis: section')
    this.#o = o
    this.#redis = redis
    this.#nodeId = env.nodeId
    this.#key = compileKey(o.key)
    const limitId = env.routeId ?? 'global'
    const def = createHash('sha1').update(JSON.stringify({ max: o.max })).digest('hex').slice(0, 8)
    this.#keyBase = `${redis.keyPrefix}concurrency-limit:${limitId}:${def}:`
    this.#slot = slotName(env.scope)
    this.#limited = limitedReply(o.queue?.timeout)
    this.#m = concurrencyMetrics(env.metrics, env.routeId, o.name)
    this.#logger = env.logger.child({ limit: o.name })
    this.#mode = new RedisMode({ redis, policy: o.onRedisFailure, logger: this.#logger, stats: this.#m.stats })
    // Every cluster limit heartbeats, so that the other gateways learn this one (whatever this one's own settings).
    this.#census = liveNodes(redis, env.nodeId)
    this.#local = new LocalPermits(this.#localMax(), 0, 0)
    this.#queue = o.queue === undefined
      ? undefined
      : new ClusterQueue({
        size: o.queue.size,
        // A request joins after its own first try (up to `timeout`): all in all it waits at most queue.timeout.
        timeout: Math.max(1, o.queue.timeout - o.timeout),
        attemptTimeout: o.timeout,
        mode: this.#mode,
        acquire: (key, id) => acquire(redis.client, key, o.max, o.lease, id),
        giveBack: (key, id) => { this.#zrem({ key, id }) },
        newId: () => permitId(this.#nodeId),
        host: this
      })
    // The plugin decides itself: at `timeout` for Redis (its failure policy), or with a queue at queue.timeout in
    // all; the core's deadline is a backstop after that.
    this.accessTimeout = o.timeout + (o.queue?.timeout ?? 0) + CORE_SLACK
    this.onAccessTimeout = o.onRedisFailure === 'closed' ? 'closed' : 'open'
    this.#timer = setInterval(() => this.#tick(), Math.max(1, Math.floor(o.lease / 3)))
    this.#timer.unref()
  }

  access (ctx: RequestContext): AccessResult | Promise<AccessResult> {
    const keyValue = this.#key(ctx)
    // Others of this key wait here already: behind them (FIFO), without a Redis call of its own.
    if (this.#queue?.has(keyValue) === true) return this.#busy(ctx, keyValue)
    if (!this.#mode.tryRedis()) return this.#fallback(ctx, keyValue)
    const p = new Permit(this, ctx, this.#keyBase + keyValue, keyValue, permitId(this.#nodeId))
    const promise = new Promise<AccessResult>((resolve) => { p.resolve = resolve })
    holdOn(ctx, this.#slot, p)
    this.#deadlines.start(p, this.#o.timeout)
    acquire(this.#redis.client, p.key, this.#o.max, this.#o.lease, p.id).then(
      (r) => { this.#answered(p, r === 1) },
      (err: unknown) => { this.#failed(p, err) })
    return promise
  }

  log (ctx: RequestContext): void {
    const held = takeHeld(ctx, this.#slot)
    if (held === undefined) return
    if (held instanceof KeyCount) {
      this.#m.inflight.value--
      held.release()
      this.#queue?.wake(held.key)
      return
    }
    held.release()
  }

  /** The request's end (log phase) for a Redis permit: released, or given up while its acquire is in flight. */
  release (p: Permit): void {
    if (p.state === PENDING) {
      // The client left (or the core answered) while Redis had not: an admission arriving later is given back.
      p.state = DONE
      this.#deadlines.settle(p)
      p.resolve!(undefined)
      return
    }
    if (p.state !== HELD) return
    p.state = DONE
    this.#held.delete(p.id)
    this.#m.inflight.value--
    this.#zrem(p)
    this.#queue?.wake(p.keyValue)
  }

  #answered (p: Permit, admitted: boolean): void {
    this.#mode.succeeded()
    if (p.state !== PENDING) {
      // Too late (timed out, or the request ended): its permit goes back at once.
      if (admitted) this.#zrem(p)
      return
    }
    this.#deadlines.settle(p)
    if (admitted) {
      p.state = HELD
      this.#held.set(p.id, p)
      this.#m.stats.admitted++
      this.#m.inflight.value++
      p.resolve!(undefined)
    } else {
      p.state = DONE
      takeHeld(p.ctx, this.#slot)
      p.resolve!(this.#busy(p.ctx, p.keyValue))
    }
  }

  #failed (p: Permit, err: unknown): void {
    this.#mode.failed((err as Error)?.message ?? String(err))
    if (p.state !== PENDING) return
    this.#deadlines.settle(p)
    p.state = DONE
    takeHeld(p.ctx, this.#slot)
    p.resolve!(this.#fallback(p.ctx, p.keyValue))
  }

  #timedOut (p: Permit): void {
    this.#mode.failed(`no answer within ${this.#o.timeout}ms`)
    if (p.state !== PENDING) return
    p.state = DONE
    takeHeld(p.ctx, this.#slot)
    p.resolve!(this.#fallback(p.ctx, p.keyValue))
  }

  /** The failure policy, for a request Redis cannot decide on. */
  #fallback (ctx: RequestContext, keyValue: string): AccessResult | Promise<AccessResult> {
    switch (this.#o.onRedisFailure) {
      case 'open':
        this.#m.stats.admitted++
        return
      case 'closed':
        this.#m.stats.rejected++
        return unavailableReply
      default:
        if (!this.#takeLocal(ctx, keyValue)) return this.#busy(ctx, keyValue)
    }
  }

  /** A permit of the local fallback, held by the request; false when all its permits are held. */
  #takeLocal (ctx: RequestContext, keyValue: string): boolean {
    this.#local.max = this.#localMax()
    const c = this.#local.tryAcquire(keyValue)
    if (c === undefined) return false
    holdOn(ctx, this.#slot, c)
    this.#m.stats.admitted++
    this.#m.inflight.value++
    return true
  }

  /** Every permit of the key is held: wait in the queue (if there is one with room), else 503. */
  #busy (ctx: RequestContext, keyValue: string): AccessResult | Promise<AccessResult> {
    if (this.#queue !== undefined) {
      let resolve!: Resolve
      const promise = new Promise<AccessResult>((r) => { resolve = r })
      const w = this.#queue.join(ctx, this.#keyBase + keyValue, keyValue, resolve)
      if (w !== undefined) {
        holdOn(ctx, this.#slot, w)
        return promise
      }
    }
    this.#m.stats.rejected++
    return this.#limited
  }

  // --- QueueHost: the outcomes of a wait ---

  admitted (w: Waiter, id: string): void {
    const p = new Permit(this, w.ctx, this.#keyBase + w.keyValue, w.keyValue, id)
    p.state = HELD
    this.#held.set(id, p)
    holdOn(w.ctx, this.#slot, p)
    this.#m.stats.admitted++
    this.#m.inflight.value++
    this.#waited(w)
    w.resolve(undefined)
  }

  fallback (w: Waiter): boolean {
    if (this.#o.onRedisFailure === 'local') {
      if (!this.#takeLocal(w.ctx, w.keyValue)) return false
      this.#waited(w)
      w.resolve(undefined)
      return true
    }
    clearHeld(w.ctx, this.#slot)
    this.#waited(w)
    w.resolve(this.#fallback(w.ctx, w.keyValue))
    return true
  }

  expired (w: Waiter): void {
    clearHeld(w.ctx, this.#slot)
    this.#m.stats.rejected++
    this.#waited(w)
    w.resolve(this.#limited)
  }

  #waited (w: Waiter): void {
    this.#m.queueWait.observe((performance.now() - w.since) / 1000)
  }

  #localMax (): number {
    return Math.ceil(this.#o.max / expectedNodes(this.#o.expectedNodes, this.#census))
  }

  #zrem (p: RedisPermit): void {
    if (this.#redis.state !== 'ready') {
      this.#retry.push(p)
      return
    }
    this.#redis.client.zrem(p.key, p.id).then(() => { this.#mode.succeeded() }, (err: unknown) => {
      this.#mode.failed((err as Error)?.message ?? String(err))
      this.#retry.push(p)
    })
  }

  /** Every lease/3: renews the permits held, retries the releases that failed (once). */
  #tick (): void {
    if ((this.#held.size === 0 && this.#retry.length === 0) || this.#redis.state !== 'ready') {
      if (this.#closed && this.#done()) clearInterval(this.#timer)
      else if (!this.#closed && this.#mode.mode !== 'shared' && this.#mode.tryRedis()) this.#probe()
      return
    }
    const pipeline = this.#redis.client.pipeline()
    const byKey = new Map<string, string[]>()
    for (const p of this.#held.values()) {
      const ids = byKey.get(p.key)
      if (ids === undefined) byKey.set(p.key, [p.id])
      else ids.push(p.id)
    }
    for (const [key, ids] of byKey) pipeline.eval(RENEW, 1, key, this.#o.lease, ...ids)
    const retry = this.#retry
    this.#retry = []
    for (const p of retry) pipeline.zrem(p.key, p.id)
    pipeline.exec().then((results) => {
      const failed = results?.find(([err]) => err !== null)
      if (failed !== undefined) this.#mode.failed(String(failed[0]))
      else this.#mode.succeeded()
    }, (err: unknown) => {
      // Not sent, or no answer: the leases run on; the retried releases are left to them.
      this.#mode.failed((err as Error)?.message ?? String(err))
    })
  }

  /** Without traffic, no request probes Redis after a failed command: the tick does, so the mode shows the truth. */
  #probe (): void {
    this.#redis.client.ping().then(() => { this.#mode.succeeded() }, (err: unknown) => {
      this.#mode.failed((err as Error)?.message ?? String(err))
    })
  }

  status (): Record<string, unknown> {
    const perKey = new Map<string, number>()
    for (const p of this.#held.values()) perKey.set(p.keyValue, (perKey.get(p.keyValue) ?? 0) + 1)
    const busiest = [...perKey].sort((a, b) => b[1] - a[1]).slice(0, STATUS_KEYS).map(([key, inflight]) => ({ key, inflight }))
    return {
      kind: 'limit',
      name: this.#o.name,
      scope: 'cluster',
      key: this.#o.key,
      max: this.#o.max,
      mode: this.#mode.mode,
      modeReason: this.#mode.reason,
      modeSince: new Date(this.#mode.since).toISOString(),
      onRedisFailure: this.#o.onRedisFailure,
      lease: this.#o.lease,
      timeout: this.#o.timeout,
      expectedNodes: expectedNodes(this.#o.expectedNodes, this.#census),
      /** Permits this gateway holds in Redis (the cluster-wide count is in Redis). */
      inflight: this.#held.size,
      busiest,
      local: { max: this.#local.max, inflight: this.#local.held, busiest: this.#local.busiest(STATUS_KEYS) },
      pendingReleases: this.#retry.length,
      queued: this.#queue?.waiting ?? 0,
      ...(this.#o.queue === undefined ? {} : { queue: { size: this.#o.queue.size, timeout: this.#o.queue.timeout } })
    }
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#mode.close()
    this.#census.release()
    // Retired once its requests are done: one last tick gives back what failed, then the timer stops.
    this.#tick()
    if (this.#done()) clearInterval(this.#timer)
  }

  /** Holds no permit and nobody waits for one (a retired instance's waiters may still be admitted: renewed too). */
  #done (): boolean {
    return this.#held.size === 0 && (this.#queue?.waiting ?? 0) === 0
  }
}
