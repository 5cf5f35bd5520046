// One JSON line per request (pino): who asked what, which route and node served
// it, the status and the durations, and the request id that ties it to the
// upstream's own logs.
import type { Logger } from 'pino'
import type { RequestContext } from '../proxy/request-context.js'

export class AccessLog {
  enabled: boolean

  constructor (readonly logger: Logger, enabled: boolean) {
    this.enabled = enabled
  }

  write (ctx: RequestContext, status: number, durationMs: number): void {
    if (!this.enabled) return
    this.logger.info({
      reqId: ctx.requestId,
      method: ctx.method,
      host: ctx.host,
      path: ctx.path,
      status,
      route: ctx.route?.id,
      upstream: ctx.upstream?.name,
      node: ctx.node?.id,
      attempts: ctx.attempt,
      durationMs: Math.round(durationMs * 1000) / 1000,
      upstreamMs: ctx.upstreamTime < 0 ? undefined : Math.round(ctx.upstreamTime * 1000) / 1000,
      clientIp: ctx.clientIp,
      error: ctx.errorCode,
      // The client went away, or the response was cut (upstream failed mid-body).
      aborted: ctx.res.writableFinished || (ctx.upgrade && ctx.completed) ? undefined : true
    }, 'access')
  }
}
