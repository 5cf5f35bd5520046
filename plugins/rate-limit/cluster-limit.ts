// A rate limit shared by every gateway through Redis (scope: cluster): leased
// token blocks (lease-table.ts) on the Redis counters (redis-store.ts), the
// burst bucket as a second leased counter, and the failure policy while Redis
// cannot be used (limit-common/redis-mode.ts):
//   local   this gateway enforces ceil(rate / nodes) (and ceil(burst / nodes))
//           in memory, nodes = expectedNodes, or the learned count, or 1
//   open    admit
//   closed  refuse (503 GW_LIMIT_UNAVAILABLE)
// A request never waits for Redis past `timeout`: then it gets the policy.
// What `local` admitted is charged to Redis with the next block (a window's
// worth at most; lease-table.ts), so a blip does not add to the window's total.
// Tokens already in hand are spent whatever the mode (Redis counted them).
// When `local` takes a key over, the key's local counters start from what this
// gateway spent through Redis in the current window (rate and burst, each at
// most its local share, ending with that window): the gateway admits at most
// its share in the window of the outage, not its share on top of what it had
// already admitted.
import type { Logger } from 'pino'
import type { RedisConnection } from '../types.js'
import type { LimitStats } from '../limit-common/metrics.js'
import { expectedNodes, liveNodes, RedisMode, type FailurePolicy, type NodeCensus } from '../limit-common/redis-mode.js'
import { ADMIT, FETCH, LeaseTable, REJECT, UNAVAILABLE, type LeaseHooks } from './lease-table.js'
import { NodeLimit } from './node-limit.js'
import { RedisTokenStore } from './redis-store.js'

/** A decision reached after waiting for Redis, with the figures of the RateLimit fields. */
export interface Decision {
  r: number
  remaining: number
  resetMs: number
  burstRemaining: number
  burstResetMs: number
}

export interface ClusterLimitOptions {
  rate: number
  windowMs: number
  burst: number
  burstWindowMs: number
  timeout: number
  policy: FailurePolicy
  expectedNodes: number | undefined
  /** Redis key of a limit key, for the rate ('rate') and the burst bucket ('burst'). */
  storeKey: (key: string, bucket: 'rate' | 'burst') => string
  /** Key prefix of the local fallback's counters. */
  localPrefix: string
}

export interface ClusterEnv {
  redis: RedisConnection
  nodeId: string
  logger: Logger
  stats: LimitStats
  now?: () => number
}

export class ClusterLimit {
  remaining = 0
  resetMs = 0
  burstRemaining = 0
  burstResetMs = 0
  readonly main: LeaseTable
  readonly bucket: LeaseTable | undefined
  readonly local: NodeLimit
  readonly mode: RedisMode
  readonly census: NodeCensus
  readonly #o: ClusterLimitOptions
  readonly #now: () => number
  readonly #mayRetry = (): boolean => this.mode.tryRedis()

  constructor (o: ClusterLimitOptions, env: ClusterEnv) {
    this.#o = o
    this.#now = env.now ?? Date.now
    this.mode = new RedisMode({ redis: env.redis, policy: o.policy, logger: env.logger, stats: env.stats, now: this.#now })
    // Every gateway heartbeats (so that others learn it), whether or not this limit uses the count.
    this.census = liveNodes(env.redis, env.nodeId)
    const hooks: LeaseHooks = {
      succeeded: () => this.mode.succeeded(),
      failed: (why) => this.mode.failed(why),
      nodes: () => this.nodes()
    }
    this.main = new LeaseTable(new RedisTokenStore(env.redis.client, o.rate, o.windowMs), {
      storeKey: (k) => o.storeKey(k, 'rate'), hooks, now: this.#now
    })
    this.bucket = o.burst > 0
      ? new LeaseTable(new RedisTokenStore(env.redis.client, o.burst, o.burstWindowMs), { storeKey: (k) => o.storeKey(k, 'burst'), hooks, now: this.#now })
      : undefined
    this.local = new NodeLimit(o.rate, o.windowMs, o.burst, o.burstWindowMs, o.localPrefix)
  }

  /** The gateways the limit is shared by: expectedNodes, else learned, else 1. */
  nodes (): number {
    return expectedNodes(this.#o.expectedNodes, this.census)
  }

  /** ADMIT, REJECT or UNAVAILABLE with the fields set, or a promise of a decision when a block is fetched. */
  check (key: string): number | Promise<Decision> {
    const now = this.#now()
    const r = this.main.spend(key, now)
    if (r === ADMIT) return this.#admitted(key, now)
    if (r === REJECT) return this.#burst(key, now, now + this.#o.timeout)
    if (!this.mode.tryRedis()) return this.#fallback(key, false)
    return this.#wait(key, now + this.#o.timeout)
  }

  async #wait (key: string, deadline: number): Promise<Decision> {
    const r = await this.main.acquire(key, deadline, this.#mayRetry)
    const now = this.#now()
    let d: number | Promise<Decision>
    if (r === ADMIT) {
      this.main.describe(key, now)
      d = this.#admitted(key, now)
    } else if (r === REJECT) {
      d = this.#burst(key, now, deadline)
    } else {
      d = this.#fallback(key, false)
    }
    return typeof d === 'number' ? this.#decision(d) : await d
  }

  #admitted (key: string, now: number): number {
    this.remaining = this.main.remaining
    this.resetMs = this.main.resetMs
    if (this.bucket !== undefined) {
      this.bucket.describe(key, now)
      this.burstRemaining = this.bucket.remaining
      this.burstResetMs = this.bucket.resetMs
    }
    return ADMIT
  }

  /** The rate of the window is used up (Redis said so): the burst bucket, if any. */
  #burst (key: string, now: number, deadline: number): number | Promise<Decision> {
    this.remaining = 0
    this.resetMs = this.main.resetMs
    const bucket = this.bucket
    if (bucket === undefined) return REJECT
    const r = bucket.spend(key, now)
    if (r !== FETCH) return this.#fromBucket(r)
    if (!this.mode.tryRedis()) return this.#fallback(key, true)
    return this.#waitBurst(key, deadline)
  }

  async #waitBurst (key: string, deadline: number): Promise<Decision> {
    const r = await this.bucket!.acquire(key, deadline, this.#mayRetry)
    const now = this.#now()
    this.main.describe(key, now)
    this.remaining = 0
    this.resetMs = this.main.resetMs
    if (r === UNAVAILABLE) return this.#decision(this.#fallback(key, true))
    this.bucket!.describe(key, now)
    return this.#decision(this.#fromBucket(r))
  }

  #fromBucket (r: number): number {
    this.burstRemaining = this.bucket!.remaining
    this.burstResetMs = this.bucket!.resetMs
    return r
  }

  /** Redis cannot be used for this request: the failure policy. */
  #fallback (key: string, burstOnly: boolean): number {
    const policy = this.#o.policy
    if (policy === 'open') return ADMIT
    if (policy === 'closed') return UNAVAILABLE
    const nodes = this.nodes()
    const local = this.local
    local.rate = Math.ceil(this.#o.rate / nodes)
    local.burst = Math.ceil(this.#o.burst / nodes)
    const now = this.#now()
    this.#handOver(key, now)
    const ok = burstOnly ? local.burstOnly(key) : local.check(key)
    if (ok) (burstOnly ? this.bucket! : this.main).owe(key, now)
    if (!burstOnly) {
      this.remaining = local.remaining
      this.resetMs = local.resetMs
    }
    this.burstRemaining = local.burstRemaining
    this.burstResetMs = local.burstResetMs
    return ok ? ADMIT : REJECT
  }

  /** Counts in the local fallback what this gateway spent through Redis for `key` in the current windows and has not counted there yet. */
  #handOver (key: string, now: number): void {
    const local = this.local
    const spent = this.main.unreported(key, now)
    if (spent > 0) local.main.add(key, spent, local.rate, this.main.windowLeftMs)
    const bucket = this.bucket
    if (bucket === undefined) return
    const burstSpent = bucket.unreported(key, now)
    if (burstSpent > 0) local.bucket!.add(key, burstSpent, local.burst, bucket.windowLeftMs)
  }

  #decision (r: number): Decision {
    return { r, remaining: this.remaining, resetMs: this.resetMs, burstRemaining: this.burstRemaining, burstResetMs: this.burstResetMs }
  }

  close (): void {
    this.main.close()
    this.bucket?.close()
    this.mode.close()
    this.census.release()
  }
}
