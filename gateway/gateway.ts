// The running gateway: loads the first config, starts the data plane and the
// admin API, wires hot reload (file watch, SIGHUP, admin call) and drains on stop.
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { builtinRegistry, type PluginRegistry } from '../plugins/registry.js'
import { createLogger } from './observability/logger.js'
import { loadConfigInWorker } from './config/load-in-worker.js'
import { formatIssue } from './config/load-config.js'
import { createAdminServer } from './admin/admin-server.js'
import { applyServerTimeouts, createDataPlane, type DataPlane } from './data-plane.js'
import { AccessLog } from './observability/access-log.js'
import { GatewayMetrics } from './observability/metrics.js'
import { ProxyRuntime } from './proxy/proxy-runtime.js'
import { ConfigWatcher } from './reload/config-watcher.js'
import { Reloader } from './reload/reloader.js'
import { buildSnapshot } from './snapshot/build-snapshot.js'
import { closePlugins } from './snapshot/close-plugins.js'
import type { Snapshot } from './snapshot/types.js'
import { NodeConnectionRegistry } from './upstream/node-connection.js'
import { NodeHealthRegistry } from './health/node-health.js'
import { attachWebSocketProxy } from './proxy/websocket.js'

export interface GatewayOptions {
  configFile: string
  logger?: Logger
  /** Watch config files for changes (default true). */
  watch?: boolean
  /** Plugins routes may use (default: the built-in ones); see loadPluginRegistry. */
  plugins?: PluginRegistry
  /**
   * Abandons start-up when aborted before the gateway listens: start()
   * rejects with the signal's reason and leaves nothing open.
   */
  signal?: AbortSignal
}

/** The longest the stop waits for the plugin instances' close() (a hanging one must not hold the exit). */
const PLUGIN_CLOSE_TIMEOUT = 2000

export class ConfigRefusedError extends Error {
  constructor (readonly errors: string[]) {
    super(`config refused:\n${errors.join('\n')}`)
  }
}

export class Gateway {
  ready = false
  draining = false
  readonly logger: Logger
  readonly accessLog: AccessLog
  readonly runtime: ProxyRuntime
  readonly reloader: Reloader
  readonly dataPlane: DataPlane
  readonly admin: FastifyInstance
  readonly #watcher: ConfigWatcher | undefined
  #onHup = (): void => { void this.reloader.reload('SIGHUP') }

  private constructor (
    first: Snapshot,
    readonly options: GatewayOptions,
    logger: Logger,
    readonly registry: NodeConnectionRegistry,
    readonly health: NodeHealthRegistry,
    readonly metrics: GatewayMetrics,
    readonly plugins: PluginRegistry
  ) {
    this.logger = logger
    this.accessLog = new AccessLog(logger, first.config.accessLog.enabled)
    this.reloader = new Reloader(first, {
      configFile: options.configFile,
      registry: this.registry,
      health: this.health,
      plugins,
      metrics: this.metrics,
      logger,
      onSwap: (next) => this.#onSwap(next)
    })
    this.runtime = new ProxyRuntime(this.reloader, this.metrics, this.accessLog, logger)
    this.metrics.watch(() => this.reloader.current, () => this.runtime.inflight)
    this.metrics.configVersion.set(first.version)
    this.dataPlane = createDataPlane(first.config.server, this.runtime, logger)
    this.admin = createAdminServer(this)
    if (options.watch !== false) {
      this.#watcher = new ConfigWatcher(() => { void this.reloader.reload('file-change') })
      this.#watcher.setFiles(first.files)
    }
  }

  /** Loads and validates the config (refusing a bad one), then listens. */
  static async start (options: GatewayOptions): Promise<Gateway> {
    const { signal } = options
    signal?.throwIfAborted()
    const logger = options.logger ?? createLogger()
    const plugins = options.plugins ?? builtinRegistry
    const loaded = await loadConfigInWorker(options.configFile, process.env, plugins)
    signal?.throwIfAborted()
    if (!loaded.ok) throw new ConfigRefusedError(loaded.issues.map(formatIssue))
    const registry = new NodeConnectionRegistry()
    const health = new NodeHealthRegistry()
    const metrics = new GatewayMetrics()
    const { snapshot } = await buildSnapshot({ config: loaded.config, keys: loaded.keys, digest: loaded.digest, files: loaded.files, version: 1 },
      undefined, { registry, health, plugins, metrics, logger })
    if (signal?.aborted === true) {
      health.closeAll()
      await registry.closeAll()
      signal.throwIfAborted()
    }
    const gw = new Gateway(snapshot, options, logger, registry, health, metrics, plugins)
    try {
      await gw.#listen()
    } catch (err) {
      // Leave nothing half-open (a data plane listening without its admin API).
      gw.#watcher?.close()
      process.off('SIGHUP', gw.#onHup)
      health.closeAll()
      await Promise.allSettled([gw.dataPlane.close(), gw.admin.close(), registry.closeAll(),
        closePlugins([snapshot], PLUGIN_CLOSE_TIMEOUT, logger)])
      snapshot.services.redis?.close()
      throw err
    }
    return gw
  }

  get current (): Snapshot { return this.reloader.current }

  async #listen (): Promise<void> {
    const cfg = this.current.config
    attachWebSocketProxy(this.dataPlane.server, this.runtime)
    await this.dataPlane.listen({ host: cfg.listen.host, port: cfg.listen.port })
    await this.admin.listen({ host: cfg.admin.host, port: cfg.admin.port })
    process.on('SIGHUP', this.#onHup)
    this.ready = true
    this.logger.info({ listen: cfg.listen, admin: { host: cfg.admin.host, port: cfg.admin.port }, version: this.current.version,
      routes: this.current.routes.size, upstreams: this.current.upstreams.size }, 'gateway started')
  }

  /** Port the data plane listens on (useful when the config says 0). */
  get port (): number {
    const addr = this.dataPlane.server.address()
    return typeof addr === 'object' && addr !== null ? addr.port : 0
  }

  get adminPort (): number {
    const addr = this.admin.server.address()
    return typeof addr === 'object' && addr !== null ? addr.port : 0
  }

  #onSwap (next: Snapshot): void {
    applyServerTimeouts(this.dataPlane.server as Server, next.config.server)
    this.accessLog.enabled = next.config.accessLog.enabled
    this.metrics.prune(next)
    this.#watcher?.setFiles(next.files)
  }

  /**
   * Graceful stop: readiness fails, the listener closes, idle keep-alive
   * connections close, in-flight requests finish (their responses carry
   * `Connection: close`) within the drain timeout, then everything closes:
   * the servers, then the upstream pools and the plugin instances of every
   * live snapshot (each close() once, waited for at most
   * PLUGIN_CLOSE_TIMEOUT), then the Redis connections, last, as a plugin's
   * close() may still use Redis.
   */
  async stop (): Promise<void> {
    if (this.draining) return
    this.draining = true
    this.ready = false
    this.runtime.draining = true
    process.off('SIGHUP', this.#onHup)
    this.#watcher?.close()
    const reloadsOver = this.reloader.stop()
    const server = this.dataPlane.server as Server
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    const grace = this.current.config.server.drainTimeout
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      this.runtime.idle().then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), grace) })
    ])
    clearTimeout(timer)
    if (timedOut) this.logger.warn({ inflight: this.runtime.inflight }, 'drain timeout: closing remaining connections')
    server.closeAllConnections()
    await closed
    await this.dataPlane.close()
    await this.admin.close()
    const live = await reloadsOver
    this.health.closeAll()
    await Promise.all([this.registry.closeAll(), closePlugins(live, PLUGIN_CLOSE_TIMEOUT, this.logger)])
    for (const snap of live) snap.services.redis?.close()
    this.logger.info({ timedOut }, 'gateway stopped')
  }
}
