// The plugin contract. A plugin is compiled once per route per config
// (`create`), or once for the top-level `plugins:` (a global instance, run on
// every route), and the request path only calls the phase functions it returned.
//
// Phases, in request order; in each, the global instances run first (highest
// priority first), then the route's (highest priority first):
//   (body)    not a phase of its own: an instance with `needsBody: true` makes
//             the core read the whole request body before the access phases,
//             on every route whose chain (global or own) holds one. The bytes
//             are in ctx.body for the access phases, and exactly they are
//             forwarded. Other routes stream their bodies untouched.
//   access    before proxying. May answer the request
//             itself (return a reply) or stop with an error; may be async
//             (Redis). May edit ctx.upstreamHeaders (forwarded request headers)
//             and set ctx.upstreamName (grey release / blue-green), with
//             ctx.group naming the group it chose (access log, metrics).
//   response  upstream response headers arrived (or the gateway produced the
//             answer): may edit the headers sent to the client; sees the status.
//   outcome   once per upstream attempt, when it ends (response headers, or
//             the failure): which node, what happened, how long it took.
//             Breakers, health and error-ratio watchers read these; they
//             cannot tell an upstream 502 from a gateway 502 in `response`.
//   log       exactly once per request, whatever happened (finished, aborted,
//             errored, answered by a plugin): accounting, permits, logs.
import type { JSONSchemaType } from 'ajv'
import type { Cluster, Redis } from 'ioredis'
import type { Registry } from 'prom-client'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Logger } from 'pino'
import type { GroupMetrics } from '../gateway/observability/metrics.js'
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

/**
 * How one upstream attempt ended:
 *   response      response headers arrived (`status` says which)
 *   connect       the connection could not be made (refused, unreachable, connect timeout): nothing was sent
 *   reset         the connection broke before the response headers
 *   timeout       no response headers within the attempt's timeout
 *   bad-response  the upstream answered something that is not valid HTTP
 *   cancelled     the client went away first; says nothing about the node
 */
export type OutcomeKind = 'response' | 'connect' | 'reset' | 'timeout' | 'bad-response' | 'cancelled'

/** One upstream attempt, as the core reports it once the attempt ends. */
export interface UpstreamOutcome {
  /** The upstream's name and the node's URL. */
  readonly upstream: string
  readonly node: string
  readonly kind: OutcomeKind
  /** The response status for `response`; 0 otherwise. */
  readonly status: number
  /** ms from dispatch to the response headers or to the failure. */
  readonly latency: number
  /** Any byte of the request may have reached the node (false only for `connect`). */
  readonly sent: boolean
  /** 1 for the first attempt of the request, 2 for its first retry, ... */
  readonly attempt: number
}
export type AccessResult = PluginReply | undefined | void

/**
 * What `GET /admin/match` knows of the request it is asked about, for a
 * plugin's explain(): the same fields as the RequestContext (which satisfies
 * it), with the headers given as `header.NAME=` (names lower-case), the query
 * string of `path=`, and the client IP of `ip=` ('' when not given).
 */
export interface MatchView {
  readonly method: string
  /** Lower-case host without port. */
  readonly host: string
  /** Normalised path. */
  readonly path: string
  readonly headers: IncomingHttpHeaders
  /** Raw query string without `?` ('' when none). */
  readonly rawQuery: string
  readonly clientIp: string
}

export interface PluginInstance {
  /**
   * The instance needs the request body. On every route where it runs (all
   * routes for a global instance) the core then reads the whole body before
   * the access phases: up to the route's body limit (413 GW_BODY_TOO_LARGE
   * past it, nothing sent upstream), sending `100 Continue` first when the
   * client asked for it. The access phases find the bytes in `ctx.body`
   * (undefined when the request has no body) and must not change them; they
   * are forwarded as they are, with a Content-Length. Read once, when the
   * route is compiled.
   */
  readonly needsBody?: boolean
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
  /** Once per upstream attempt of the request, when the attempt ends (before `response` for the one that answered). */
  outcome?(ctx: RequestContext, outcome: UpstreamOutcome): void
  /**
   * Called once, when the instance is retired by a reload that changed or
   * removed it, or when the gateway stops (after the drain, before the Redis
   * connection closes; the stop waits for a returned promise at most 2 s).
   */
  close?(): void | Promise<void>
  /**
   * What the admin API shows of this instance (`GET /admin/plugins`): its
   * live state (a limit's scope, key, mode, usage), never secrets; a plain
   * JSON object, returned synchronously. Called per admin request, never on
   * the request path. A limit says `kind: 'limit'` and `scope: 'node'` (counted
   * in this process) or `'cluster'` (in Redis): `GET /admin/limits` lists it,
   * with its other fields (`key`, `mode`, `usage`, ...) as they are.
   */
  status?(): Record<string, unknown>
  /**
   * What this instance would do with the request `GET /admin/match` is asked
   * about (never called on the request path): a plain JSON object saying what
   * and why, or undefined when it has nothing to say. A string `upstream` in
   * it is the upstream the request would be sent to (as set by access() in
   * ctx.upstreamName); /admin/match shows it as the request's upstream.
   */
  explain?(view: MatchView): Record<string, unknown> | undefined
}

export type RedisState = 'connecting' | 'ready' | 'down'

/**
 * The gateway's shared Redis connection (one per process, configured by the
 * top-level `redis:` section; gateway/services/redis.ts). The contract:
 * - `client` never queues: while the state is not 'ready' a command fails at
 *   once (offline queue off), and a sent command fails after `commandTimeout`
 *   ms without a reply (slow, frozen or half-open Redis). A command is never
 *   retried or resent after a reconnect. So a limiter waits at most
 *   `commandTimeout` per command, and must decide itself what a failure means
 *   (fail open, fall back to a local limit, fail closed).
 * - Reconnection is automatic (backoff with jitter); `state` says where it is
 *   and `onStateChange` tells when it changes (at most once per change: the
 *   gateway logs and counts each change, plugins need not).
 * - The client does not prefix keys: put `keyPrefix` in front of every key.
 * - A reload that changes `redis:` builds a new connection and closes the old
 *   one once the requests of the old config are done; plugin instances that
 *   read `env.redis` are then created again with the new one.
 */
export interface RedisConnection {
  readonly client: Redis | Cluster
  readonly keyPrefix: string
  /** ms a command waits for its reply before it fails. */
  readonly commandTimeout: number
  readonly state: RedisState
  /** Date.now() of the last change of state. */
  readonly since: number
  /** Message of the last connection error (never includes credentials). */
  readonly lastError: string | undefined
  /** Calls `listener` on every change of state; returns the function that removes it (call it in close()). */
  onStateChange(listener: (state: RedisState, previous: RedisState) => void): () => void
}

/** Services the gateway hands to plugins at compile time (grows with later capabilities). */
export interface PluginEnv {
  readonly logger: Logger
  /** 'global': an instance of the top-level `plugins:` (runs on every route); 'route': of one route's `plugins:`. */
  readonly scope: 'global' | 'route'
  /** The route's id; undefined for a global instance. */
  readonly routeId: string | undefined
  now(): number
  /** The shared Redis connection; undefined when the config has no `redis:` section (see ConfigRefs for refusing that at validation). */
  readonly redis: RedisConnection | undefined
  /**
   * The registry exported on the admin /metrics. It lives as long as the
   * process, while a plugin instance lives until a reload changes it: create
   * metrics with `counter()` / `gauge()` of plugins/metrics.ts (the one
   * already registered under that name, else a new one) and label them by route.
   */
  readonly metrics: Registry
  /** This gateway's identity among its peers: `node.id` from the config, else `hostname:pid`. */
  readonly nodeId: string
  /**
   * The per-(route, group) figures of group `group` on this route (request
   * counts by status class, latency), kept across reloads; undefined for a
   * global instance. Fetch them at create time and set `ctx.groupMetrics`
   * along with `ctx.group`: the request path then does no lookup.
   */
  groupMetrics(group: string): GroupMetrics | undefined
}

/** What the whole config defines, for a plugin's check() of cross references. */
export interface ConfigRefs {
  /** A top-level `redis:` section is configured. */
  readonly redis: boolean
  /** Names of the defined upstreams. */
  readonly upstreams: ReadonlySet<string>
}

/** A problem found by check(): at the plugin's entry (a string), or at `path` inside its options. */
export type CheckProblem = string | { readonly path: ReadonlyArray<string | number>; readonly message: string }

// Schemas are plain JSON Schema; JSONSchemaType gives type-checking where a plugin wants it.
export type PluginSchema = JSONSchemaType<any> | Record<string, unknown>

export interface PluginDefinition<Options = any> {
  /** kebab-case; the key under a route's `plugins:`. */
  readonly name: string
  /** Higher runs first in every phase (APISIX convention; keep numbers sparse). */
  readonly priority: number
  /** The plugin works on a route only: validation refuses it in the top-level `plugins:`. */
  readonly routeOnly?: boolean
  /** JSON Schema of the options; defaults are filled in before `create`. */
  readonly schema: PluginSchema
  /**
   * Checks a schema cannot express, including references to the rest of the
   * config (`refs`: "scope: cluster needs a top-level redis: section");
   * return human-readable problems (empty: fine). A string is reported at
   * the plugin's entry (file:line); `{path, message}` at the key `path`
   * inside the plugin's options (e.g. `['sides', 'green']`).
   */
  check?(options: Options, refs: ConfigRefs): CheckProblem[]
  create(options: Options, env: PluginEnv): PluginInstance
}
