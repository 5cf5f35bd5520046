// Schemas of the circuit-breaker keys: `upstreams.<name>.breaker` (per node,
// with maxEjectionPercent), `routes[].breaker` and `routes[].fallback`.
// Cross-field rules (maxOpenTime >= openTime, slowCallRatio with
// slowCallThreshold, a breaker that can open) are in build-breaker.ts.
type Schema = Record<string, unknown>

const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
const ratio: Schema = { type: 'number', exclusiveMinimum: 0, maximum: 1 }

/** Defaults, in ms where a duration. */
export const BREAKER_DEFAULTS = {
  consecutiveFailures: 5,
  window: 10_000,
  minCalls: 10,
  failureStatuses: [500, 502, 503, 504],
  openTime: 30_000,
  maxOpenTime: 300_000,
  halfOpenRequests: 3,
  maxEjectionPercent: 50
} as const

/** `perNode`: the upstream form, which also bounds how many of the upstream's nodes may be ejected. */
export function breakerSchema (perNode: boolean): Schema {
  const d = BREAKER_DEFAULTS
  const properties: Record<string, Schema> = {
    consecutiveFailures: { type: 'integer', minimum: 0, maximum: 1_000_000, default: d.consecutiveFailures },
    errorRatio: ratio,
    slowCallRatio: ratio,
    slowCallThreshold: { duration: { zero: 'every call would count as slow' } },
    window: { duration: { zero: 'the ratios would be judged over no calls at all' }, default: d.window },
    minCalls: { type: 'integer', minimum: 1, maximum: 1_000_000, default: d.minCalls },
    failureStatuses: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'integer', minimum: 100, maximum: 599 },
      default: [...d.failureStatuses]
    },
    openTime: { duration: { zero: 'an open breaker would let traffic through again at once' }, default: d.openTime },
    maxOpenTime: { duration: { zero: 'an open breaker would let traffic through again at once' }, default: d.maxOpenTime },
    halfOpenRequests: { type: 'integer', minimum: 1, maximum: 10_000, default: d.halfOpenRequests }
  }
  if (perNode) properties.maxEjectionPercent = { type: 'integer', minimum: 0, maximum: 100, default: d.maxEjectionPercent }
  return { type: 'object', additionalProperties: false, properties }
}

/** The response a route gives instead of 503 while its breaker is open or no node is left. */
export const fallbackSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: {
    status: { type: 'integer', minimum: 200, maximum: 599 },
    headers: {
      type: 'object',
      default: {},
      propertyNames: { pattern: TOKEN_PATTERN, hint: 'must be a valid header name' },
      additionalProperties: { type: 'string' }
    },
    body: { type: 'string', default: '' }
  }
}
