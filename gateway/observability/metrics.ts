// Prometheus metrics (prom-client). Label children are resolved once per route
// (and cached per method/status class) so a request only bumps numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RequestContext } from '../proxy/request-context.js'
import type { Snapshot } from '../snapshot/types.js'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']
const NO_ROUTE = '(none)'

type CounterChild = ReturnType<Counter<string>['labels']>
type HistogramChild = ReturnType<Histogram<string>['labels']>

/** Per-route metric handles, created when a route is compiled and reused with it. */
export class RouteMetrics {
  readonly #byKey = new Map<string, CounterChild>()
  readonly duration: HistogramChild

  constructor (readonly routeId: string, readonly metrics: GatewayMetrics) {
    this.duration = metrics.requestDuration.labels(routeId)
  }

  count (method: string, status: number): void {
    const cls = STATUS_CLASS[status >= 100 && status < 600 ? (status / 100) | 0 : 0]!
    const key = method + cls
    let child = this.#byKey.get(key)
    if (child === undefined) {
      child = this.metrics.requests.labels(this.routeId, method, cls)
      this.#byKey.set(key, child)
    }
    child.inc()
  }
}

export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'route' | 'method' | 'status'>
  readonly requestDuration: Histogram<'route'>
  readonly upstreamDuration: Histogram<'upstream'>
  readonly inflight: Gauge
  readonly reloads: Counter<'result'>
  readonly configVersion: Gauge
  readonly gatewayErrors: Counter<'code'>
  readonly #upstreamChildren = new Map<string, HistogramChild>()
  readonly #noRoute: RouteMetrics
  #snapshot: (() => Snapshot) | undefined

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.requests = new Counter({
      name: 'gateway_requests_total',
      help: 'Requests handled, by route, method and status class',
      labelNames: ['route', 'method', 'status'],
      registers
    })
    this.requestDuration = new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Time from request arrival to response end, by route',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers
    })
    this.upstreamDuration = new Histogram({
      name: 'gateway_upstream_response_seconds',
      help: 'Time from dispatch to upstream response headers, by upstream',
      labelNames: ['upstream'],
      buckets: LATENCY_BUCKETS,
      registers
    })
    this.inflight = new Gauge({ name: 'gateway_requests_in_flight', help: 'Requests in flight', registers })
    this.reloads = new Counter({
      name: 'gateway_config_reloads_total',
      help: 'Config reload attempts by result (ok, failed, unchanged)',
      labelNames: ['result'],
      registers
    })
    this.configVersion = new Gauge({ name: 'gateway_config_version', help: 'Version of the config in force', registers })
    this.gatewayErrors = new Counter({
      name: 'gateway_errors_total',
      help: 'Answers produced by the gateway itself, by error code',
      labelNames: ['code'],
      registers
    })
    const self = this
    // Node state is read from the live snapshot at scrape time: nothing on the request path.
    new Gauge({
      name: 'gateway_upstream_node_inflight',
      help: 'Requests in flight per upstream node',
      labelNames: ['upstream', 'node'],
      registers,
      collect () {
        this.reset()
        const snap = self.#snapshot?.()
        if (snap === undefined) return
        for (const u of snap.upstreams.values()) for (const n of u.nodes) this.labels(u.name, n.id).set(n.inflight)
      }
    })
    new Gauge({
      name: 'gateway_upstream_node_available',
      help: '1 when the node takes traffic, 0 when it is ejected',
      labelNames: ['upstream', 'node'],
      registers,
      collect () {
        this.reset()
        const snap = self.#snapshot?.()
        if (snap === undefined) return
        for (const u of snap.upstreams.values()) for (const n of u.nodes) this.labels(u.name, n.id).set(n.available ? 1 : 0)
      }
    })
    this.#noRoute = new RouteMetrics(NO_ROUTE, this)
  }

  /** Lets scrape-time collectors read the snapshot in force. */
  watchSnapshot (current: () => Snapshot): void {
    this.#snapshot = current
  }

  routeMetrics (routeId: string): RouteMetrics {
    return new RouteMetrics(routeId, this)
  }

  observeRequest (ctx: RequestContext, status: number, durationMs: number): void {
    const rm = ctx.route?.metrics ?? this.#noRoute
    rm.count(ctx.method, status)
    rm.duration.observe(durationMs / 1000)
    if (ctx.upstreamTime >= 0 && ctx.upstream !== undefined) {
      const name = ctx.upstream.name
      let child = this.#upstreamChildren.get(name)
      if (child === undefined) {
        child = this.upstreamDuration.labels(name)
        this.#upstreamChildren.set(name, child)
      }
      child.observe(ctx.upstreamTime / 1000)
    }
    if (ctx.errorCode !== undefined) this.gatewayErrors.labels(ctx.errorCode).inc()
  }
}
