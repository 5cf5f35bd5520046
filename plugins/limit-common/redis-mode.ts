// Where a cluster-scope limit stands with Redis: 'shared' (Redis decides), or
// the limit's failure policy (`onRedisFailure`: 'local', 'open' or 'closed')
// while Redis cannot be used. One RedisMode per limit instance.
//
// Redis is unusable while the connection is not 'ready' (env.redis.state and
// onStateChange), and also after a command failed or timed out while it was
// 'ready' (slow, frozen, half-open server: the connection only turns 'down'
// later, see services/redis.ts deadAfter). After such a failure the requests
// go to the fallback without trying Redis; one request per `retryAfter` ms
// probes it, and the first command that succeeds returns the limit to shared
// mode. So the mode changes on transitions only: each change is logged once
// and shown in gateway_limit_redis_mode, never per request.
//
// The learned node count (liveNodes below): every gateway that has a
// cluster-scope limit heartbeats its node id into a Redis sorted set once a
// second (scored by Redis's own clock, so gateways' clocks do not matter);
// the count of ids seen within the last LIVE_MS is cached, and kept as it was
// while Redis is unreachable: that is when the `local` fallback needs it.
import type { Logger } from 'pino'
import type { RedisConnection, RedisState } from '../types.js'
import type { LimitStats } from './metrics.js'

export type FailurePolicy = 'local' | 'open' | 'closed'
export type LimitMode = 'shared' | FailurePolicy

/** Value of gateway_limit_redis_mode per mode. */
export const MODE_VALUE: Readonly<Record<LimitMode, number>> = { shared: 0, local: 1, open: 2, closed: 3 }

/** JSON Schema of `onRedisFailure`. */
export const failurePolicySchema = { type: 'string', enum: ['local', 'open', 'closed'], default: 'local' } as const

export interface RedisModeOptions {
  redis: RedisConnection
  policy: FailurePolicy
  /** Logs each change of mode (once per change). */
  logger: Logger
  /** The limit's metrics entry: its gauge follows the mode. */
  stats: LimitStats
  /** ms after a failed command before one request tries Redis again (default 250). */
  retryAfter?: number
  now?: () => number
}

export class RedisMode {
  readonly policy: FailurePolicy
  #state: RedisState
  /** A command failed while the connection was ready, and none succeeded since. */
  #failing = false
  #retryAt = 0
  #mode: LimitMode
  #reason: string
  #since: number
  #closed = false
  readonly #retryAfter: number
  readonly #now: () => number
  readonly #logger: Logger
  readonly #stats: LimitStats
  readonly #unsubscribe: () => void

  constructor (opts: RedisModeOptions) {
    this.policy = opts.policy
    this.#retryAfter = opts.retryAfter ?? 250
    this.#now = opts.now ?? Date.now
    this.#logger = opts.logger
    this.#stats = opts.stats
    this.#state = opts.redis.state
    this.#mode = this.#state === 'ready' ? 'shared' : this.policy
    this.#reason = this.#state === 'ready' ? 'redis ready' : `redis ${this.#state}`
    this.#since = this.#now()
    this.#stats.modeHolders++
    this.#stats.mode = MODE_VALUE[this.#mode]
    this.#unsubscribe = opts.redis.onStateChange((state) => {
      this.#state = state
      // A new connection starts clean: its first command is the test.
      if (state === 'ready') this.#failing = false
      this.#update(`redis ${state}`)
    })
  }

  get mode (): LimitMode { return this.#mode }
  /** Why the mode is what it is ('redis ready', 'redis down', 'command failed: ...'). */
  get reason (): string { return this.#reason }
  /** ms timestamp of the last change of mode. */
  get since (): number { return this.#since }

  /**
   * May this request use Redis? In shared mode, yes. After a failed command,
   * one request per `retryAfter` ms (a probe); the others use the fallback
   * without waiting. Never while the connection is not ready.
   */
  tryRedis (): boolean {
    if (this.#state !== 'ready') return false
    if (!this.#failing) return true
    const now = this.#now()
    if (now < this.#retryAt) return false
    this.#retryAt = now + this.#retryAfter
    return true
  }

  /** A command answered: back to shared mode if it was failing. */
  succeeded (): void {
    if (!this.#failing) return
    this.#failing = false
    this.#update('redis answered')
  }

  /** A command failed or timed out (`why`): the fallback until a probe succeeds. */
  failed (why: string): void {
    this.#retryAt = this.#now() + this.#retryAfter
    if (this.#failing || this.#state !== 'ready') return
    this.#failing = true
    this.#update(`command failed: ${why}`)
  }

  #update (reason: string): void {
    if (this.#closed) return
    const next: LimitMode = this.#state === 'ready' && !this.#failing ? 'shared' : this.policy
    if (next === this.#mode) return
    const previous = this.#mode
    this.#mode = next
    this.#reason = reason
    this.#since = this.#now()
    this.#stats.mode = MODE_VALUE[next]
    if (next === 'shared') this.#logger.info({ mode: next, previous, reason }, 'limit: redis mode shared')
    else this.#logger.warn({ mode: next, previous, reason }, `limit: redis unavailable, mode ${next}`)
  }

  /** Stops following the connection (the instance was retired). Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe()
    this.#stats.modeHolders--
  }
}

/** A gateway that has not heartbeat for this long is no longer counted. */
export const LIVE_MS = 3000
export const HEARTBEAT_MS = 1000

// KEYS[1] the sorted set; ARGV[1] node id, ARGV[2] LIVE_MS. Scores are Redis's clock (ms).
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - live)
redis.call('PEXPIRE', KEYS[1], live * 2)
return redis.call('ZCARD', KEYS[1])`

/** The number of live gateways, learned through Redis; shared by the limits of a process. */
export interface NodeCensus {
  /** Gateways seen alive at the last heartbeat (this one included); undefined until one succeeded. */
  readonly count: number | undefined
  /** The limit no longer needs it; the last release stops the heartbeat. */
  release(): void
}

class Census {
  count: number | undefined = undefined
  users = 0
  readonly #timer: NodeJS.Timeout
  readonly #key: string

  constructor (readonly redis: RedisConnection, readonly nodeId: string) {
    this.#key = `${redis.keyPrefix}gateways`
    this.#timer = setInterval(() => this.beat(), HEARTBEAT_MS)
    this.#timer.unref()
    this.beat()
  }

  beat (): void {
    if (this.redis.state !== 'ready') return
    this.redis.client.eval(HEARTBEAT, 1, this.#key, this.nodeId, LIVE_MS).then((n) => {
      if (typeof n === 'number' && n >= 1) this.count = n
    }, () => {
      // Unreachable: keep the last count (the fallback relies on it); the mode tracker reports the outage.
    })
  }

  stop (): void {
    clearInterval(this.#timer)
    // Leave at once rather than after LIVE_MS (best effort).
    if (this.redis.state === 'ready') this.redis.client.zrem(this.#key, this.nodeId).catch(() => {})
  }
}

const censuses = new WeakMap<RedisConnection, Map<string, Census>>()

/** Joins the heartbeat of `nodeId` on `redis` (one per connection and node id, however many limits use it). */
export function liveNodes (redis: RedisConnection, nodeId: string): NodeCensus {
  let byNode = censuses.get(redis)
  if (byNode === undefined) {
    byNode = new Map()
    censuses.set(redis, byNode)
  }
  let c = byNode.get(nodeId)
  if (c === undefined) {
    c = new Census(redis, nodeId)
    byNode.set(nodeId, c)
  }
  const census = c
  const map = byNode
  census.users++
  let released = false
  return {
    get count () { return census.count },
    release () {
      if (released) return
      released = true
      if (--census.users > 0) return
      census.stop()
      map.delete(nodeId)
    }
  }
}

/**
 * The number of gateways a cluster limit is split over in `local` mode:
 * `configured` (expectedNodes) when given, else the learned count, else 1.
 */
export function expectedNodes (configured: number | undefined, census: NodeCensus | undefined): number {
  return configured ?? census?.count ?? 1
}
