// The validated configuration model: what a YAML file means once schema
// defaults are filled in and sizes/durations are turned into numbers.
// Every optional YAML key has a default, so code reading these types never
// has to guess (only truly optional features stay `?`).

/** A header or query condition: exact value, a regular expression, or presence. */
export type ValueMatcher = string | { regex: string } | { present: boolean }

export interface RouteMatch {
  /** Exact hosts (`api.example.com`) or leading wildcards (`*.example.com`). Empty: any host. */
  hosts: string[]
  /** `/a/b` exact, `/a/:id` named parameter, `/a/*` prefix (also matches `/a` itself). */
  paths: string[]
  /** Upper-case methods. Empty: any method. */
  methods: string[]
  /** Lower-cased header name -> condition; all must hold. */
  headers: Record<string, ValueMatcher>
  /** Query parameter -> condition; all must hold. */
  query: Record<string, ValueMatcher>
}

export interface RouteRewrite {
  /** Remove the route's literal prefix (the part before `*`) from the forwarded path. */
  stripPrefix: boolean
  /** Replace the route's literal prefix with this one. */
  prefix?: string
  /** Replace the whole path with this template; `:name` takes a path parameter. */
  path?: string
}

export interface RouteConfig {
  id: string
  match: RouteMatch
  /** Higher wins where several routes match; equal priority: the most specific wins. */
  priority: number
  upstream: string
  rewrite: RouteRewrite
  websocket: boolean
  /** Overrides server.bodyLimit for this route (bytes). */
  bodyLimit?: number
  /** Plugin name -> options, validated by that plugin's own schema. */
  plugins: Record<string, unknown>
  /** Circuit breaker on the route's upstream attempts: while open, requests are answered at once. */
  breaker?: BreakerConfig
  /** The answer given instead of 503 when the route's breaker is open or no node is left. */
  fallback?: FallbackConfig
}

/** A circuit breaker's options (routes[].breaker, and upstreams.*.breaker with maxEjectionPercent). Durations in ms. */
export interface BreakerConfig {
  /** Failures in a row that open the breaker; 0: not used. */
  consecutiveFailures: number
  /** Share of failures among the calls in the window (0..1] that opens it; absent: not used. */
  errorRatio?: number
  /** Share of calls slower than slowCallThreshold in the window (0..1] that opens it; absent: not used. */
  slowCallRatio?: number
  /** ms: a call whose response headers take longer is slow; set exactly when slowCallRatio is. */
  slowCallThreshold?: number
  /** ms of calls the ratios are judged over. */
  window: number
  /** Calls the window must hold before a ratio is judged. */
  minCalls: number
  /** Response statuses that count as failures (connect/reset/timeout/bad-response always do). */
  failureStatuses: number[]
  /** ms the breaker stays open after its first trip; doubles with each further trip without a close. */
  openTime: number
  /** ms: the cap of that doubling. */
  maxOpenTime: number
  /** Trial calls let through half-open; all must succeed to close. */
  halfOpenRequests: number
}

/** upstreams.*.breaker: a breaker per node of the upstream (outlier ejection). */
export interface NodeBreakerConfig extends BreakerConfig {
  /** Most nodes of the upstream (percent, rounded down) the breakers may hold out at once. */
  maxEjectionPercent: number
}

/** routes[].fallback: a complete response (degraded mode). */
export interface FallbackConfig {
  status: number
  /** Lower-cased header name -> value. */
  headers: Record<string, string>
  body: string
}

export type BalancerKind = 'roundrobin' | 'random' | 'least-conn' | 'chash'

/** Where a consistent-hash key comes from. */
export type HashOn =
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string }
  | { kind: 'ip' }
  | { kind: 'path' }

export interface UpstreamNodeConfig {
  /** `http://host:port` (a base path is allowed and prefixed to forwarded paths). */
  url: string
  weight: number
  /** Data-centre / zone tag: the node's priority level under `failover` (none: the gateway's own zone). */
  zone?: string
  metadata: Record<string, string>
}

export interface UpstreamTimeouts {
  /** ms to establish the TCP connection -> 504 GW_UPSTREAM_CONNECT_TIMEOUT when exceeded. */
  connect: number
  /** ms until the upstream's response headers arrive, across all attempts of a request -> 504. */
  header: number
  /**
   * ms one attempt waits for response headers (never more than what is left of
   * `header`); when it runs out, an idempotent body-less request is retried on
   * another node, any other gets 504. Absent: an attempt may use all that is left.
   */
  try?: number
  /** ms of silence allowed between body chunks -> connection cut. */
  idle: number
}

/**
 * Priority groups by zone (gateway/upstream/zones.ts): the gateway's own zone
 * first, then `zones` in order, then the other zones of the nodes by name; a
 * level whose healthy share falls below `minHealthy` lets the next one take
 * traffic too.
 */
export interface FailoverConfig {
  /** Priority order after the gateway's own zone (without `node.zone`, the first of these is the own zone). */
  zones: string[]
  /** 0..1: a level with a smaller share of healthy nodes (or none) spills to the next. */
  minHealthy: number
}

/**
 * The active health check of an upstream's nodes: one prober per node address
 * (gateway/health/prober.ts). Every upstream listing an address has the same
 * one, or none (checked at load).
 */
export interface HealthCheckConfig {
  /** Path (and query) probed with GET on the node's address (the node URL's base path is not put in front). */
  path: string
  /** ms between the starts of two probes, plus up to `jitter`. */
  interval: number
  /** ms: each wait is lengthened by a random share of this (default: a tenth of the interval). */
  jitter: number
  /** ms a probe may take, connect to end of body (default: 1s, at most half the interval). */
  timeout: number
  /** Consecutive successes that readmit an unhealthy node. */
  healthyThreshold: number
  /** Consecutive failures (timeout, connect error, unexpected status) that take a node out. */
  unhealthyThreshold: number
  /** Statuses that count as success, sorted, without repeats. */
  statuses: number[]
  /** Host header of the probe; absent: the node's host:port. */
  host?: string
}

export interface UpstreamConfig {
  name: string
  balancer: BalancerKind
  hashOn?: HashOn
  nodes: UpstreamNodeConfig[]
  timeouts: UpstreamTimeouts
  /** Keep-alive pool per node. */
  pool: { connections: number; keepAliveTimeout: number }
  /** Extra attempts on another node (see gateway/upstream/retry-policy.ts for which failures). */
  retries: number
  /** Absent: every healthy node takes traffic, whatever its zone. */
  failover?: FailoverConfig
  /** Per-node circuit breakers (outlier ejection); absent: nodes are never ejected on live traffic. */
  breaker?: NodeBreakerConfig
  /** Active health check of the nodes; absent: none. */
  healthCheck?: HealthCheckConfig
  retryBudget: RetryBudgetConfig
  limits: UpstreamLimits
}

/**
 * Retries never exceed `ratio` x the requests sent to the upstream over the last
 * 10 s, plus `minPerSecond` x 10 s (so a quiet upstream can still be retried).
 */
export interface RetryBudgetConfig {
  ratio: number
  minPerSecond: number
}

/** Bulkheads: absent bounds are unbounded; a request over one is answered 503 GW_UPSTREAM_BUSY at once. */
export interface UpstreamLimits {
  /** Requests in flight to the upstream, across its nodes. */
  maxRequests?: number
  /** Requests waiting for a pooled connection (their node's pool is all busy). */
  maxPending?: number
}

export interface ServerConfig {
  bodyLimit: number
  /** Peers (IPs or CIDRs) whose X-Forwarded-* and X-Request-Id headers are believed. */
  trustedProxies: string[]
  /** ms to receive the full request head (slowloris guard) -> 408. */
  headersTimeout: number
  /** ms to receive the full request -> 408. */
  requestTimeout: number
  /** ms an idle client keep-alive connection stays open. */
  keepAliveTimeout: number
  /** ms SIGTERM waits for in-flight requests before closing what is left. */
  drainTimeout: number
  /** Maximum bytes of request head (Node's maxHeaderSize) -> 431. */
  maxHeaderSize: number
  /** Longest request target (path + query) accepted -> 414. */
  maxUriLength: number
  /** ms the core waits for a plugin's asynchronous access phase, unless the plugin sets its own (accessTimeout). */
  pluginTimeout: number
}

export interface RedisEndpoint {
  host: string
  port: number
}

/**
 * The shared Redis connection (`redis:`), normalised: the URL form is split
 * into its parts, so exactly one of `standalone` / `sentinel` / `cluster` is set.
 * Holds the password: never log it, never return it from the admin API.
 */
export interface RedisConfig {
  mode: 'standalone' | 'sentinel' | 'cluster'
  /** standalone: the server; sentinel: the sentinels; cluster: the seed nodes. */
  endpoints: RedisEndpoint[]
  /** `rediss://`: TLS (standalone only). */
  tls: boolean
  /** sentinel: the master's name. */
  name?: string
  username?: string
  password?: string
  db: number
  keyPrefix: string
  /** ms a command may wait for its reply before it fails. */
  commandTimeout: number
  /** ms a connection attempt may take. */
  connectTimeout: number
  /** Reconnect backoff: exponential from min to max ms, with jitter. */
  reconnect: { min: number; max: number }
}

export interface GatewayConfig {
  listen: { host: string; port: number }
  admin: { host: string; port: number; token?: string }
  server: ServerConfig
  accessLog: { enabled: boolean }
  /**
   * `id`: this gateway's identity among its peers; unset: `hostname:pid` (resolved by the gateway, see services/node-id.ts).
   * `zone`: the data centre the gateway runs in, preferred by upstreams with `failover`.
   */
  node: { id?: string; zone?: string }
  /** Absent: no Redis; plugins needing one are refused at validation. */
  redis?: RedisConfig
  upstreams: Record<string, UpstreamConfig>
  /** Global plugins: name -> options, like a route's `plugins:`; they run on every route, before the route's own. */
  plugins: Record<string, unknown>
  routes: RouteConfig[]
}

/** Where a value came from, for error messages: `file:line:column`. */
export interface SourceLocation {
  file: string
  line: number
  column: number
}

export interface ConfigIssue {
  location?: SourceLocation
  /** JSON-pointer-like path into the merged config, e.g. `routes[3].upstream`. */
  path: string
  message: string
  /**
   * Another place the issue concerns (where a duplicate was first defined, the
   * route a conflicting one shadows). formatIssue appends it to the message as
   * ` (TEXT file:line)`, with the file shown like the issue's own location.
   */
  related?: { text: string; location: SourceLocation }
}
