// The active health check of one node address: a GET of the configured path
// every `interval` (plus a random share of `jitter`), on a dedicated undici
// client (one connection), so a probe never queues behind live traffic in the
// node's pool. Each probe has its own timeout, from connect to the end of the
// body. `unhealthyThreshold` failures in a row (timeout, connect error, reset,
// invalid response, unexpected status) set the node's `probeHealthy` verdict
// to false; `healthyThreshold` successes in a row set it back. A node starts
// healthy. Timers are unref'd and an idle probe socket is unref'd by undici:
// a prober never keeps the process alive. Kept in NodeHealth.slots (see
// probers.ts): one per address, however many upstreams list it.
import { Client } from 'undici'
import type { HealthCheckConfig } from '../config/types.js'
import { outcomeKind } from '../proxy/upstream-errors.js'
import type { HealthSlot, NodeHealth } from './node-health.js'

/** `success`, or why a probe failed: `status` (not one of the expected statuses), `timeout`, `connect`, `reset`, `bad-response`. */
export type ProbeResult = 'success' | 'status' | 'timeout' | 'connect' | 'reset' | 'bad-response'

export const PROBE_RESULTS: readonly ProbeResult[] = ['success', 'status', 'timeout', 'connect', 'reset', 'bad-response']

/** What a prober tells the rest of the gateway. */
export interface ProberEvents {
  /** A probe of `address` ended (metrics). */
  probed(address: string, result: ProbeResult): void
  /** The node's verdict changed (log). `reason`: the last probe's error, when it went unhealthy. */
  verdict(address: string, healthy: boolean, reason: string | undefined): void
  /** The prober stopped for good (its series may go). */
  closed(address: string): void
  /** Acting on a probe's result threw (a bug in a listener): the prober goes on. */
  failed(address: string, err: unknown): void
}

/** Most of a probe's response body read before the connection is dropped instead. */
const BODY_LIMIT = 64 * 1024

export class Prober implements HealthSlot {
  consecutiveSuccesses = 0
  consecutiveFailures = 0
  lastResult: ProbeResult | undefined
  lastError: string | undefined
  /** Date.now() when the last probe ended. */
  lastProbeAt: number | undefined
  #settings: HealthCheckConfig
  #key: string
  #client: Client
  #timer: NodeJS.Timeout | undefined
  #abort: AbortController | undefined
  /** Bumped by reconfigure() and close(): a probe of an older generation has its result ignored. */
  #generation = 0
  #closed = false

  constructor (readonly health: NodeHealth, settings: HealthCheckConfig, readonly events: ProberEvents) {
    this.#settings = settings
    this.#key = settingsKey(settings)
    this.#client = this.#newClient()
    this.#schedule(Math.random() * settings.jitter)
  }

  get settings (): HealthCheckConfig { return this.#settings }

  /** Identity of the settings: a reload with the same key keeps the prober untouched. */
  get key (): string { return this.#key }

  /**
   * New settings (a reload changed them): the probe in flight is dropped, the
   * next one starts after the new interval's jitter; the node's verdict and the
   * counts of successes and failures in a row are kept.
   */
  reconfigure (settings: HealthCheckConfig): void {
    if (this.#closed) return
    this.#stopProbing()
    const old = this.#client
    void old.destroy().catch(() => {})
    this.#settings = settings
    this.#key = settingsKey(settings)
    this.#client = this.#newClient()
    this.#schedule(Math.random() * settings.jitter)
  }

  /** Stops probing for good (the node record retired, or the gateway stops). */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#stopProbing()
    void this.#client.destroy().catch(() => {})
    this.events.closed(this.health.address)
  }

  #newClient (): Client {
    return new Client(this.health.address, {
      pipelining: 1,
      connect: { timeout: this.#settings.timeout },
      headersTimeout: 0,
      bodyTimeout: 0
    })
  }

  #stopProbing (): void {
    this.#generation++
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#abort?.abort()
    this.#abort = undefined
  }

  #schedule (delay: number): void {
    this.#timer = setTimeout(() => {
      this.#probe().catch((err: unknown) => this.events.failed(this.health.address, err))
    }, delay)
    this.#timer.unref()
  }

  async #probe (): Promise<void> {
    this.#timer = undefined
    const generation = this.#generation
    const { path, host, statuses, timeout, interval, jitter } = this.#settings
    const started = performance.now()
    const abort = new AbortController()
    this.#abort = abort
    const deadline = setTimeout(() => abort.abort(), timeout)
    deadline.unref()
    let result: ProbeResult
    let error: string | undefined
    try {
      const res = await this.#client.request({
        method: 'GET',
        path,
        headers: { host: host ?? new URL(this.health.address).host, 'user-agent': 'gateway-health-check', accept: '*/*' },
        signal: abort.signal
      })
      await res.body.dump({ limit: BODY_LIMIT, signal: abort.signal })
      if (statuses.includes(res.statusCode)) result = 'success'
      else {
        result = 'status'
        error = `status ${res.statusCode}`
      }
    } catch (err) {
      result = abort.signal.aborted ? 'timeout' : failureOf(err as Error)
      error = result === 'timeout' ? `no answer within ${timeout}ms` : (err as Error).message
    } finally {
      clearTimeout(deadline)
    }
    if (generation !== this.#generation) return // reconfigured or closed meanwhile
    this.#abort = undefined
    try {
      this.#record(result, error)
    } finally {
      const elapsed = performance.now() - started
      this.#schedule(Math.max(0, interval + Math.random() * jitter - elapsed))
    }
  }

  #record (result: ProbeResult, error: string | undefined): void {
    this.lastResult = result
    this.lastError = error
    this.lastProbeAt = Date.now()
    this.events.probed(this.health.address, result)
    const { healthyThreshold, unhealthyThreshold } = this.#settings
    const h = this.health
    if (result === 'success') {
      this.consecutiveSuccesses++
      this.consecutiveFailures = 0
      if (!h.probeHealthy && this.consecutiveSuccesses >= healthyThreshold) {
        h.probeHealthy = true
        h.recovered()
        h.changed()
        this.events.verdict(h.address, true, undefined)
      }
    } else {
      this.consecutiveFailures++
      this.consecutiveSuccesses = 0
      if (h.probeHealthy && this.consecutiveFailures >= unhealthyThreshold) {
        h.probeHealthy = false
        h.changed()
        this.events.verdict(h.address, false, error)
      }
    }
  }
}

/** A failed probe's reason, as the core names an attempt's failure (upstream-errors.ts). */
function failureOf (err: Error): ProbeResult {
  const kind = outcomeKind(err)
  return kind === 'connect' || kind === 'timeout' || kind === 'bad-response' ? kind : 'reset'
}

export function settingsKey (s: HealthCheckConfig): string {
  return JSON.stringify(s)
}
