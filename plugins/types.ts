// The plugin contract. A plugin is compiled once per route per config
// (`create`), or once for the top-level `plugins:` (a global instance, run on
// every route), and the request path only calls the phase functions it returned.
//
// Phases, in request order; in each, the global instances run first (highest
// priority first), then the route's (highest priority first):
//   access    before proxying. May answer the request
//             itself (return a reply) or stop with an error; may be async
//             (Redis). May edit ctx.upstreamHeaders (forwarded request headers)
//             and set ctx.upstreamName (grey release / blue-green).
//   response  upstream response headers arrived (or the gateway produced the
//             answer): may edit the headers sent to the client; sees the status.
//   log       exactly once per request, whatever happened (finished, aborted,
//             errored, answered by a plugin): accounting, permits, logs.
import type { JSONSchemaType } from 'ajv'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Logger } from 'pino'
import type { RequestContext } from '../gateway/proxy/request-context.js'

/** A complete answer produced by a plugin instead of the upstream (CORS preflight, fallback). */
export interface DirectReply {
  readonly kind: 'reply'
  readonly status: number
  readonly headers?: Readonly<OutgoingHttpHeaders>
  readonly body?: string | Buffer
}

/** An error answered in the gateway's JSON envelope. */
export interface ErrorReply {
  readonly kind: 'error'
  readonly status: number
  /** Stable machine-readable code, e.g. GW_RATE_LIMITED. */
  readonly code: string
  readonly message: string
  readonly headers?: Readonly<OutgoingHttpHeaders>
}

export type PluginReply = DirectReply | ErrorReply
export type AccessResult = PluginReply | undefined | void

export interface PluginInstance {
  /**
   * May return a promise. The core waits for it at most `accessTimeout` ms;
   * past that it applies `onAccessTimeout` and ignores the promise from then on.
   */
  access?(ctx: RequestContext): AccessResult | Promise<AccessResult>
  /** ms the core waits for a promise returned by access() (a positive integer); default `server.pluginTimeout`. */
  accessTimeout?: number
  /**
   * When that wait runs out: 'closed' (default) answers 503 GW_PLUGIN_TIMEOUT
   * with Retry-After; 'open' goes on with the next plugin as if access() had
   * returned nothing.
   */
  onAccessTimeout?: 'open' | 'closed'
  response?(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders): void
  log?(ctx: RequestContext): void
  /** Called when the instance is retired by a reload that changed or removed it. */
  close?(): void | Promise<void>
}

/** Services the gateway hands to plugins at compile time (grows with later capabilities). */
export interface PluginEnv {
  readonly logger: Logger
  /** 'global': an instance of the top-level `plugins:` (runs on every route); 'route': of one route's `plugins:`. */
  readonly scope: 'global' | 'route'
  /** The route's id; undefined for a global instance. */
  readonly routeId: string | undefined
  now(): number
}

// Schemas are plain JSON Schema; JSONSchemaType gives type-checking where a plugin wants it.
export type PluginSchema = JSONSchemaType<any> | Record<string, unknown>

export interface PluginDefinition<Options = any> {
  /** kebab-case; the key under a route's `plugins:`. */
  readonly name: string
  /** Higher runs first in every phase (APISIX convention; keep numbers sparse). */
  readonly priority: number
  /** JSON Schema of the options; defaults are filled in before `create`. */
  readonly schema: PluginSchema
  /** Checks a schema cannot express; return human-readable problems (empty: fine). */
  check?(options: Options): string[]
  create(options: Options, env: PluginEnv): PluginInstance
}
