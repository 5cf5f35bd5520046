// Starts, reconfigures and stops the active probers from a snapshot's
// upstreams (called by build-snapshot.ts each time one is built: at start and
// on every reload). A prober lives in its node's NodeHealth slot 'prober', so
// there is one per node address however many upstreams list it, and it
// follows the record's lifetime: it is closed when the record retires (no
// live snapshot lists the address) or when the gateway stops
// (NodeHealthRegistry.closeAll). The config loader has checked that every
// upstream listing an address has the same healthCheck, or none
// (config/build-health-check.ts).
//
// Per node of the new snapshot:
// - a check and no prober yet: one is started (the node stays healthy until
//   it fails `unhealthyThreshold` probes);
// - the same settings as the running prober: kept, with its counts and verdict
//   (a weight edit leaves an unhealthy node out);
// - other settings: the prober is reconfigured, keeping the node's verdict;
// - no check any more: the prober stops and the node's probe verdict is
//   cleared (it is healthy as far as active checks go).
import type { Logger } from 'pino'
import type { HealthCheckConfig } from '../config/types.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import type { Upstream } from '../upstream/upstream.js'
import type { NodeHealth } from './node-health.js'
import { PROBE_RESULTS, Prober, settingsKey, type ProberEvents, type ProbeResult } from './prober.js'

/** The NodeHealth slot a node's prober is kept in. */
export const PROBER_SLOT = 'prober'

export interface ProberDeps {
  metrics: GatewayMetrics
  logger: Logger
}

/** Brings the probers of every node of `upstreams` in line with their upstreams' healthCheck. */
export function syncProbers (upstreams: Iterable<Upstream>, deps: ProberDeps): void {
  const wanted = new Map<NodeHealth, HealthCheckConfig | undefined>()
  for (const u of upstreams) {
    for (const n of u.nodes) {
      if (u.config.healthCheck !== undefined || !wanted.has(n.health)) wanted.set(n.health, u.config.healthCheck)
    }
  }
  for (const [health, settings] of wanted) {
    const prober = proberOf(health)
    if (settings === undefined) {
      if (prober === undefined) continue
      prober.close()
      health.slots.delete(PROBER_SLOT)
      if (!health.probeHealthy) {
        health.probeHealthy = true
        health.changed()
      }
    } else if (prober === undefined) {
      health.slots.set(PROBER_SLOT, new Prober(health, settings, proberEvents(deps)))
    } else if (prober.key !== settingsKey(settings)) {
      prober.reconfigure(settings)
    }
  }
}

function proberEvents ({ metrics, logger }: ProberDeps): ProberEvents {
  return {
    probed: (address, result) => metrics.healthChecks.labels(address, result).inc(),
    verdict: (address, healthy, reason) => {
      if (healthy) logger.info({ node: address }, 'node passed its health checks: back in its upstreams')
      else logger.warn({ node: address, reason }, 'node failed its health checks: out of its upstreams until it passes them again')
    },
    closed: (address) => {
      for (const result of PROBE_RESULTS) metrics.healthChecks.remove(address, result)
    },
    failed: (address, err) => logger.error({ err, node: address }, 'acting on a health check result failed; the checks go on')
  }
}

function proberOf (health: NodeHealth): Prober | undefined {
  const slot = health.slots.get(PROBER_SLOT)
  return slot instanceof Prober ? slot : undefined
}

/** What `/admin/upstreams` shows of a node's active check; null when it has none. */
export interface ProbeStatus {
  path: string
  /** The last probe's result (`success`, `status`, `timeout`, `connect`, `reset`, `bad-response`); null before the first. */
  lastResult: ProbeResult | null
  lastError: string | null
  /** ISO time the last probe ended; null before the first. */
  lastProbeAt: string | null
  consecutiveSuccesses: number
  consecutiveFailures: number
}

export function probeStatus (health: NodeHealth): ProbeStatus | null {
  const p = proberOf(health)
  if (p === undefined) return null
  return {
    path: p.settings.path,
    lastResult: p.lastResult ?? null,
    lastError: p.lastError ?? null,
    lastProbeAt: p.lastProbeAt === undefined ? null : new Date(p.lastProbeAt).toISOString(),
    consecutiveSuccesses: p.consecutiveSuccesses,
    consecutiveFailures: p.consecutiveFailures
  }
}
