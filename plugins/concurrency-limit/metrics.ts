// The metrics of a limit, shared with the rate-limit plugin (same names and
// labels: route — '*' for a global instance — and limit, the `name` option).
// Created once per registry; an instance takes its labelled children once, at
// create, so the request path only calls inc()/dec().
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

const LABELS = ['route', 'limit'] as const
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export interface LimitMetrics {
  admitted: { inc(): void }
  rejected: { inc(): void }
  /** Permits this gateway holds (node scope: the usage; cluster scope: this gateway's share). */
  inflight: { inc(): void; dec(): void }
  /** Seconds a queued request waited, admitted or not. */
  queueWait: { observe(seconds: number): void }
}

function counter (registry: Registry, name: string, help: string): Counter<typeof LABELS[number]> {
  return registry.getSingleMetric(name) as Counter<typeof LABELS[number]> | undefined ??
    new Counter({ name, help, labelNames: LABELS, registers: [registry] })
}

export function limitMetrics (registry: Registry, route: string, limit: string): LimitMetrics {
  const inflight = registry.getSingleMetric('gateway_limit_inflight') as Gauge<typeof LABELS[number]> | undefined ??
    new Gauge({ name: 'gateway_limit_inflight', help: 'Requests holding a concurrency permit of this gateway', labelNames: LABELS, registers: [registry] })
  const wait = registry.getSingleMetric('gateway_limit_queue_wait_seconds') as Histogram<typeof LABELS[number]> | undefined ??
    new Histogram({
      name: 'gateway_limit_queue_wait_seconds',
      help: 'Time requests waited in a concurrency limit queue (admitted or refused)',
      labelNames: LABELS,
      buckets: WAIT_BUCKETS,
      registers: [registry]
    })
  const labels = { route, limit }
  return {
    admitted: counter(registry, 'gateway_limit_admitted_total', 'Requests a limit admitted').labels(labels),
    rejected: counter(registry, 'gateway_limit_rejected_total', 'Requests a limit refused').labels(labels),
    inflight: inflight.labels(labels),
    queueWait: wait.labels(labels)
  }
}
