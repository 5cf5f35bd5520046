// The gateway's shared Redis connection: one ioredis client per process
// (standalone, sentinel or cluster) set up so that a command never waits past
// `commandTimeout` (no offline queue, no retries, no resends), and a connection
// state ('connecting' | 'ready' | 'down') that is logged and counted once per
// change, never per command or per reconnect attempt. Plugins see it through
// the RedisConnection contract (plugins/types.ts); the gateway owns it
// (services/plugin-services.ts) and closes it when a reload replaced it.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import type { RedisConfig, RedisEndpoint } from '../config/types.js'
import type { RedisConnection, RedisState } from '../../plugins/types.js'

export interface RedisServiceDeps {
  logger: Logger
  /** Called once per change of state (the gateway counts them in its metrics). */
  onChange?: (state: RedisState) => void
}

/** What the admin API shows: no credentials. */
export interface RedisStatus {
  mode: RedisConfig['mode']
  state: RedisState
  since: string
  endpoint: string[]
  lastError: string | null
}

type Listener = (state: RedisState, previous: RedisState) => void

/**
 * A connection with commands pending and no byte received for this long is
 * taken for dead (frozen server, half-open TCP): it is dropped and reconnected,
 * so the state says 'down' instead of every command timing out one by one.
 */
export function deadAfter (commandTimeout: number): number {
  return Math.max(500, commandTimeout * 10)
}

/** Exponential backoff from `min` to `max` ms, full jitter (never below min, never above max). */
export function backoff (min: number, max: number): (attempt: number) => number {
  return (attempt) => {
    const cap = Math.min(max, min * 2 ** Math.min(Math.max(attempt - 1, 0), 30))
    return Math.round(min + Math.random() * (cap - min))
  }
}

function hostPort (e: RedisEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`
}

/**
 * The connection handshake (HELLO/AUTH, SELECT, the ready check) runs under
 * connectTimeout, commands under commandTimeout. ioredis times both with
 * `commandTimeout`, so a handshake reply delayed by a busy event loop at
 * startup (a few tens of ms) would abort the connection and log a spurious
 * outage. While the connection is not ready, commands from plugins are refused
 * at once anyway (offline queue off): only the handshake sees the longer limit.
 */
function timeHandshakeByConnectTimeout (node: Redis, cfg: RedisConfig): void {
  node.options.commandTimeout = cfg.connectTimeout
  node.on('ready', () => { node.options.commandTimeout = cfg.commandTimeout })
  node.on('close', () => { node.options.commandTimeout = cfg.connectTimeout })
}

function createClient (cfg: RedisConfig): Redis | Cluster {
  const retry = backoff(cfg.reconnect.min, cfg.reconnect.max)
  const common: RedisOptions = {
    username: cfg.username,
    password: cfg.password,
    commandTimeout: cfg.commandTimeout,
    connectTimeout: cfg.connectTimeout,
    socketTimeout: deadAfter(cfg.commandTimeout),
    // A limiter's command is worth nothing once its request went on: never queue, retry or resend it.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true
  }
  if (cfg.mode === 'cluster') {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: retry,
      lazyConnect: true,
      redisOptions: common
    }
    const cluster = new Cluster(cfg.endpoints.map((e) => ({ host: e.host, port: e.port })), options)
    cluster.on('+node', (node: Redis) => timeHandshakeByConnectTimeout(node, cfg))
    return cluster
  }
  const options: RedisOptions = { ...common, enableOfflineQueue: false, retryStrategy: retry, db: cfg.db }
  if (cfg.mode === 'sentinel') {
    options.sentinels = cfg.endpoints.map((e) => ({ host: e.host, port: e.port }))
    options.name = cfg.name
    options.sentinelRetryStrategy = retry
  } else {
    options.host = cfg.endpoints[0]!.host
    options.port = cfg.endpoints[0]!.port
    if (cfg.tls) options.tls = {}
  }
  const client = new Redis(options)
  timeHandshakeByConnectTimeout(client, cfg)
  return client
}

export class RedisService implements RedisConnection {
  readonly client: Redis | Cluster
  readonly keyPrefix: string
  readonly commandTimeout: number
  readonly mode: RedisConfig['mode']
  /** host:port of the server, the sentinels or the cluster seed nodes. */
  readonly endpoint: string[]
  #state: RedisState = 'connecting'
  #since = Date.now()
  #lastError: string | undefined
  /** An error arrived since the last 'ready' (so a 'close' already has its reason). */
  #freshError = false
  #closed = false
  readonly #listeners = new Set<Listener>()
  readonly #logger: Logger
  readonly #onChange: ((state: RedisState) => void) | undefined

  /** `key`: digest of the `redis:` section this connection was made from (a reload keeps it while unchanged). */
  constructor (cfg: RedisConfig, readonly key: string, deps: RedisServiceDeps) {
    this.keyPrefix = cfg.keyPrefix
    this.commandTimeout = cfg.commandTimeout
    this.mode = cfg.mode
    this.endpoint = cfg.endpoints.map(hostPort)
    this.#logger = deps.logger
    this.#onChange = deps.onChange
    this.client = createClient(cfg)
    // Without an 'error' listener ioredis prints every failed attempt; the reason is kept, and shown once per change of state.
    this.client.on('error', (err: Error) => {
      this.#lastError = err.message
      this.#freshError = true
    })
    this.client.on('ready', () => this.#set('ready'))
    this.client.on('close', () => this.#set('down'))
    this.client.on('end', () => this.#set('down'))
    this.#logger.info({ mode: this.mode, endpoint: this.endpoint }, 'redis: connecting')
    // Failures surface as events (and the state); the promise would only repeat them.
    this.client.connect().catch(() => {})
  }

  get state (): RedisState { return this.#state }
  get since (): number { return this.#since }
  get lastError (): string | undefined { return this.#lastError }

  onStateChange (listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  status (): RedisStatus {
    return {
      mode: this.mode,
      state: this.#state,
      since: new Date(this.#since).toISOString(),
      endpoint: this.endpoint,
      lastError: this.#lastError ?? null
    }
  }

  #set (next: RedisState): void {
    if (this.#closed || next === this.#state) return
    const previous = this.#state
    if (next === 'down' && !this.#freshError) this.#lastError = 'connection closed'
    if (next === 'ready') this.#freshError = false
    this.#state = next
    this.#since = Date.now()
    if (next === 'ready') this.#logger.info({ endpoint: this.endpoint, previous }, 'redis: ready')
    else this.#logger.warn({ endpoint: this.endpoint, previous, error: this.#lastError }, 'redis: down (commands fail at once; reconnecting)')
    this.#onChange?.(next)
    for (const listener of this.#listeners) {
      try {
        listener(next, previous)
      } catch (err) {
        this.#logger.warn({ err }, 'redis: a state listener threw')
      }
    }
  }

  /** Drops the connection for good (a reload replaced it, or the gateway stops). Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    this.client.disconnect()
    this.#logger.info({ endpoint: this.endpoint }, 'redis: connection closed')
  }

  get closed (): boolean { return this.#closed }
}
