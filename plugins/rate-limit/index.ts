// rate-limit: at most `rate` requests per `window` (plus an optional burst)
// per key, in this process (scope: node) or across every gateway sharing a
// Redis (scope: cluster). Refusals: 429 GW_RATE_LIMITED with Retry-After and
// the RateLimit fields (fields.ts); 503 GW_LIMIT_UNAVAILABLE when Redis is
// unusable and onRedisFailure is `closed`. The core reuses an instance, with
// its counters, while its options are unchanged.
import type { OutgoingHttpHeaders } from 'node:http'
import { errorReply } from '../../gateway/errors.js'
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import type { AccessResult, ErrorReply, PluginDefinition, PluginInstance } from '../types.js'
import { compileKey } from '../limit-common/key.js'
import { limitStats } from '../limit-common/metrics.js'
import { ClusterLimit, type Decision } from './cluster-limit.js'
import { appendField, RateLimitFields, seconds } from './fields.js'
import { ADMIT, REJECT } from './lease-table.js'
import { NodeLimit } from './node-limit.js'
import { burstWindowOf, checkRateLimit, rateLimitSchema, type RateLimitOptions } from './options.js'
import { definitionHash, storeKeys } from './store-keys.js'

const NAME = 'rate-limit'
/** status(): how many of the busiest keys a node-scope limit lists. */
const BUSIEST = 5

const UNAVAILABLE_REPLY: ErrorReply = Object.freeze(errorReply(503, 'GW_LIMIT_UNAVAILABLE',
  'The limit cannot be checked (its shared store is unavailable)', { 'retry-after': '1' }))

let instances = 0

export const rateLimitPlugin: PluginDefinition<RateLimitOptions> = {
  name: NAME,
  // Before plugins that do work for a request (a refused one should cost little).
  priority: 1002,
  schema: rateLimitSchema,
  check: checkRateLimit,
  create (o, env) {
    const name = o.name ?? NAME
    const stats = limitStats(env.metrics, env.routeId, name)
    const keyOf = compileKey(o.key)
    const burstWindow = burstWindowOf(o)
    const fields = new RateLimitFields(name, o.rate, o.window, o.burst, burstWindow)
    /** Where the access phase leaves the RateLimit field of an admitted request for the response phase. */
    const slot = `${NAME}#${++instances}`
    const hash = definitionHash(o)
    const localPrefix = `${env.routeId ?? '*'}:${hash}`
    let limit: NodeLimit | ClusterLimit
    if (o.scope === 'cluster') {
      const redis = env.redis
      if (redis === undefined) throw new Error('scope: cluster needs a top-level redis: section')
      limit = new ClusterLimit({
        rate: o.rate,
        windowMs: o.window,
        burst: o.burst,
        burstWindowMs: burstWindow,
        timeout: o.timeout,
        policy: o.onRedisFailure,
        expectedNodes: o.expectedNodes,
        storeKey: storeKeys(redis.keyPrefix, env.routeId, hash),
        localPrefix
      }, { redis, nodeId: env.nodeId, logger: env.logger, stats })
    } else {
      limit = new NodeLimit(o.rate, o.window, o.burst, burstWindow, localPrefix)
    }
    const lim = limit
    const limitedMessage = `Rate limit exceeded: at most ${o.rate} requests per ${o.window / 1000}s`

    const refuse = (d: Decision | NodeLimit | ClusterLimit): ErrorReply => {
      stats.rejected++
      const retry = Math.max(1, seconds(o.burst > 0 ? Math.min(d.resetMs, d.burstResetMs) : d.resetMs))
      return errorReply(429, 'GW_RATE_LIMITED', limitedMessage, {
        'retry-after': String(retry),
        'ratelimit-policy': fields.policy,
        ratelimit: fields.current(0, d.resetMs, d.burstRemaining, d.burstResetMs)
      })
    }
    const admit = (ctx: RequestContext, d: Decision | NodeLimit | ClusterLimit): undefined => {
      stats.admitted++
      if (o.headers) (ctx.state ??= {})[slot] = fields.current(d.remaining, d.resetMs, d.burstRemaining, d.burstResetMs)
      return undefined
    }
    const settle = (ctx: RequestContext, d: Decision): AccessResult => {
      if (d.r === ADMIT) return admit(ctx, d)
      if (d.r === REJECT) return refuse(d)
      stats.rejected++
      return UNAVAILABLE_REPLY
    }

    const instance: PluginInstance = {
      // The core's own deadline, a backstop behind the limiter's (which answers by the policy at `timeout`).
      accessTimeout: o.timeout + 2,
      onAccessTimeout: o.onRedisFailure === 'closed' ? 'closed' : 'open',
      access: lim instanceof NodeLimit
        ? (ctx) => {
            const key = keyOf(ctx)
            if (!lim.check(key)) return refuse(lim)
            if (o.headers && o.burst > 0) lim.peekBurst(key)
            return admit(ctx, lim)
          }
        : (ctx) => {
            const r = lim.check(keyOf(ctx))
            if (r === ADMIT) return admit(ctx, lim)
            if (r === REJECT) return refuse(lim)
            if (typeof r === 'number') {
              stats.rejected++
              return UNAVAILABLE_REPLY
            }
            return r.then((d) => settle(ctx, d))
          },
      status: () => status(o, name, lim),
      close: () => { if (lim instanceof ClusterLimit) lim.close() }
    }
    if (o.headers) {
      instance.response = (ctx: RequestContext, _status: number, headers: OutgoingHttpHeaders) => {
        const current = ctx.state?.[slot]
        if (current === undefined) return
        appendField(headers, 'ratelimit-policy', fields.policy)
        appendField(headers, 'ratelimit', current as string)
      }
    }
    return instance
  }
}

function status (o: RateLimitOptions, name: string, lim: NodeLimit | ClusterLimit): Record<string, unknown> {
  const common = {
    kind: 'limit',
    name,
    scope: o.scope,
    key: o.key,
    rate: o.rate,
    window: `${o.window / 1000}s`,
    burst: o.burst,
    burstWindow: `${burstWindowOf(o) / 1000}s`
  }
  if (lim instanceof NodeLimit) {
    return { ...common, keys: lim.main.size, busiest: lim.main.top(BUSIEST) }
  }
  return {
    ...common,
    mode: lim.mode.mode,
    modeSince: new Date(lim.mode.since).toISOString(),
    modeReason: lim.mode.reason,
    onRedisFailure: o.onRedisFailure,
    timeout: `${o.timeout}ms`,
    expectedNodes: { configured: o.expectedNodes ?? null, learned: lim.census.count ?? null, used: lim.nodes() },
    block: { last: lim.main.lastBlock, max: lim.main.maxBlock() },
    leases: lim.main.leases.size,
    tokensHeld: lim.main.held(),
    localLimit: Math.ceil(o.rate / lim.nodes())
  }
}
