// Reloads the config: parse and validate off the event loop (worker thread),
// compile reusing what did not change, swap the snapshot in one assignment, and
// retire what the old snapshot held once its in-flight requests are done.
// Reloads never overlap: triggers arriving during one run are coalesced into a
// single follow-up run.
import type { Logger } from 'pino'
import { loadConfigInWorker } from '../config/load-in-worker.js'
import { formatIssue } from '../config/load-config.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { buildSnapshot } from '../snapshot/build-snapshot.js'
import type { Snapshot } from '../snapshot/types.js'
import type { NodeConnectionRegistry, NodeConnection } from '../upstream/node-connection.js'
import type { NodeHealth, NodeHealthRegistry } from '../health/node-health.js'
import type { Upstream } from '../upstream/upstream.js'
import type { PluginRegistry } from '../../plugins/registry.js'
import type { PluginInstance } from '../../plugins/types.js'

export interface ReloadOutcome {
  result: 'ok' | 'failed' | 'unchanged'
  at: string
  trigger: string
  version: number
  /** Formatted `file:line:column: path: message` lines when the config was refused. */
  errors: string[]
  /** Wall time of the whole reload, ms (to 0.1 ms). */
  durationMs: number
  /** Wall time of compiling the new snapshot (done in slices between which requests are served), ms (to 0.1 ms). */
  compileMs: number
  stats?: Record<string, unknown>
}

export interface ReloaderDeps {
  configFile: string
  registry: NodeConnectionRegistry
  /** Node health records: kept while a live snapshot lists their address. */
  health: NodeHealthRegistry
  plugins: PluginRegistry
  metrics: GatewayMetrics
  logger: Logger
  /**
   * Called after each swap (server timeouts, access log switch, watcher file
   * list). If it throws, the reload is reported and counted as failed.
   */
  onSwap: (next: Snapshot, prev: Snapshot) => void
}

export class Reloader {
  #current: Snapshot
  #running: Promise<ReloadOutcome> | undefined
  #queued: { promise: Promise<ReloadOutcome>; triggers: string[] } | undefined
  #draining = new Set<Snapshot>()
  /**
   * True from the first registry.obtain() of a build until its swap: the
   * snapshot being built already holds NodeConnections that neither #current
   * nor #draining list, so no retirement may run meanwhile (buildSnapshot
   * yields to the event loop).
   */
  #building = false
  /** Set by stop(): no reload runs and no snapshot is retired any more (the gateway closes what they hold). */
  #stopped = false
  last: ReloadOutcome | undefined

  constructor (first: Snapshot, readonly deps: ReloaderDeps) {
    this.#current = first
  }

  get current (): Snapshot { return this.#current }

  /** Replaced snapshots not yet retired (their requests still running, or retirement not yet run). */
  get retiring (): number { return this.#draining.size }

  /** The snapshot in force and those not yet retired. */
  get live (): Snapshot[] { return [this.#current, ...this.#draining] }

  /**
   * Requests a reload; concurrent requests share one follow-up run. Never
   * rejects: whatever goes wrong is a "failed" outcome, and the config in
   * force keeps serving (a reload must never end the process).
   */
  reload (trigger: string): Promise<ReloadOutcome> {
    if (this.#stopped) {
      const at = new Date().toISOString()
      return Promise.resolve({ at, trigger, result: 'failed', version: this.#current.version, errors: ['the gateway is stopping'], durationMs: 0, compileMs: 0 })
    }
    if (this.#running === undefined) {
      this.#running = this.#runSafely(trigger).finally(() => { this.#running = undefined })
      return this.#running
    }
    if (this.#queued === undefined) {
      const triggers = [trigger]
      const promise = this.#running.then(() => {
        this.#queued = undefined
        return this.reload(triggers.join(','))
      })
      this.#queued = { promise, triggers }
    } else {
      this.#queued.triggers.push(trigger)
    }
    return this.#queued.promise
  }

  /**
   * For the gateway's stop: from now on reload() runs nothing (it answers
   * 'failed') and replaced snapshots are no longer retired one by one, so the
   * caller owns what every live snapshot holds (plugin instances, pools, Redis
   * connections) and closes each once. Resolves, with those snapshots, once a
   * reload already running (and one queued behind it) is over.
   */
  async stop (): Promise<Snapshot[]> {
    this.#stopped = true
    await (this.#queued?.promise ?? this.#running)
    return this.live
  }

  /** #run, with anything it throws (a bug on the reload path) turned into a failed outcome. */
  async #runSafely (trigger: string): Promise<ReloadOutcome> {
    const started = performance.now()
    const at = new Date().toISOString()
    try {
      return await this.#run(trigger, started, at)
    } catch (err) {
      this.#building = false
      const msg = `reload failed: ${(err as Error).message}`
      this.deps.logger.error({ err, trigger }, `${msg}; config version ${this.#current.version} keeps serving`)
      this.deps.metrics.reloads.labels('failed').inc()
      return this.#record({ at, trigger, result: 'failed', version: this.#current.version, errors: [msg], durationMs: elapsedMs(started), compileMs: 0 })
    }
  }

  async #run (trigger: string, started: number, at: string): Promise<ReloadOutcome> {
    const { logger, metrics } = this.deps
    const prev = this.#current
    const base = { at, trigger }
    let loaded
    try {
      loaded = await loadConfigInWorker(this.deps.configFile, process.env, this.deps.plugins)
    } catch (err) {
      // The loader itself failed (a bug or a dead worker), not the config: report it like a refusal.
      const msg = `config could not be loaded: ${(err as Error).message}`
      logger.error({ err, trigger }, msg)
      metrics.reloads.labels('failed').inc()
      return this.#record({ ...base, result: 'failed', version: prev.version, errors: [msg], durationMs: elapsedMs(started), compileMs: 0 })
    }
    if (!loaded.ok) {
      const errors = loaded.issues.map(formatIssue)
      for (const line of errors) logger.error({ trigger }, `config refused: ${line}`)
      logger.error({ trigger, errors: errors.length }, 'config reload refused; the previous config keeps serving')
      metrics.reloads.labels('failed').inc()
      return this.#record({ ...base, result: 'failed', version: prev.version, errors, durationMs: elapsedMs(started), compileMs: 0 })
    }
    if (loaded.digest === prev.digest) {
      metrics.reloads.labels('unchanged').inc()
      return this.#record({ ...base, result: 'unchanged', version: prev.version, errors: [], durationMs: elapsedMs(started), compileMs: 0 })
    }
    const compileStart = performance.now()
    let built
    this.#building = true
    try {
      built = await buildSnapshot({ config: loaded.config, keys: loaded.keys, digest: loaded.digest, files: loaded.files, version: prev.version + 1 },
        prev, { registry: this.deps.registry, health: this.deps.health, plugins: this.deps.plugins, metrics, logger })
    } catch (err) {
      this.#building = false
      const msg = `config refused: ${(err as Error).message}`
      logger.error({ err, trigger }, msg)
      metrics.reloads.labels('failed').inc()
      return this.#record({ ...base, result: 'failed', version: prev.version, errors: [msg], durationMs: elapsedMs(started), compileMs: elapsedMs(compileStart) })
    }
    const next = built.snapshot
    this.#current = next
    this.#building = false
    const compileMs = elapsedMs(compileStart)
    metrics.configVersion.set(next.version)
    this.#retire(prev, built.retiredPlugins)
    try {
      this.deps.onSwap(next, prev)
    } catch (err) {
      // The new snapshot already serves; what failed is adjusting the rest of the process to it.
      const msg = `config version ${next.version} is in force, but applying it failed: ${(err as Error).message}`
      logger.error({ err, trigger, version: next.version }, msg)
      metrics.reloads.labels('failed').inc()
      return this.#record({ ...base, result: 'failed', version: next.version, errors: [msg], durationMs: elapsedMs(started), compileMs, stats: built.stats })
    }
    metrics.reloads.labels('ok').inc()
    logger.info({ trigger, version: next.version, compileMs, ...built.stats }, 'config reloaded')
    return this.#record({ ...base, result: 'ok', version: next.version, errors: [], durationMs: elapsedMs(started), compileMs, stats: built.stats })
  }

  #record (outcome: ReloadOutcome): ReloadOutcome {
    this.last = outcome
    return outcome
  }

  /**
   * Waits for the old snapshot's requests to finish, then closes what only it
   * used (plugins, node pools, its Redis connection). A failure here is logged
   * and counted, never thrown: it runs on timers, where a throw would end the
   * process.
   */
  #retire (prev: Snapshot, plugins: PluginInstance[]): void {
    this.#draining.add(prev)
    const check = (): void => {
      if (this.#stopped) return
      if (prev.inflight > 0 || this.#building) {
        setTimeout(attempt, 50).unref()
        return
      }
      this.#draining.delete(prev)
      for (const p of plugins) {
        if (p.close === undefined) continue
        try {
          Promise.resolve(p.close()).catch((err) => this.#retirementFailed(err, 'plugin instances'))
        } catch (err) {
          this.#retirementFailed(err, 'plugin instances')
        }
      }
      const keep = new Set<NodeConnection>()
      const keepHealth = new Set<NodeHealth>()
      const liveUpstreams = new Set<Upstream>()
      for (const snap of this.live) {
        for (const u of snap.upstreams.values()) {
          liveUpstreams.add(u)
          for (const n of u.nodes) {
            keep.add(n.conn)
            keepHealth.add(n.health)
          }
        }
      }
      for (const u of prev.upstreams.values()) if (!liveUpstreams.has(u)) u.detach()
      this.deps.health.retireUnused(keepHealth)
      this.deps.registry.retireUnused(keep).catch((err) => this.#retirementFailed(err, 'upstream connection pools'))
      const redis = prev.services.redis
      if (redis !== undefined && !this.live.some((s) => s.services.redis === redis)) {
        Promise.resolve(redis.close()).catch((err) => this.#retirementFailed(err, 'Redis connection'))
      }
    }
    const attempt = (): void => {
      try {
        check()
      } catch (err) {
        this.#retirementFailed(err, 'resources')
      }
    }
    // Never in the same turn as the swap: that turn is already the longest of the reload.
    setImmediate(attempt)
  }

  #retirementFailed (err: unknown, what: string): void {
    this.deps.metrics.retirementFailures.inc()
    this.deps.logger.error({ err }, `retiring the replaced config's ${what} failed; the gateway keeps serving`)
  }
}

/** Milliseconds since `since`, to 0.1 ms (what the reload answer and its log line show). */
function elapsedMs (since: number): number {
  return Math.round((performance.now() - since) * 10) / 10
}
