// The answers of a concurrency limit: busy (503 GW_CONCURRENCY_LIMITED) and,
// for a cluster limit that fails closed, Redis unavailable (503
// GW_LIMIT_UNAVAILABLE). Built once per instance.
import { errorReply } from '../../gateway/errors.js'
import type { ErrorReply } from '../types.js'

/** Retry-After: 1 s, or the queue's wait rounded up (a client that retries sooner would most likely wait as long again). */
export function limitedReply (queueTimeout: number | undefined): ErrorReply {
  const seconds = queueTimeout === undefined ? 1 : Math.max(1, Math.ceil(queueTimeout / 1000))
  return errorReply(503, 'GW_CONCURRENCY_LIMITED', 'Too many requests in flight for this limit; retry later',
    { 'retry-after': String(seconds) })
}

export const unavailableReply: ErrorReply = errorReply(503, 'GW_LIMIT_UNAVAILABLE',
  'The limit cannot be checked right now (its shared store is unavailable); retry later', { 'retry-after': '1' })

/** ms the core waits past the plugin's own deadline before its backstop (onAccessTimeout) applies. */
export const CORE_SLACK = 5
