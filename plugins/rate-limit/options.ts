// The options of the rate-limit plugin: their schema (defaults filled in, and
// durations turned into ms, by the config loader) and the checks a schema
// cannot express (reported at the plugin entry, file:line).
import type { ConfigRefs } from '../types.js'
import { checkKey, keySchema } from '../limit-common/key.js'
import { failurePolicySchema, type FailurePolicy } from '../limit-common/redis-mode.js'

export interface RateLimitOptions {
  /** Requests admitted per window. */
  rate: number
  /** ms; a whole number of seconds, at least 1 s. */
  window: number
  /** Extra requests allowed above `rate`, at most `burst` per `burstWindow`. */
  burst: number
  /** ms; default 10 × window. */
  burstWindow?: number
  key: string[]
  scope: 'node' | 'cluster'
  onRedisFailure: FailurePolicy
  /** ms: the longest a request waits for Redis. */
  timeout: number
  expectedNodes?: number
  /** RateLimit-Policy / RateLimit on admitted responses too (rejections always carry them). */
  headers: boolean
  /** The limit's name: metrics label, RateLimit policy name. Default: the plugin name. */
  name?: string
}

export const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rate', 'window'],
  properties: {
    rate: { type: 'integer', minimum: 1 },
    window: { duration: true },
    burst: { type: 'integer', minimum: 0, default: 0 },
    burstWindow: { duration: true },
    key: keySchema,
    scope: { type: 'string', enum: ['node', 'cluster'], default: 'node' },
    onRedisFailure: failurePolicySchema,
    timeout: { duration: { zero: 'a Redis check needs some time to answer' }, default: 10 },
    expectedNodes: { type: 'integer', minimum: 1 },
    headers: { type: 'boolean', default: false },
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', hint: 'must be 1 to 64 letters, digits, ".", "_" or "-"' }
  }
} as const

/** The longest timeout: a limit decision is meant to take milliseconds. */
const MAX_TIMEOUT = 1000

export function checkRateLimit (o: RateLimitOptions, refs: ConfigRefs): string[] {
  const problems = checkKey(o.key)
  const wholeSeconds = (ms: number, what: string): void => {
    if (ms < 1000) problems.push(`${what} must be at least 1s, got ${ms}ms`)
    else if (ms % 1000 !== 0) problems.push(`${what} must be a whole number of seconds (like "1s", "10s", "1m"), got ${ms}ms`)
  }
  wholeSeconds(o.window, 'window')
  if (o.burstWindow !== undefined) {
    wholeSeconds(o.burstWindow, 'burstWindow')
    if (o.burst === 0) problems.push('burstWindow without burst: set burst (the extra requests allowed per burstWindow)')
    else if (o.burstWindow < o.window) problems.push(`burstWindow (${o.burstWindow}ms) must not be shorter than window (${o.window}ms)`)
  }
  if (o.timeout > MAX_TIMEOUT) problems.push(`timeout must be at most ${MAX_TIMEOUT}ms (a limit decision must not hold requests), got ${o.timeout}ms`)
  if (o.scope === 'cluster') {
    if (!refs.redis) problems.push('scope: cluster needs a top-level redis: section (the shared store of the counters)')
  } else if (o.expectedNodes !== undefined) {
    problems.push('expectedNodes applies to scope: cluster only')
  }
  return problems
}

/** ms of the burst bucket's window. */
export function burstWindowOf (o: RateLimitOptions): number {
  return o.burstWindow ?? o.window * 10
}
