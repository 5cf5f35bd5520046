// The per-try timeout (`timeouts.try`): once an attempt's request is all sent
// it waits at most this for response headers; then it is aborted with undici's
// HeadersTimeoutError, and the retry policy sends an idempotent body-less
// request to another node (any other gets 504).
//
// undici's own headersTimeout keeps bounding the request as a whole (what is
// left of `timeouts.header`), but it runs on undici's coarse timers (they fire
// up to about a second late), too coarse for sub-second tries. Tries run on
// the gateway's Deadlines instead: one timer per distinct try value, and a
// small object per attempt.
import { errors } from 'undici'
import { Deadline, Deadlines } from '../proxy/deadlines.js'
import type { RequestContext } from '../proxy/request-context.js'

/** The per-try deadline of one attempt of `ctx` (cleared when the attempt ends first). */
export class TryDeadline extends Deadline {
  constructor (public ctx: RequestContext | undefined) {
    super()
  }
}

export class TryTimeouts {
  // Aborting re-enters the request path (a retry starts another try): not from inside the deadline queue's loop.
  readonly #deadlines = new Deadlines((d) => { process.nextTick(expire, d as TryDeadline) })

  /** The current attempt of `ctx` is all sent: its try starts. */
  start (ctx: RequestContext): void {
    const d = new TryDeadline(ctx)
    ctx.tryDeadline = d
    this.#deadlines.start(d, ctx.upstream!.tryTimeout)
  }

  /** The attempt ended (headers, failure, client gone) before its try ran out. */
  stop (ctx: RequestContext): void {
    const d = ctx.tryDeadline
    if (d === undefined) return
    ctx.tryDeadline = undefined
    d.ctx = undefined
    this.#deadlines.settle(d)
  }
}

function expire (d: TryDeadline): void {
  const ctx = d.ctx
  if (ctx === undefined) return // the attempt ended in between
  d.ctx = undefined
  ctx.tryDeadline = undefined
  if (!ctx.closed && ctx.attemptOpen) ctx.abortUpstream?.(new errors.HeadersTimeoutError())
}
