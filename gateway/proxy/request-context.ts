// One object per request: the request's state for plugins, the router's view
// of the request, and the undici dispatch handler for the upstream exchange.
// Keeping all three in one fixed-shape object keeps allocation per request low.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { RouteHit, RequestView } from '../routing/types.js'
import type { CompiledRoute, Snapshot } from '../snapshot/types.js'
import type { GroupMetrics } from '../observability/metrics.js'
import type { Upstream, UpstreamNode } from '../upstream/upstream.js'
import type { HashSource } from '../upstream/upstream.js'
import type { ProxyRuntime } from './proxy-runtime.js'
import type { Bulkhead, BulkheadTicket } from '../upstream/bulkhead.js'
import type { TryDeadline } from '../upstream/try-timeouts.js'

export class RequestContext implements RequestView, HashSource, BulkheadTicket, Dispatcher.DispatchHandler {
  // --- request ---
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly snapshot: Snapshot
  readonly runtime: ProxyRuntime
  readonly method: string
  readonly headers: IncomingHttpHeaders
  readonly startTime: number
  host = ''
  /** Normalised path: what routes match (and plugins, logs and `hashOn: path` see). */
  path = ''
  /**
   * What the route's rewrite turns into the upstream path: the client's own path
   * when it differs from `path` only in the hex case of escapes, else `path`.
   */
  pathToForward = ''
  rawQuery = ''
  requestId = ''
  clientIp = ''
  peerTrusted = false

  // --- routing and proxying ---
  route: CompiledRoute | undefined = undefined
  hit: RouteHit<CompiledRoute> | undefined = undefined
  /** Headers that will be sent upstream; access plugins may edit them. */
  upstreamHeaders: OutgoingHttpHeaders = {}
  /** Set by a plugin (grey release) to send this request to another upstream. */
  upstreamName: string | undefined = undefined
  /**
   * The group (e.g. the side of a traffic split) a plugin chose for the
   * request, set along with upstreamName: the access log's `group`, and the
   * per-(route, group) metrics.
   */
  group: string | undefined = undefined
  /** The figures of (route, group), pre-created by the plugin (env.groupMetrics); when unset, the core looks them up by `group`. */
  groupMetrics: GroupMetrics | undefined = undefined
  upstream: Upstream | undefined = undefined
  node: UpstreamNode | undefined = undefined
  /** Nodes that earlier attempts of this request went to (made on the first retry). */
  tried: UpstreamNode[] | undefined = undefined
  attempt = 0
  /** The current attempt has not reported its outcome yet. */
  attemptOpen = false
  upstreamStart = 0
  /** performance.now() of the first attempt: the header timeout counts from it. */
  firstAttemptAt = 0
  /** The current attempt's wait for headers is the per-try timeout, not what is left of the request's. */
  tryLimited = false
  /** The current attempt's running per-try timeout. */
  tryDeadline: TryDeadline | undefined = undefined
  /** The upstream bulkhead that admitted the request, until it is done with the upstream. */
  bulkhead: Bulkhead | undefined = undefined
  /** The current attempt waits for a pooled connection (counted by the bulkhead). */
  waiting = false
  upstreamTime = -1
  hasBody = false
  /** The client sent `Expect: 100-continue` and waits for our 100 before sending its body. */
  expectContinue = false
  /** A WebSocket upgrade request. */
  upgrade = false
  chunked = false
  bodyBytes = 0
  /**
   * The whole request body, read before the access phases on a route with a
   * plugin that needs it (PluginInstance.needsBody); forwarded as it is.
   * Undefined elsewhere, and for a request without a body.
   */
  body: Buffer | undefined = undefined

  // --- outcome ---
  /** Status sent to the client (101 for an upgrade); 0 when nothing was sent. */
  status = 0
  /** Code of the gateway error answered, if any (GW_*). */
  errorCode: string | undefined = undefined
  responseStarted = false
  requestSent = false
  completed = false
  closed = false
  /** Free slot for plugins' per-request state, keyed by a name each plugin instance picks (its slot). */
  state: Record<string, unknown> | undefined = undefined

  abortUpstream: ((err: Error) => void) | undefined = undefined
  resumeUpstream: (() => void) | undefined = undefined

  constructor (req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, runtime: ProxyRuntime, startTime: number) {
    this.req = req
    this.res = res
    this.snapshot = snapshot
    this.runtime = runtime
    this.method = req.method ?? 'GET'
    this.headers = req.headers
    this.startTime = startTime
  }

  // --- undici DispatchHandler (legacy callbacks: no wrapping cost inside undici) ---
  onConnect (abort: (err?: Error) => void): void {
    this.runtime.onUpstreamConnect(this, abort)
  }

  onRequestSent (): void {
    this.requestSent = true
    if (this.tryLimited) this.runtime.onUpstreamRequestSent(this)
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    return this.runtime.onUpstreamHeaders(this, statusCode, rawHeaders, resume)
  }

  onUpgrade (statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.runtime.onUpstreamUpgrade(this, statusCode, rawHeaders as Buffer[], socket)
  }

  onData (chunk: Buffer): boolean {
    return this.runtime.onUpstreamData(this, chunk)
  }

  onComplete (): void {
    this.runtime.onUpstreamComplete(this)
  }

  onError (err: Error): void {
    this.runtime.onUpstreamError(this, err)
  }
}
