// The request path. handle() runs once per request: normalise, route, run the
// pre-compiled plugin phases (the global plugins', then the route's), pick a
// node, and stream the exchange through undici. Everything per-route was
// compiled when the config loaded.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { coreReplies, envelopeBody } from '../errors.js'
import type { ErrorReply, PluginReply, AccessResult, OutcomeKind, UpstreamOutcome } from '../../plugins/types.js'
import { normalizePath, pathToForward } from '../routing/normalize-path.js'
import type { AccessStep, LogFn, OutcomeFn, ResponseFn, Snapshot } from '../snapshot/types.js'
import type { Upstream, UpstreamNode } from '../upstream/upstream.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { rawForLog, targetForLog, type AccessLog } from '../observability/access-log.js'
import { arrivedAfterClose, bodyUnread, closeAfter } from './closing.js'
import { copyRequestHeaders, copyResponseHeaders } from './hop-by-hop.js'
import { peerAddress, requestIdFor, socketPeerAddress } from './client-identity.js'
import { RequestContext } from './request-context.js'
import { completeUpgrade } from './websocket.js'
import { relayInterim } from './interim-responses.js'
import type { Duplex, Readable } from 'node:stream'
import { classifyUpstreamError, outcomeKind } from './upstream-errors.js'
import { attemptHeadersTimeout, retryNode } from '../upstream/retry-policy.js'
import { TryTimeouts } from '../upstream/try-timeouts.js'
import { Deadlines, PendingAccess, type Deadline } from './deadlines.js'
import { LogThrottle } from '../observability/log-throttle.js'
import { readBody } from './body-buffer.js'

const kCtx = Symbol('gateway.ctx')
/** Set by the server on requests that arrived with `Expect: 100-continue`. */
export const kExpectContinue = Symbol('gateway.expectContinue')
type TaggedResponse = ServerResponse & { [kCtx]?: RequestContext }

export interface SnapshotSource {
  readonly current: Snapshot
}

export class ProxyRuntime {
  /** Requests in flight across all snapshots. */
  inflight = 0
  draining = false
  #idleWaiters: Array<() => void> = []
  readonly #deadlines = new Deadlines((d) => this.#accessTimedOut(d))
  /** Per-try timeouts of upstream attempts (`timeouts.try`). */
  readonly #tries = new TryTimeouts()
  /** Timeouts are counted one by one, but logged at most once per plugin per 10 s. */
  readonly #timeoutLog = new LogThrottle(10_000)

  constructor (
    readonly snapshots: SnapshotSource,
    readonly metrics: GatewayMetrics,
    readonly accessLog: AccessLog,
    readonly logger: Logger
  ) {}

  handle (req: IncomingMessage, res: ServerResponse, upgrade = false): void {
    // Pipelined behind an answer that closes the connection: never processed.
    if (arrivedAfterClose(req)) return
    const ctx = this.#open(req, res, upgrade)
    try {
      this.#route(ctx, req, ctx.snapshot, upgrade)
    } catch (err) {
      this.#failed(ctx, err)
    }
  }

  /**
   * A request refused before it could reach handle() (Fastify's router could not
   * decode its target): answered, counted and logged like any refused request.
   */
  refuse (req: IncomingMessage, res: ServerResponse, reply: ErrorReply): void {
    const ctx = this.#open(req, res, false)
    try {
      this.#identify(ctx, req, ctx.snapshot)
      this.#refuse(ctx, reply)
    } catch (err) {
      this.#failed(ctx, err)
    }
  }

  /**
   * Node's parser refused a request and `e` was written on the socket. When the
   * head had already reached handle(), that request's own line (`res` is its
   * response) tells the outcome; otherwise no request existed and one line says
   * what is known.
   */
  clientRefused (socket: Socket, e: { status: number; code: string }, res: ServerResponse | undefined): void {
    const ctx = (res as TaggedResponse | undefined)?.[kCtx]
    if (ctx === undefined) return this.accessLog.writeRefused(socketPeerAddress(socket), e.status, e.code)
    if (ctx.closed) return
    ctx.status = e.status
    ctx.errorCode = e.code
  }

  #open (req: IncomingMessage, res: ServerResponse, upgrade: boolean): RequestContext {
    const snap = this.snapshots.current
    const ctx = new RequestContext(req, res, snap, this, performance.now())
    ctx.upgrade = upgrade
    if ((req as IncomingMessage & { [kExpectContinue]?: boolean })[kExpectContinue] === true) ctx.expectContinue = true
    snap.inflight++
    this.inflight++
    ;(res as TaggedResponse)[kCtx] = ctx
    res.on('close', onResponseClose)
    // A response queued behind another pipelined one has no socket yet, and Node
    // never closes it if the client goes away first: the socket's close ends it.
    if (res.socket === null && req.socket !== null) req.socket.once('close', () => this.finish(ctx))
    return ctx
  }

  #failed (ctx: RequestContext, err: unknown): void {
    // A bug must cost one request a 500, never the process or a hung client.
    this.logger.error({ err, reqId: ctx.requestId }, 'request handling failed')
    this.replyError(ctx, coreReplies.INTERNAL)
  }

  #identify (ctx: RequestContext, req: IncomingMessage, snap: Snapshot): void {
    ctx.peerTrusted = snap.trust.peerTrusted(req)
    ctx.requestId = requestIdFor(req, ctx.peerTrusted)
    ctx.clientIp = snap.trust.clientIp(req, ctx.peerTrusted)
  }

  /** Refused before routing: the access log shows the target (no query) and Host as received, cut to a sane length. */
  #refuse (ctx: RequestContext, reply: ErrorReply): void {
    ctx.path = targetForLog(ctx.req.url ?? '')
    const host = ctx.req.headers.host
    if (host !== undefined) ctx.host = rawForLog(host)
    this.replyError(ctx, reply)
  }

  #route (ctx: RequestContext, req: IncomingMessage, snap: Snapshot, upgrade: boolean): void {
    this.#identify(ctx, req, snap)

    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty.
    if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
      return this.#refuse(ctx, coreReplies.TRANSFER_ENCODING_HTTP10)
    }
    let url = req.url ?? '/'
    if (url.length > snap.config.server.maxUriLength) return this.#refuse(ctx, coreReplies.URI_TOO_LONG)
    let host = req.headers.host
    // RFC 9112 3.2: 400 for an HTTP/1.1 request without Host, with several, or with an invalid one.
    if (host === undefined ? req.httpVersionMinor >= 1 : !validHost(host) || hasDuplicateHost(req.rawHeaders)) {
      return this.#refuse(ctx, host === undefined ? coreReplies.MISSING_HOST : coreReplies.BAD_HOST)
    }
    if (url.charCodeAt(0) !== 47 /* / */) {
      // RFC 9112 3.2.2: absolute-form must be accepted; its authority replaces Host.
      const target = absoluteTarget(url)
      if (target === undefined) return this.#refuse(ctx, coreReplies.BAD_PATH)
      url = target.pathAndQuery
      host = target.host
      req.headers.host = host
    }
    const q = url.indexOf('?')
    const rawPath = q < 0 ? url : url.slice(0, q)
    const path = normalizePath(rawPath)
    if (path === null) return this.#refuse(ctx, coreReplies.BAD_PATH)
    ctx.path = path
    ctx.pathToForward = pathToForward(rawPath, path)
    ctx.rawQuery = q < 0 ? '' : url.slice(q + 1)
    ctx.host = hostOf(host)

    const hit = snap.router.find(ctx)
    if (hit === undefined) return this.replyError(ctx, coreReplies.ROUTE_NOT_FOUND)
    const route = hit.value
    ctx.route = route
    ctx.hit = hit
    if (upgrade && !route.websocket) return this.replyError(ctx, coreReplies.WEBSOCKET_NOT_ALLOWED)

    // Bodies: a declared length over the limit is refused before any upstream work;
    // a chunked body is counted as it streams (see limitBody).
    const te = req.headers['transfer-encoding']
    const cl = req.headers['content-length']
    if (cl !== undefined) {
      const n = Number(cl)
      if (n > route.bodyLimit) return this.replyError(ctx, coreReplies.BODY_TOO_LARGE)
      ctx.hasBody = n > 0
    } else if (te !== undefined) {
      ctx.hasBody = true
      ctx.chunked = true
    }

    const h = copyRequestHeaders(req.headers)
    const xff = req.headers['x-forwarded-for']
    const peer = peerAddress(req)
    h['x-forwarded-for'] = ctx.peerTrusted && xff !== undefined ? `${String(xff)}, ${peer}` : peer
    if (!ctx.peerTrusted || h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = 'http'
    if (!ctx.peerTrusted || h['x-forwarded-host'] === undefined) {
      if (req.headers.host !== undefined) h['x-forwarded-host'] = req.headers.host
    }
    h['x-request-id'] = ctx.requestId
    ctx.upstreamHeaders = h

    // A plugin of the route, or a global one, needs the body: it is read whole first (body-buffer.ts).
    if (ctx.hasBody && (route.needsBody || snap.global.needsBody) && !upgrade) return readBody(ctx, route.bodyLimit, this.#afterBody)
    this.runAccess(ctx, 0)
  }

  /** The body is read: the access phases run (off the request's call stack, so a throw is caught here). */
  readonly #afterBody = (ctx: RequestContext): void => {
    try {
      this.runAccess(ctx, 0)
    } catch (err) {
      this.#failed(ctx, err)
    }
  }

  /**
   * Runs access phases from step `from`: the global plugins' steps, then the
   * route's, numbered as one list. Continues asynchronously when one returns a
   * promise (see #awaitAccess).
   */
  runAccess (ctx: RequestContext, from: number): void {
    const global = ctx.snapshot.global.access
    const own = ctx.route!.access
    const end = global.length + own.length
    for (let i = from; i < end; i++) {
      const step = i < global.length ? global[i]! : own[i - global.length]!
      let r: AccessResult | Promise<AccessResult>
      try {
        r = step.run(ctx)
      } catch (err) {
        return this.pluginFailed(ctx, err)
      }
      if (r === undefined) continue
      if (typeof (r as Promise<AccessResult>).then === 'function') return this.#awaitAccess(ctx, step, i, r as Promise<AccessResult>)
      return this.replyWith(ctx, r as PluginReply)
    }
    this.forward(ctx)
  }

  /**
   * Step `i` returned a promise: the request goes on when it settles, or, when
   * the step's budget runs out first, per its failure policy (#accessTimedOut).
   * Whichever comes first wins; the other is ignored.
   */
  #awaitAccess (ctx: RequestContext, step: AccessStep, i: number, p: Promise<AccessResult>): void {
    const wait = new PendingAccess(ctx, step, i)
    this.#deadlines.start(wait, step.timeout || ctx.snapshot.config.server.pluginTimeout)
    p.then((v) => { this.#accessSettled(wait, v, undefined) }, (err: unknown) => { this.#accessSettled(wait, undefined, err ?? new Error('rejected')) })
  }

  #accessSettled (wait: PendingAccess, v: AccessResult, err: unknown): void {
    if (!this.#deadlines.settle(wait)) return // too late: the request went on without it
    const ctx = wait.ctx!
    wait.ctx = undefined
    if (ctx.closed) return
    try {
      if (err !== undefined) this.pluginFailed(ctx, err)
      else if (v !== undefined) this.replyWith(ctx, v)
      else this.runAccess(ctx, wait.index + 1)
    } catch (e) {
      // Off the request's own call stack: a throw here would be an unhandled rejection.
      this.#failed(ctx, e)
    }
  }

  #accessTimedOut (d: Deadline): void {
    const wait = d as PendingAccess
    const ctx = wait.ctx!
    wait.ctx = undefined
    const { plugin, scope, failOpen } = wait.step
    this.metrics.pluginTimedOut(plugin, scope)
    const suppressed = this.#timeoutLog.admit(`${scope} ${plugin}`)
    if (suppressed >= 0) {
      this.logger.warn({ plugin, scope, route: ctx.route?.id, reqId: ctx.requestId, policy: failOpen ? 'open' : 'closed', suppressed },
        'plugin access phase timed out')
    }
    if (ctx.closed) return
    try {
      if (failOpen) this.runAccess(ctx, wait.index + 1)
      else this.replyError(ctx, coreReplies.PLUGIN_TIMEOUT)
    } catch (err) {
      // On a timer: a throw here would end the process.
      this.#failed(ctx, err)
    }
  }

  forward (ctx: RequestContext): void {
    if (ctx.closed || ctx.res.headersSent) return
    const route = ctx.route!
    const upstream = ctx.snapshot.upstreams.get(ctx.upstreamName ?? route.upstreamName)
    // Known from here on, even when nothing is sent: the access log names it.
    ctx.upstream = upstream
    // An open route breaker answers at once, without touching the upstream.
    if (route.breaker !== undefined && !route.breaker.admit()) return this.#degraded(ctx, coreReplies.CIRCUIT_OPEN)
    const node = upstream?.pick(ctx)
    if (upstream === undefined || node === undefined) {
      route.breaker?.release() // a half-open trial that never went out
      return this.#degraded(ctx, coreReplies.UPSTREAM_UNAVAILABLE)
    }
    // Bulkhead: over the upstream's limits, refused before anything is sent.
    if (!upstream.bulkhead.enter(ctx, node)) {
      route.breaker?.release()
      return this.replyError(ctx, coreReplies.UPSTREAM_BUSY)
    }
    // `Expect: 100-continue`: the client is told to send its body only now that
    // the request passed every check and is going upstream.
    if (ctx.expectContinue) {
      ctx.expectContinue = false
      ctx.res.writeContinue()
    }
    this.#dispatch(ctx, upstream, node)
  }

  /**
   * No upstream call for this request (`e` says why): the route's fallback
   * when it has one (the access log and metrics still show `e`'s code), else
   * `e` in the error envelope.
   */
  #degraded (ctx: RequestContext, e: ErrorReply): void {
    const fallback = ctx.route!.fallback
    if (fallback === undefined) return this.replyError(ctx, e)
    ctx.errorCode = e.code
    this.replyWith(ctx, fallback)
  }

  /** One attempt: the request goes to `node`. */
  #dispatch (ctx: RequestContext, upstream: Upstream, node: UpstreamNode): void {
    const route = ctx.route!
    ctx.node = node
    ctx.attempt++
    ctx.attemptOpen = true
    node.health.dispatched()
    node.conn.inflight++
    node.conn.requests++
    const now = performance.now()
    ctx.upstreamStart = now
    ctx.abortUpstream = undefined
    if (ctx.attempt === 1) {
      ctx.firstAttemptAt = now
      upstream.retryBudget.sent(now)
    }
    const path = node.conn.basePath + route.forwardPath(ctx.pathToForward, ctx.hit!) + (ctx.rawQuery === '' ? '' : '?' + ctx.rawQuery)
    node.conn.pool.dispatch({
      path,
      method: ctx.method as 'GET',
      headers: ctx.upstreamHeaders as Record<string, string>,
      // A body read whole (body-buffer.ts) goes as those bytes; others stream.
      // undici streams async iterables too; its typings only list Readable.
      body: ctx.body ?? (ctx.hasBody ? (ctx.chunked ? limitBody(ctx, route.bodyLimit) as unknown as Readable : ctx.req) : null),
      headersTimeout: attemptHeadersTimeout(ctx, upstream, now),
      bodyTimeout: ctx.upgrade ? 0 : upstream.bodyTimeout,
      upgrade: ctx.upgrade ? 'websocket' : null
    }, ctx)
  }

  /**
   * The current attempt ended (headers arrived, or it failed first): its
   * outcome goes to the upstream's observers (node health), then to the
   * global plugins' and the route's outcome phases. Once per attempt.
   */
  #attemptEnded (ctx: RequestContext, kind: OutcomeKind, status: number): void {
    ctx.attemptOpen = false
    if (ctx.tryDeadline !== undefined) this.#tries.stop(ctx)
    const upstream = ctx.upstream!
    const global = ctx.snapshot.global.outcome
    const own = ctx.route!.outcome
    if (upstream.observers.length === 0 && global.length === 0 && own.length === 0) return
    const node = ctx.node!
    const o: UpstreamOutcome = {
      upstream: upstream.name,
      node: node.id,
      kind,
      status,
      latency: performance.now() - ctx.upstreamStart,
      sent: kind !== 'connect',
      attempt: ctx.attempt
    }
    upstream.observe(node, o)
    this.#outcome(global, ctx, o, 'global')
    this.#outcome(own, ctx, o, undefined)
  }

  #outcome (fns: readonly OutcomeFn[], ctx: RequestContext, o: UpstreamOutcome, scope: 'global' | undefined): void {
    for (let i = 0; i < fns.length; i++) {
      try {
        fns[i]!(ctx, o)
      } catch (err) {
        this.logger.error({ err, route: ctx.route!.id, reqId: ctx.requestId, scope }, 'plugin outcome phase failed')
      }
    }
  }

  // --- upstream callbacks (called through the RequestContext handler) ---

  /** The attempt is on a connection (no longer waiting for one): it can be aborted from now on. */
  onUpstreamConnect (ctx: RequestContext, abort: (err?: Error) => void): void {
    ctx.abortUpstream = abort
    if (ctx.waiting) ctx.bulkhead!.doneWaiting(ctx)
    if (ctx.closed) abort(new Error('client went away'))
  }

  /**
   * The attempt's request is all sent (a slow upload is not the node's
   * fault): its per-try wait for response headers starts.
   */
  onUpstreamRequestSent (ctx: RequestContext): void {
    if (ctx.attemptOpen && !ctx.closed) this.#tries.start(ctx)
  }

  onUpstreamHeaders (ctx: RequestContext, status: number, raw: Buffer[], resume: () => void): boolean {
    if (ctx.closed) return false
    // An interim response (undici reports each 1xx head here); the final one follows.
    if (status < 200) {
      relayInterim(ctx.req, ctx.res, status, raw)
      return true
    }
    ctx.responseStarted = true
    ctx.status = status
    ctx.resumeUpstream = resume
    ctx.upstreamTime = performance.now() - ctx.upstreamStart
    this.#attemptEnded(ctx, 'response', status)
    const headers = copyResponseHeaders(raw)
    headers['x-request-id'] = ctx.requestId
    this.runResponsePhase(ctx, status, headers)
    const res = ctx.res
    if (status === 204 || status === 304) {
      // No content follows these, whatever Content-Length says (RFC 9112 6.3): the
      // client's response is whole now. A 204 must not announce any (RFC 9110 8.6);
      // a 304 keeps the length of the representation it stands for.
      if (status === 204) delete headers['content-length']
      res.writeHead(status, headers)
      res.end()
      return true
    }
    res.writeHead(status, headers)
    return true
  }

  onUpstreamUpgrade (ctx: RequestContext, status: number, raw: Buffer[], socket: Duplex): void {
    ctx.upstreamTime = performance.now() - ctx.upstreamStart
    this.#attemptEnded(ctx, 'response', status)
    this.releaseNode(ctx)
    this.#leaveUpstream(ctx)
    ctx.responseStarted = true
    ctx.completed = true
    ctx.status = status
    completeUpgrade(ctx, status, raw, socket)
  }

  onUpstreamData (ctx: RequestContext, chunk: Buffer): boolean {
    if (ctx.closed) return false
    const ok = ctx.res.write(chunk)
    if (!ok) ctx.res.once('drain', ctx.resumeUpstream!)
    return ok
  }

  onUpstreamComplete (ctx: RequestContext): void {
    this.releaseNode(ctx)
    this.#leaveUpstream(ctx)
    ctx.completed = true
    if (!ctx.closed) ctx.res.end()
  }

  onUpstreamError (ctx: RequestContext, err: Error): void {
    const kind = outcomeKind(err)
    if (ctx.attemptOpen && !ctx.closed) this.#attemptEnded(ctx, kind, 0)
    this.releaseNode(ctx)
    // Ended: a 204 or 304 answered whole at its head, whose Content-Length undici
    // then counts as missing bytes. The client has its response; nothing failed.
    if (ctx.closed || ctx.res.writableEnded) return
    const failed = ctx.node!
    failed.conn.failures++
    failed.conn.lastError = (err as NodeJS.ErrnoException).code ?? err.message
    if (ctx.responseStarted) {
      // Status already sent: the only honest signal left is to cut the connection.
      ctx.errorCode = 'GW_UPSTREAM_BODY_ERROR'
      ctx.res.destroy(err)
      return
    }
    const reply = classifyUpstreamError(err)
    if (reply === coreReplies.BODY_TOO_LARGE) {
      ctx.res.setHeader('connection', 'close')
      return this.replyError(ctx, reply)
    }
    // Sent again to another node when nothing was sent, or when it is safe to (see retry-policy.ts).
    const upstream = ctx.upstream!
    const next = retryNode(ctx, upstream, kind, err)
    if (next !== undefined) {
      this.logger.debug({ reqId: ctx.requestId, node: failed.id, err: failed.conn.lastError }, 'retrying on another node')
      return this.#dispatch(ctx, upstream, next)
    }
    this.replyError(ctx, reply)
  }

  /** The current attempt is over: its node has one request less in flight. */
  releaseNode (ctx: RequestContext): void {
    const node = ctx.node
    if (node !== undefined && ctx.upstreamStart !== 0) {
      node.conn.inflight--
      ctx.upstreamStart = 0
    }
    if (ctx.waiting) ctx.bulkhead!.doneWaiting(ctx)
  }

  /** The request is done with its upstream: it leaves the upstream's bulkhead. */
  #leaveUpstream (ctx: RequestContext): void {
    if (ctx.bulkhead !== undefined) ctx.bulkhead.leave(ctx)
  }

  // --- answers produced by the gateway itself ---

  replyWith (ctx: RequestContext, reply: PluginReply): void {
    if (reply.kind === 'error') return this.replyError(ctx, reply)
    const headers: OutgoingHttpHeaders = { ...reply.headers, 'x-request-id': ctx.requestId }
    const body = reply.body ?? ''
    headers['content-length'] = Buffer.byteLength(body)
    ctx.status = reply.status
    this.runResponsePhase(ctx, reply.status, headers)
    if (bodyUnread(ctx.req)) closeAfter(ctx.req, ctx.res, headers)
    ctx.res.writeHead(reply.status, headers)
    ctx.res.end(body)
  }

  replyError (ctx: RequestContext, e: ErrorReply): void {
    if (ctx.closed || ctx.res.headersSent) return
    ctx.errorCode = e.code
    ctx.status = e.status
    const body = envelopeBody(e.status, e.code, e.message, ctx.requestId)
    const headers: OutgoingHttpHeaders = {
      ...e.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': ctx.requestId
    }
    if (ctx.route !== undefined) this.runResponsePhase(ctx, e.status, headers)
    // An unread request body would otherwise be parsed as the next request; and
    // after a malformed request (400) the connection is not trusted any further.
    if (e.status === 400 || bodyUnread(ctx.req)) closeAfter(ctx.req, ctx.res, headers)
    ctx.res.writeHead(e.status, headers)
    ctx.res.end(body)
  }

  /** Response phase: the global plugins', then the route's (only for a request that matched a route). */
  runResponsePhase (ctx: RequestContext, status: number, headers: OutgoingHttpHeaders): void {
    if (this.draining) headers.connection = 'close'
    const route = ctx.route
    if (route === undefined) return
    this.#respond(ctx.snapshot.global.response, ctx, status, headers, 'global')
    this.#respond(route.response, ctx, status, headers, undefined)
  }

  #respond (fns: readonly ResponseFn[], ctx: RequestContext, status: number, headers: OutgoingHttpHeaders, scope: 'global' | undefined): void {
    for (let i = 0; i < fns.length; i++) {
      try {
        fns[i]!(ctx, status, headers)
      } catch (err) {
        this.logger.error({ err, route: ctx.route!.id, reqId: ctx.requestId, scope }, 'plugin response phase failed')
      }
    }
  }

  pluginFailed (ctx: RequestContext, err: unknown): void {
    this.logger.error({ err, route: ctx.route?.id, reqId: ctx.requestId }, 'plugin access phase failed')
    this.replyError(ctx, coreReplies.INTERNAL)
  }

  /** Log phase: exactly once per request, from the response's 'close' event. */
  finish (ctx: RequestContext): void {
    if (ctx.closed) return
    ctx.closed = true
    if (ctx.attemptOpen) this.#attemptEnded(ctx, 'cancelled', 0)
    if (!ctx.completed && ctx.abortUpstream !== undefined) ctx.abortUpstream(new Error('client closed the connection'))
    this.releaseNode(ctx)
    this.#leaveUpstream(ctx)
    const route = ctx.route
    if (route !== undefined) {
      // The global plugins', then the route's.
      this.#log(ctx.snapshot.global.log, ctx, 'global')
      this.#log(route.log, ctx, undefined)
    }
    const duration = performance.now() - ctx.startTime
    const status = ctx.status
    this.metrics.observeRequest(ctx, status, duration)
    this.accessLog.write(ctx, status, duration)
    ctx.snapshot.inflight--
    if (--this.inflight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  #log (fns: readonly LogFn[], ctx: RequestContext, scope: 'global' | undefined): void {
    for (let i = 0; i < fns.length; i++) {
      try {
        fns[i]!(ctx)
      } catch (err) {
        this.logger.error({ err, route: ctx.route!.id, scope }, 'plugin log phase failed')
      }
    }
  }

  /** Resolves when no request is in flight. */
  idle (): Promise<void> {
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }
}

function onResponseClose (this: TaggedResponse): void {
  const ctx = this[kCtx]
  if (ctx !== undefined) ctx.runtime.finish(ctx)
}

/** A chunked body, counted as it streams: past the limit the upstream exchange fails with GW_BODY_TOO_LARGE. */
async function * limitBody (ctx: RequestContext, limit: number): AsyncGenerator<Buffer> {
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    ctx.bodyBytes += chunk.length
    if (ctx.bodyBytes > limit) throw Object.assign(new Error('request body exceeds the limit'), { code: 'GW_BODY_TOO_LARGE' })
    yield chunk
  }
}

// A Host value: reg-name or IPv4, or a bracketed IPv6 literal, and an optional port.
const HOST_RE = /^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

function validHost (host: string): boolean {
  return HOST_RE.test(host)
}

/** Node keeps only the first of repeated Host lines; the raw list tells whether there were several. */
function hasDuplicateHost (raw: string[]): boolean {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) return true
      seen = true
    }
  }
  return false
}

/** `http://host:port/path?q` -> its authority and origin-form target; undefined when not an http(s) URL. */
function absoluteTarget (url: string): { host: string; pathAndQuery: string } | undefined {
  const m = /^https?:\/\/([^/?#@]+)([^#]*)$/i.exec(url)
  if (m === null || !validHost(m[1]!)) return undefined
  const rest = m[2]!
  return { host: m[1]!, pathAndQuery: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? '/' + rest : rest }
}

/** Lower-case host without port (IPv6 literals keep their brackets). */
export function hostOf (host: string | undefined): string {
  if (host === undefined) return ''
  let end = host.length
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']')
    end = close < 0 ? end : close + 1
  } else {
    const colon = host.indexOf(':')
    if (colon >= 0) end = colon
  }
  const h = end === host.length ? host : host.slice(0, end)
  return h.toLowerCase()
}
