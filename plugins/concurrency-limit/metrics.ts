// The metrics of a concurrency limit: the counters every limit shares
// (gateway_limit_admitted_total / rejected_total / redis_mode, in
// limit-common/metrics.ts), plus its own:
//   gateway_limit_inflight{route, limit}             permits this gateway holds (node scope: the usage)
//   gateway_limit_queue_wait_seconds{route, limit}   how long queued requests waited (admitted or refused)
// As with the shared counters, the request path only adds to plain numbers,
// kept per (route, limit) across reloads; prom-client reads them at scrape.
// The histogram is observed only by requests that waited.
import { Histogram, type Registry } from 'prom-client'
import { limitStats, type LimitStats } from '../limit-common/metrics.js'

const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Permits held, per (route, limit): old and new instances of a limit add to the same number across a reload. */
export interface Inflight {
  value: number
}

export interface ConcurrencyMetrics {
  stats: LimitStats
  inflight: Inflight
  queueWait: { observe(seconds: number): void }
}

class PerRegistry {
  readonly #inflight = new Map<string, Inflight & { route: string; limit: string }>()
  readonly wait: Histogram<'route' | 'limit'>

  constructor (registry: Registry) {
    const name = 'gateway_limit_inflight'
    const help = 'Requests holding a concurrency permit of this gateway, by route (* for a global limit) and limit'
    registry.registerMetric({
      name,
      help,
      type: 'gauge',
      get: () => ({
        name,
        help,
        type: 'gauge',
        aggregator: 'sum',
        values: [...this.#inflight.values()].map((i) => ({ labels: { route: i.route, limit: i.limit }, value: i.value }))
      })
    } as never)
    this.wait = new Histogram({
      name: 'gateway_limit_queue_wait_seconds',
      help: 'Time requests waited in a concurrency limit queue (admitted or refused), by route and limit',
      labelNames: ['route', 'limit'],
      buckets: WAIT_BUCKETS,
      registers: [registry]
    })
  }

  inflight (route: string, limit: string): Inflight {
    const key = `${route}\n${limit}`
    let i = this.#inflight.get(key)
    if (i === undefined) {
      i = { route, limit, value: 0 }
      this.#inflight.set(key, i)
    }
    return i
  }
}

const perRegistry = new WeakMap<Registry, PerRegistry>()

export function concurrencyMetrics (registry: Registry, routeId: string | undefined, limit: string): ConcurrencyMetrics {
  let m = perRegistry.get(registry)
  if (m === undefined) {
    m = new PerRegistry(registry)
    perRegistry.set(registry, m)
  }
  const route = routeId ?? '*'
  return { stats: limitStats(registry, routeId, limit), inflight: m.inflight(route, limit), queueWait: m.wait.labels({ route, limit }) }
}
