// A snapshot is one immutable, compiled config: requests pin the snapshot they
// started on, so a reload never mixes old routes with new upstreams.
import type { GatewayConfig, RouteConfig } from '../config/types.js'
import type { Router, RouteHit } from '../routing/types.js'
import type { Upstream } from '../upstream/upstream.js'
import type { TrustPolicy } from '../proxy/client-identity.js'
import type { PluginInstance } from '../../plugins/types.js'
import type { RequestContext } from '../proxy/request-context.js'
import type { RouteMetrics } from '../observability/metrics.js'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Services, Uses } from '../services/plugin-services.js'

export type AccessFn = NonNullable<PluginInstance['access']>
export type ResponseFn = (ctx: RequestContext, status: number, headers: OutgoingHttpHeaders) => void
export type LogFn = (ctx: RequestContext) => void

export interface CompiledRoute {
  readonly id: string
  /** Identity for reuse across reloads: a digest of the route's config. */
  readonly key: string
  readonly config: RouteConfig
  readonly upstreamName: string
  readonly bodyLimit: number
  readonly websocket: boolean
  /** The path sent upstream (before the node's base path), from the request's `pathToForward` and the match. */
  readonly forwardPath: (path: string, hit: RouteHit<CompiledRoute>) => string
  readonly access: readonly AccessFn[]
  readonly response: readonly ResponseFn[]
  readonly log: readonly LogFn[]
  /**
   * `optionsKey`: the plugin's options as JSON; an instance is reused while it
   * is unchanged and the services it read (`uses`) are the same.
   */
  readonly plugins: ReadonlyArray<{ name: string; optionsKey: string; instance: PluginInstance; uses: Uses }>
  readonly metrics: RouteMetrics
}

export interface Snapshot {
  readonly version: number
  readonly digest: string
  readonly loadedAt: Date
  readonly config: GatewayConfig
  readonly files: readonly string[]
  readonly router: Router<CompiledRoute>
  readonly routes: ReadonlyMap<string, CompiledRoute>
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly trust: TrustPolicy
  /** What its plugins were given: the shared Redis connection, the node id. */
  readonly services: Services
  /** Requests currently running on this snapshot (retirement waits for 0). */
  inflight: number
}
