// A snapshot is one immutable, compiled config: requests pin the snapshot they
// started on, so a reload never mixes old routes with new upstreams.
import type { GatewayConfig, RouteConfig } from '../config/types.js'
import type { Router, RouteHit } from '../routing/types.js'
import type { Upstream } from '../upstream/upstream.js'
import type { TrustPolicy } from '../proxy/client-identity.js'
import type { DirectReply, PluginInstance, UpstreamOutcome } from '../../plugins/types.js'
import type { RouteBreaker } from '../health/route-breaker.js'
import type { RequestContext } from '../proxy/request-context.js'
import type { RouteMetrics } from '../observability/metrics.js'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Services, Uses } from '../services/plugin-services.js'

export type AccessFn = NonNullable<PluginInstance['access']>
export type ResponseFn = (ctx: RequestContext, status: number, headers: OutgoingHttpHeaders) => void
export type LogFn = (ctx: RequestContext) => void
export type OutcomeFn = (ctx: RequestContext, outcome: UpstreamOutcome) => void

/** One plugin instance's access phase, with what the core does when a promise it returns is late. */
export interface AccessStep {
  readonly run: AccessFn
  /** The plugin's name and scope: the labels of its timeouts. */
  readonly plugin: string
  readonly scope: 'global' | 'route'
  /** ms to wait for a promise; 0: `server.pluginTimeout` of the request's snapshot (so a change to it recompiles nothing). */
  readonly timeout: number
  /** onAccessTimeout 'open': go on as if the phase returned nothing; else answer 503 GW_PLUGIN_TIMEOUT. */
  readonly failOpen: boolean
}

export interface CompiledPlugin {
  readonly name: string
  /**
   * The plugin's options as JSON: the instance is reused across reloads while
   * this is unchanged and the services it read (`uses`) are the same.
   */
  readonly optionsKey: string
  readonly instance: PluginInstance
  readonly uses: Uses
}

/** A list of plugin instances compiled into phase arrays, each in run order (priority, highest first). */
export interface PluginChain {
  readonly access: readonly AccessStep[]
  readonly response: readonly ResponseFn[]
  readonly log: readonly LogFn[]
  readonly outcome: readonly OutcomeFn[]
  readonly plugins: readonly CompiledPlugin[]
  /** An instance needs the request body: it is read whole before the access phases (see body-buffer.ts). */
  readonly needsBody: boolean
}

export interface CompiledRoute extends PluginChain {
  readonly id: string
  /** Identity for reuse across reloads: a digest of the route's config. */
  readonly key: string
  readonly config: RouteConfig
  readonly upstreamName: string
  readonly bodyLimit: number
  readonly websocket: boolean
  /** The path sent upstream (before the node's base path), from the request's `pathToForward` and the match. */
  readonly forwardPath: (path: string, hit: RouteHit<CompiledRoute>) => string
  readonly metrics: RouteMetrics
  /** routes[].breaker: asked before the upstream is touched (its outcome feed is in `outcome`). */
  readonly breaker?: RouteBreaker
  /** routes[].fallback: sent instead of 503 when the breaker is open or no node is left. */
  readonly fallback?: DirectReply
}

export interface Snapshot {
  readonly version: number
  readonly digest: string
  readonly loadedAt: Date
  readonly config: GatewayConfig
  readonly files: readonly string[]
  readonly router: Router<CompiledRoute>
  readonly routes: ReadonlyMap<string, CompiledRoute>
  /**
   * The global plugins (top-level `plugins:`): in every phase of a request that
   * matched a route, they run before the route's own. Kept apart from the
   * routes, so a change to them recompiles no route.
   */
  readonly global: PluginChain
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly trust: TrustPolicy
  /** What its plugins were given: the shared Redis connection, the node id. */
  readonly services: Services
  /** Requests currently running on this snapshot (retirement waits for 0). */
  inflight: number
}
