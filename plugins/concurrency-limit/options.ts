// The options of the concurrency-limit plugin: their JSON Schema (defaults
// filled in, durations turned into ms by the config loader) and the checks a
// schema cannot express.
import { checkKey, keySchema } from '../limit-common/key.js'
import type { ConfigRefs } from '../types.js'

export type Scope = 'node' | 'cluster'
export type RedisFailurePolicy = 'local' | 'open' | 'closed'

export interface QueueOptions {
  /** Requests that may wait for a permit, per key. */
  size: number
  /** ms a request waits for a permit before it is refused. */
  timeout: number
}

export interface ConcurrencyLimitOptions {
  /** Requests in flight per key. */
  max: number
  key: string[]
  scope: Scope
  queue?: QueueOptions
  /** Cluster scope: ms a permit stays counted without renewal (a dead gateway's permits expire after it). */
  lease: number
  onRedisFailure: RedisFailurePolicy
  /** Cluster scope: ms budget of one Redis acquire. */
  timeout: number
  /** Cluster scope: gateways sharing the limit (the local fallback enforces ceil(max / expectedNodes)); default: learned. */
  expectedNodes?: number
  /** The `limit` label of the metrics and the name in the admin API. */
  name: string
}

export const PLUGIN_NAME = 'concurrency-limit'

/** Below this a renewal every lease/3 would be a Redis call every few ms per gateway. */
const MIN_LEASE = 300

export const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['max'],
  properties: {
    max: { type: 'integer', minimum: 1 },
    key: keySchema,
    scope: { type: 'string', enum: ['node', 'cluster'], default: 'node' },
    queue: {
      type: 'object',
      additionalProperties: false,
      required: ['size', 'timeout'],
      properties: {
        size: { type: 'integer', minimum: 1 },
        timeout: { duration: { zero: 'a queue with no wait refuses at once: leave queue out instead' } }
      }
    },
    lease: { duration: { zero: 'a permit must stay counted while its request runs' }, default: 10_000 },
    onRedisFailure: { type: 'string', enum: ['local', 'open', 'closed'], default: 'local' },
    timeout: { duration: { zero: 'a Redis check needs a time budget' }, default: 10 },
    expectedNodes: { type: 'integer', minimum: 1 },
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', default: PLUGIN_NAME }
  }
} as const

export function check (o: ConcurrencyLimitOptions, refs: ConfigRefs): string[] {
  const problems = checkKey(o.key)
  if (o.scope === 'cluster' && !refs.redis) problems.push('scope: cluster needs a top-level redis: section')
  if (o.scope === 'cluster' && o.lease < MIN_LEASE) problems.push(`lease must be at least ${MIN_LEASE}ms (permits are renewed every lease/3)`)
  if (o.scope === 'node' && o.expectedNodes !== undefined) problems.push('expectedNodes applies to scope: cluster only')
  return problems
}
