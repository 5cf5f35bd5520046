// The metrics every limit plugin shares, one set per registry (process):
//   gateway_limit_admitted_total{route, limit}   requests a limit let through
//   gateway_limit_rejected_total{route, limit}   requests it refused (429 / 503)
//   gateway_limit_redis_mode{route, limit}       cluster scope: 0 shared, 1 local, 2 open, 3 closed
// A request only does `stats.admitted++` on a plain object; prom-client reads
// the numbers at scrape time (custom collectors, like the core's metrics).
// Stats are keyed by (route, limit) and outlive plugin instances, so a reload
// that re-creates a limit never resets its counters. `route` is the route id,
// `*` for a global instance; `limit` is the limit's name (its `name` option,
// default the plugin name).
import type { Registry } from 'prom-client'

export interface LimitStats {
  readonly route: string
  readonly limit: string
  admitted: number
  rejected: number
  /** Value of gateway_limit_redis_mode; -1: no Redis mode (node scope), no sample. */
  mode: number
  /** Instances holding this entry with a Redis mode (the gauge is shown while > 0). */
  modeHolders: number
}

type Sample = { value: number; labels: Record<string, string> }

class LimitMetrics {
  readonly #stats = new Map<string, LimitStats>()

  constructor (registry: Registry) {
    const custom = (name: string, help: string, type: 'counter' | 'gauge', values: () => Sample[]): void => {
      registry.registerMetric({ name, help, type, get: () => ({ name, help, type, values: values(), aggregator: 'sum' }) } as never)
    }
    custom('gateway_limit_admitted_total', 'Requests a limit let through, by route (* for a global limit) and limit', 'counter',
      () => this.#samples((s) => s.admitted))
    custom('gateway_limit_rejected_total', 'Requests a limit refused (429, or 503), by route (* for a global limit) and limit', 'counter',
      () => this.#samples((s) => s.rejected))
    custom('gateway_limit_redis_mode', 'Mode of a cluster-scope limit: 0 shared (Redis), 1 local fallback, 2 open, 3 closed', 'gauge',
      () => this.#samples((s) => s.modeHolders > 0 && s.mode >= 0 ? s.mode : undefined))
  }

  stats (route: string, limit: string): LimitStats {
    const key = `${route}\n${limit}`
    let s = this.#stats.get(key)
    if (s === undefined) {
      s = { route, limit, admitted: 0, rejected: 0, mode: -1, modeHolders: 0 }
      this.#stats.set(key, s)
    }
    return s
  }

  #samples (read: (s: LimitStats) => number | undefined): Sample[] {
    const out: Sample[] = []
    for (const s of this.#stats.values()) {
      const value = read(s)
      if (value !== undefined) out.push({ labels: { route: s.route, limit: s.limit }, value })
    }
    return out
  }
}

const perRegistry = new WeakMap<Registry, LimitMetrics>()

/** The (shared, reload-surviving) counters of one limit: `routeId` undefined for a global instance. */
export function limitStats (registry: Registry, routeId: string | undefined, limit: string): LimitStats {
  let m = perRegistry.get(registry)
  if (m === undefined) {
    m = new LimitMetrics(registry)
    perRegistry.set(registry, m)
  }
  return m.stats(routeId ?? '*', limit)
}
