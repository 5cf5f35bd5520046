// Prometheus metrics. Request accounting is plain arithmetic on typed arrays
// held per route and per upstream (no label hashing per request, unlike
// prom-client's labelled children); prom-client formats them at scrape time
// through custom collectors. Stats are keyed by route id / upstream name and
// shared across reloads, so counters never reset because a config changed.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { RequestContext } from '../proxy/request-context.js'
import type { Snapshot } from '../snapshot/types.js'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'OTHER']
const METHOD_INDEX: Record<string, number> = Object.fromEntries(METHODS.map((m, i) => [m, i]))
const OTHER = METHODS.length - 1
const NO_ROUTE = '(none)'
const NODE_STATES = ['healthy', 'half-open', 'ejected', 'unhealthy'] as const
const BREAKER_STATES = ['closed', 'open', 'half-open'] as const

type UpstreamOf<S extends Snapshot> = S['upstreams'] extends ReadonlyMap<string, infer U> ? U : never

/** A fixed-bucket latency histogram (seconds). */
export class LatencyHistogram {
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length)
  sum = 0
  count = 0

  observe (seconds: number): void {
    this.sum += seconds
    this.count++
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++
        return
      }
    }
  }
}

function statusClass (status: number): number {
  return status >= 100 && status < 600 ? (status / 100) | 0 : 0
}

/** Per-route request counts (method x status class) and latency, and those of each group the route's requests were put in. */
export class RouteMetrics {
  readonly counts = new Float64Array(METHODS.length * STATUS_CLASS.length)
  readonly duration = new LatencyHistogram()
  /** By group name; made when a plugin asks for them (env.groupMetrics), kept while the route is. */
  readonly groups = new Map<string, GroupMetrics>()

  constructor (readonly routeId: string) {}

  count (method: string, status: number): void {
    const m = METHOD_INDEX[method] ?? OTHER
    this.counts[m * STATUS_CLASS.length + statusClass(status)]!++
  }

  /** The figures of one group of this route (ctx.group), made on first use. */
  group (name: string): GroupMetrics {
    let g = this.groups.get(name)
    if (g === undefined) {
      g = new GroupMetrics(name)
      this.groups.set(name, g)
    }
    return g
  }
}

/** Per-(route, group) request counts (status class) and latency: a side of a traffic split. */
export class GroupMetrics {
  readonly counts = new Float64Array(STATUS_CLASS.length)
  readonly duration = new LatencyHistogram()

  constructor (readonly group: string) {}

  count (status: number): void {
    this.counts[statusClass(status)]!++
  }
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string }

function histogramValues (name: string, labels: Record<string, string>, h: LatencyHistogram, out: MetricValue[]): void {
  let cumulative = 0
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    cumulative += h.buckets[i]!
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: LATENCY_BUCKETS[i]! }, value: cumulative })
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count })
  out.push({ metricName: `${name}_sum`, labels, value: h.sum })
  out.push({ metricName: `${name}_count`, labels, value: h.count })
}

export class GatewayMetrics {
  readonly registry = new Registry()
  readonly reloads: Counter<'result'>
  readonly retirementFailures: Counter
  readonly configVersion: Gauge
  /** Changes of the shared Redis connection's state, by the state entered (services/redis.ts). */
  readonly redisStateChanges: Counter<'state'>
  /** Circuit breaker transitions: scope node (target: node address) or route (target: route id), state entered, reason. */
  readonly breakerTransitions: Counter<'scope' | 'target' | 'to' | 'reason'>
  /** Active health check probes, by node address and result (health/prober.ts); a node's series go when its prober stops. */
  readonly healthChecks: Counter<'node' | 'result'>
  readonly #routes = new Map<string, RouteMetrics>()
  readonly #upstreams = new Map<string, LatencyHistogram>()
  readonly #errors = new Map<string, number>()
  /** `scope plugin` -> access phases that did not settle within their budget. */
  readonly #pluginTimeouts = new Map<string, number>()
  readonly #noRoute = new RouteMetrics(NO_ROUTE)
  #snapshot: (() => Snapshot) | undefined
  #inflight: (() => number) | undefined

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.reloads = new Counter({
      name: 'gateway_config_reloads_total',
      help: 'Config reload attempts by result (ok, failed, unchanged)',
      labelNames: ['result'],
      registers
    })
    this.retirementFailures = new Counter({
      name: 'gateway_reload_retirement_failures_total',
      help: 'Failures closing what only a replaced config used (plugin instances, upstream connection pools); the gateway keeps serving',
      registers
    })
    this.configVersion = new Gauge({ name: 'gateway_config_version', help: 'Version of the config in force', registers })
    this.redisStateChanges = new Counter({
      name: 'gateway_redis_state_changes_total',
      help: 'Changes of state of the shared Redis connection, by the state entered (ready, down)',
      labelNames: ['state'],
      registers
    })
    this.breakerTransitions = new Counter({
      name: 'gateway_breaker_transitions_total',
      help: 'Circuit breaker transitions, by scope (node: target is the node address; route: the route id), state entered and reason',
      labelNames: ['scope', 'target', 'to', 'reason'],
      registers
    })
    this.healthChecks = new Counter({
      name: 'gateway_health_checks_total',
      help: 'Active health check probes, by node address and result (success, or the failure: status, timeout, connect, reset, bad-response)',
      labelNames: ['node', 'result'],
      registers
    })
    this.#registerCollectors()
  }

  /** A breaker changed state (rare: never per request). */
  breakerTransition (scope: 'node' | 'route', target: string, to: string, reason: string): void {
    this.breakerTransitions.labels(scope, target, to, reason).inc()
  }

  #registerCollectors (): void {
    const custom = (name: string, help: string, type: 'counter' | 'histogram' | 'gauge', values: () => MetricValue[]): void => {
      this.registry.registerMetric({ name, help, type, get: () => ({ name, help, type, values: values(), aggregator: 'sum' }) } as never)
    }
    custom('gateway_requests_total', 'Requests handled, by route, method and status class', 'counter', () => {
      const out: MetricValue[] = []
      for (const rm of [...this.#routes.values(), this.#noRoute]) {
        for (let m = 0; m < METHODS.length; m++) {
          for (let c = 0; c < STATUS_CLASS.length; c++) {
            const v = rm.counts[m * STATUS_CLASS.length + c]!
            if (v > 0) out.push({ labels: { route: rm.routeId, method: METHODS[m]!, status: STATUS_CLASS[c]! }, value: v })
          }
        }
      }
      return out
    })
    custom('gateway_request_duration_seconds', 'Time from request arrival to response end, by route', 'histogram', () => {
      const out: MetricValue[] = []
      for (const rm of [...this.#routes.values(), this.#noRoute]) {
        if (rm.duration.count > 0) histogramValues('gateway_request_duration_seconds', { route: rm.routeId }, rm.duration, out)
      }
      return out
    })
    custom('gateway_route_group_requests_total',
      'Requests handled, by route, group (the side of a traffic split that served them) and status class', 'counter', () => {
        const out: MetricValue[] = []
        for (const rm of this.#routes.values()) {
          for (const g of rm.groups.values()) {
            for (let c = 0; c < STATUS_CLASS.length; c++) {
              const v = g.counts[c]!
              if (v > 0) out.push({ labels: { route: rm.routeId, group: g.group, status: STATUS_CLASS[c]! }, value: v })
            }
          }
        }
        return out
      })
    custom('gateway_route_group_duration_seconds', 'Time from request arrival to response end, by route and group', 'histogram', () => {
      const out: MetricValue[] = []
      for (const rm of this.#routes.values()) {
        for (const g of rm.groups.values()) {
          if (g.duration.count > 0) histogramValues('gateway_route_group_duration_seconds', { route: rm.routeId, group: g.group }, g.duration, out)
        }
      }
      return out
    })
    custom('gateway_upstream_response_seconds', 'Time from dispatch to upstream response headers, by upstream', 'histogram', () => {
      const out: MetricValue[] = []
      for (const [name, h] of this.#upstreams) histogramValues('gateway_upstream_response_seconds', { upstream: name }, h, out)
      return out
    })
    custom('gateway_errors_total', 'Answers produced by the gateway itself, by error code', 'counter', () =>
      [...this.#errors].map(([code, value]) => ({ labels: { code }, value })))
    custom('gateway_plugin_timeouts_total',
      'Asynchronous access phases that did not settle within their budget, by plugin and scope (global or route)', 'counter', () =>
        [...this.#pluginTimeouts].map(([key, value]) => {
          const space = key.indexOf(' ')
          return { labels: { plugin: key.slice(space + 1), scope: key.slice(0, space) }, value }
        }))
    // Node state is read from the live snapshot at scrape time: nothing on the request path.
    const perNode = (read: (n: Snapshot['upstreams'] extends ReadonlyMap<string, infer U> ? U : never, i: number) => number) => () => {
      const out: MetricValue[] = []
      const snap = this.#snapshot?.()
      if (snap === undefined) return out
      for (const u of snap.upstreams.values()) {
        for (let i = 0; i < u.nodes.length; i++) out.push({ labels: { upstream: u.name, node: u.nodes[i]!.id }, value: read(u, i) })
      }
      return out
    }
    // No sample when no `redis:` is configured.
    custom('gateway_redis_up', '1 when the shared Redis connection is ready, 0 when it is connecting or down', 'gauge', () => {
      const redis = this.#snapshot?.().services.redis
      return redis === undefined ? [] : [{ labels: {}, value: redis.state === 'ready' ? 1 : 0 }]
    })
    custom('gateway_requests_in_flight', 'Requests in flight', 'gauge', () => [{ labels: {}, value: this.#inflight?.() ?? 0 }])
    // Retry budgets and bulkheads: counters kept by each upstream (carried across reloads), read here.
    const perUpstream = (read: (u: UpstreamOf<Snapshot>, out: MetricValue[]) => void) => () => {
      const out: MetricValue[] = []
      const snap = this.#snapshot?.()
      if (snap !== undefined) for (const u of snap.upstreams.values()) read(u, out)
      return out
    }
    custom('gateway_upstream_retries_total',
      'Retries of failed attempts on another node, by upstream and result (retried, or budget_exhausted: refused by the retry budget)', 'counter',
      perUpstream((u, out) => {
        const w = u.retryBudget.window
        out.push({ labels: { upstream: u.name, result: 'retried' }, value: w.retried })
        out.push({ labels: { upstream: u.name, result: 'budget_exhausted' }, value: w.exhausted })
      }))
    custom('gateway_upstream_refusals_total',
      'Requests answered 503 GW_UPSTREAM_BUSY by an upstream\'s bulkhead, by upstream and the limit reached (maxRequests, maxPending)', 'counter',
      perUpstream((u, out) => {
        const c = u.bulkhead.counters
        out.push({ labels: { upstream: u.name, limit: 'maxRequests' }, value: c.refusedRequests })
        out.push({ labels: { upstream: u.name, limit: 'maxPending' }, value: c.refusedPending })
      }))
    custom('gateway_upstream_requests_in_flight', 'Requests in flight to an upstream, across its nodes (what limits.maxRequests bounds)', 'gauge',
      perUpstream((u, out) => { out.push({ labels: { upstream: u.name }, value: u.bulkhead.counters.inflight }) }))
    custom('gateway_upstream_requests_pending', 'Requests waiting for a pooled connection to an upstream node (what limits.maxPending bounds)', 'gauge',
      perUpstream((u, out) => { out.push({ labels: { upstream: u.name }, value: u.bulkhead.counters.pending }) }))
    custom('gateway_upstream_node_inflight', 'Requests in flight per upstream node', 'gauge', perNode((u, i) => u.nodes[i]!.inflight))
    custom('gateway_upstream_node_available', '1 when the node takes traffic, 0 when it is ejected, unhealthy or in a failover priority level not taking traffic', 'gauge',
      perNode((u, i) => u.nodes[i]!.available ? 1 : 0))
    custom('gateway_upstream_active_priority',
      'Last priority level (by zone, failover) taking traffic, per upstream: 0 = the local zone only', 'gauge', () =>
        [...this.#snapshot?.().upstreams.values() ?? []].map((u) => ({ labels: { upstream: u.name }, value: u.activeLevel })))
    custom('gateway_upstream_node_health',
      'Health of each upstream node: 1 for its current state (healthy, half-open, ejected by its breaker, unhealthy by the active check), 0 for the others',
      'gauge', () => {
        const out: MetricValue[] = []
        const snap = this.#snapshot?.()
        if (snap === undefined) return out
        for (const u of snap.upstreams.values()) {
          for (const n of u.nodes) {
            const state = n.health.state
            for (const s of NODE_STATES) out.push({ labels: { upstream: u.name, node: n.id, state: s }, value: s === state ? 1 : 0 })
          }
        }
        return out
      })
    custom('gateway_route_breaker_state', 'State of each route breaker: 1 for its current state (closed, open, half-open), 0 for the others', 'gauge', () => {
      const out: MetricValue[] = []
      const snap = this.#snapshot?.()
      if (snap === undefined) return out
      for (const r of snap.routes.values()) {
        const b = r.breaker?.breaker
        if (b === undefined) continue
        b.poll()
        for (const s of BREAKER_STATES) out.push({ labels: { route: r.id, state: s }, value: s === b.state ? 1 : 0 })
      }
      return out
    })
  }

  /** Lets scrape-time collectors read the snapshot in force and the in-flight count. */
  watch (current: () => Snapshot, inflight: () => number): void {
    this.#snapshot = current
    this.#inflight = inflight
  }

  /** The (shared, reload-surviving) stats of one route id. */
  routeMetrics (routeId: string): RouteMetrics {
    let rm = this.#routes.get(routeId)
    if (rm === undefined) {
      rm = new RouteMetrics(routeId)
      this.#routes.set(routeId, rm)
    }
    return rm
  }

  /** Forgets routes and upstreams no longer configured, so their series disappear. */
  prune (snapshot: Snapshot): void {
    for (const id of this.#routes.keys()) if (!snapshot.routes.has(id)) this.#routes.delete(id)
    for (const name of this.#upstreams.keys()) if (!snapshot.upstreams.has(name)) this.#upstreams.delete(name)
  }

  /** An access phase of `plugin` (a global or a route instance) did not settle within its budget. */
  pluginTimedOut (plugin: string, scope: 'global' | 'route'): void {
    const key = `${scope} ${plugin}`
    this.#pluginTimeouts.set(key, (this.#pluginTimeouts.get(key) ?? 0) + 1)
  }

  observeRequest (ctx: RequestContext, status: number, durationMs: number): void {
    const rm = ctx.route?.metrics ?? this.#noRoute
    rm.count(ctx.method, status)
    rm.duration.observe(durationMs / 1000)
    if (ctx.group !== undefined) {
      // Pre-created by the plugin that chose the group; a lookup only for one that did not.
      const g = ctx.groupMetrics ?? rm.group(ctx.group)
      g.count(status)
      g.duration.observe(durationMs / 1000)
    }
    if (ctx.upstreamTime >= 0 && ctx.upstream !== undefined) {
      const name = ctx.upstream.name
      let h = this.#upstreams.get(name)
      if (h === undefined) {
        h = new LatencyHistogram()
        this.#upstreams.set(name, h)
      }
      h.observe(ctx.upstreamTime / 1000)
    }
    if (ctx.errorCode !== undefined) this.#errors.set(ctx.errorCode, (this.#errors.get(ctx.errorCode) ?? 0) + 1)
  }
}
