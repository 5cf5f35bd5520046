// One JSON line per request (pino): who asked what, which route, group (the
// side of a traffic split) and node served it, the status and the durations,
// and the request id that ties it to the upstream's own logs. A field without a value is left out (never '' or null).
import type { Logger } from 'pino'
import type { RequestContext } from '../proxy/request-context.js'

/** Longest request target or Host value logged as received; longer ones are cut and end with '…'. */
export const MAX_LOGGED_RAW = 256

/** A value as received (request target, Host), cut to MAX_LOGGED_RAW characters. */
export function rawForLog (s: string): string {
  return s.length <= MAX_LOGGED_RAW ? s : s.slice(0, MAX_LOGGED_RAW) + '…'
}

/** A request target as logged for a request refused before routing: without its query string (it may hold secrets), cut. */
export function targetForLog (target: string): string {
  const q = target.indexOf('?')
  return rawForLog(q < 0 ? target : target.slice(0, q))
}

export class AccessLog {
  enabled: boolean

  constructor (readonly logger: Logger, enabled: boolean) {
    this.enabled = enabled
  }

  write (ctx: RequestContext, status: number, durationMs: number): void {
    if (!this.enabled) return
    this.logger.info({
      reqId: ctx.requestId === '' ? undefined : ctx.requestId,
      method: ctx.method,
      host: ctx.host === '' ? undefined : ctx.host,
      path: ctx.path === '' ? undefined : ctx.path,
      status: status === 0 ? undefined : status,
      route: ctx.route?.id,
      upstream: ctx.upstream?.name,
      group: ctx.group,
      node: ctx.node?.id,
      attempts: ctx.attempt,
      durationMs: Math.round(durationMs * 1000) / 1000,
      upstreamMs: ctx.upstreamTime < 0 ? undefined : Math.round(ctx.upstreamTime * 1000) / 1000,
      clientIp: ctx.clientIp === '' ? undefined : ctx.clientIp,
      error: ctx.errorCode,
      // The client went away, or the response was cut (upstream failed mid-body).
      aborted: ctx.res.writableFinished || (ctx.upgrade && ctx.completed) ? undefined : true
    }, 'access')
  }

  /** A request Node's parser refused before it existed (clientError): the peer, and what it was answered. */
  writeRefused (peer: string, status: number, code: string): void {
    if (!this.enabled) return
    this.logger.info({ status, attempts: 0, clientIp: peer === '' ? undefined : peer, error: code }, 'access')
  }
}
