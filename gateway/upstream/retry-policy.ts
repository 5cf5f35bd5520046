// Which failed attempts are sent again, to which node, and how long an attempt
// may wait for response headers.
//
// - Nothing was sent (`connect`: refused, unreachable, connect timeout): any
//   method, body included, goes to another node. undici reads a request body
//   only once the connection is up, so the client's stream is untouched; it is
//   checked anyway (`readableDidRead`), and a body of which anything was read
//   is never re-sent.
// - Reset before any response byte, or the per-try timeout ran out: only an
//   idempotent request without a body (the node may have acted on it, and its
//   body was consumed), or with a body read whole (ctx.body, on a route with a
//   plugin that needs it), which is sent again as it is.
// - Never to a node already tried, at most `retries` times, only while time
//   is left of `timeouts.header`, within the bulkhead's maxPending, and only
//   within the upstream's retry budget (a retry it refuses answers the
//   original error).
import type { OutcomeKind } from '../../plugins/types.js'
import type { RequestContext } from '../proxy/request-context.js'
import { isRetryable } from '../proxy/upstream-errors.js'
import type { Upstream, UpstreamNode } from './upstream.js'

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/** The node the failed attempt is sent again to, or undefined when the original error is answered. */
export function retryNode (ctx: RequestContext, upstream: Upstream, kind: OutcomeKind, err: Error): UpstreamNode | undefined {
  if (ctx.attempt > upstream.retries || !mayResend(ctx, kind, err)) return undefined
  const now = performance.now()
  if (timeLeft(ctx, upstream, now) < 1) return undefined
  ;(ctx.tried ??= []).push(ctx.node!)
  const next = upstream.pick(ctx, ctx.tried)
  // A retry that would wait for a pooled connection counts against the bulkhead's maxPending.
  if (next === undefined || !upstream.bulkhead.queue(ctx, next)) return undefined
  if (!upstream.retryBudget.withdraw(now)) {
    upstream.bulkhead.doneWaiting(ctx)
    return undefined
  }
  return next
}

function mayResend (ctx: RequestContext, kind: OutcomeKind, err: Error): boolean {
  switch (kind) {
    case 'connect':
      return resendable(ctx) || !ctx.req.readableDidRead
    case 'reset':
      return isRetryable(err) && IDEMPOTENT.has(ctx.method) && resendable(ctx)
    case 'timeout':
      // The per-try timeout, not the request's: ctx.tryLimited says which bound the attempt had.
      return ctx.tryLimited && (err as NodeJS.ErrnoException).code === 'UND_ERR_HEADERS_TIMEOUT' && IDEMPOTENT.has(ctx.method) && resendable(ctx)
    default:
      return false
  }
}

/** No body, or one read whole (ctx.body): the request can be sent again as it was. */
function resendable (ctx: RequestContext): boolean {
  return !ctx.hasBody || ctx.body !== undefined
}

/** ms left of the request's header timeout at `now` (counted from its first attempt). */
function timeLeft (ctx: RequestContext, upstream: Upstream, now: number): number {
  return upstream.headersTimeout - (now - ctx.firstAttemptAt)
}

/**
 * The wait for response headers undici enforces on the attempt starting at
 * `now`: what is left of the request's header timeout. When the per-try
 * timeout is shorter, the attempt is `tryLimited` and TryTimeouts ends it
 * sooner (a timeout that is the request's own is not retried).
 */
export function attemptHeadersTimeout (ctx: RequestContext, upstream: Upstream, now: number): number {
  const left = timeLeft(ctx, upstream, now)
  ctx.tryLimited = upstream.tryTimeout < left
  return Math.max(1, Math.ceil(left))
}
