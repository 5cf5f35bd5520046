// A named upstream compiled from config: its nodes, its balancer and how to
// get a hash key from a request. Rebuilt only when its own config changes;
// what must outlive that (connection pools, node health) is obtained from the
// registries by identity.
import type { IncomingHttpHeaders } from 'node:http'
import type { HashOn, UpstreamConfig } from '../config/types.js'
import type { UpstreamOutcome } from '../../plugins/types.js'
import { createBalancer } from './balancers/index.js'
import type { BalancedNode, Balancer } from './types.js'
import type { NodeConnection, NodeConnectionRegistry } from './node-connection.js'
import type { HealthListener, NodeHealth, NodeHealthRegistry } from '../health/node-health.js'
import { ZoneLevels } from './zones.js'
import { RetryBudget } from './retry-budget.js'
import { Bulkhead } from './bulkhead.js'

export class UpstreamNode implements BalancedNode {
  readonly id: string
  readonly weight: number
  readonly zone: string | undefined
  /** Priority level under `failover` (zones.ts); 0 without it. */
  readonly level: number
  /**
   * Whether this upstream's balancer may pick the node: derived from the
   * node's shared health record by Upstream.healthChanged(), never set per request.
   */
  available = true

  constructor (readonly conn: NodeConnection, readonly health: NodeHealth, weight: number, zone: string | undefined, level = 0) {
    this.id = conn.url
    this.weight = weight
    this.zone = zone
    this.level = level
  }

  get inflight (): number { return this.conn.inflight }
  set inflight (n: number) { this.conn.inflight = n }
}

/** What the hash-key extractor sees of a request. */
export interface HashSource {
  headers: IncomingHttpHeaders
  clientIp: string
  path: string
}

export type HashKeyFn = (src: HashSource) => string | undefined

/** The registries an upstream obtains its per-node resources from. */
export interface NodeRegistries {
  connections: NodeConnectionRegistry
  health: NodeHealthRegistry
}

export class Upstream implements HealthListener {
  readonly name: string
  readonly nodes: readonly UpstreamNode[]
  readonly balancer: Balancer<UpstreamNode>
  readonly hashKey: HashKeyFn | undefined
  /** ms a request waits for response headers, all attempts together. */
  readonly headersTimeout: number
  /** ms one attempt waits for response headers (Infinity: what is left of headersTimeout). */
  readonly tryTimeout: number
  readonly bodyTimeout: number
  readonly retries: number
  readonly retryBudget: RetryBudget
  readonly bulkhead: Bulkhead
  /** Consumers of this upstream's attempt outcomes (the node breaker), called by the core once per attempt. */
  readonly observers: Array<(node: UpstreamNode, outcome: UpstreamOutcome) => void> = []
  /** Priority levels by zone; undefined without `failover` (every healthy node takes traffic). */
  readonly zones: ZoneLevels | undefined
  /** The last priority level taking traffic (levels 0..it do); 0 without `failover`. */
  activeLevel = 0

  /**
   * `key`: digest of the config, to tell on reload whether this upstream
   * changed (it must cover `localZone` when there is `failover`).
   * `localZone`: the gateway's own zone (`node.zone`).
   * `prev`: the upstream of the same name this one replaces, whose retry budget
   * and bulkhead counters carry on.
   */
  constructor (readonly config: UpstreamConfig, readonly key: string, registries: NodeRegistries, localZone?: string, prev?: Upstream) {
    this.name = config.name
    const zones = config.failover === undefined ? undefined : new ZoneLevels(config.nodes.map((n) => n.zone), config.failover, localZone)
    this.zones = zones
    this.nodes = config.nodes.map((n, i) => {
      const conn = registries.connections.obtain({
        url: n.url,
        connections: config.pool.connections,
        keepAliveTimeout: config.pool.keepAliveTimeout,
        connectTimeout: config.timeouts.connect
      })
      return new UpstreamNode(conn, registries.health.obtain(conn.origin), n.weight, n.zone, zones?.levelOf[i] ?? 0)
    })
    this.balancer = createBalancer(config.balancer, this.nodes)
    this.hashKey = config.hashOn === undefined ? undefined : compileHashKey(config.hashOn)
    this.headersTimeout = config.timeouts.header
    this.tryTimeout = config.timeouts.try ?? Infinity
    this.bodyTimeout = config.timeouts.idle
    this.retries = config.retries
    this.retryBudget = new RetryBudget(config.retryBudget, prev?.retryBudget.window)
    this.bulkhead = new Bulkhead(config.limits, config.pool.connections, prev?.bulkhead.counters)
    for (const n of this.nodes) n.health.listeners.add(this)
    this.healthChanged()
  }

  /** `tried`: the nodes earlier attempts of the request went to (never picked again). */
  pick (src: HashSource, tried?: readonly UpstreamNode[]): UpstreamNode | undefined {
    return this.balancer.pick(this.hashKey === undefined ? undefined : this.hashKey(src), tried)
  }

  observe (node: UpstreamNode, outcome: UpstreamOutcome): void {
    for (let i = 0; i < this.observers.length; i++) this.observers[i]!(node, outcome)
  }

  /**
   * A node's health changed: recompute which nodes the balancer may pick (the
   * healthy ones; with `failover`, those of the active priority levels only).
   */
  healthChanged (): void {
    const nodes = this.nodes
    if (this.zones === undefined) {
      for (const n of nodes) n.available = n.health.healthy
      return
    }
    const active = this.activeLevel = this.zones.active((i) => nodes[i]!.health.healthy)
    for (const n of nodes) n.available = n.health.healthy && n.level <= active
  }

  /** The upstream left every live snapshot: stop listening to its nodes' health. */
  detach (): void {
    for (const n of this.nodes) n.health.listeners.delete(this)
  }
}

function compileHashKey (on: HashOn): HashKeyFn {
  switch (on.kind) {
    case 'header': {
      const name = on.name.toLowerCase()
      return (src) => {
        const v = src.headers[name]
        return Array.isArray(v) ? v.join(',') : v
      }
    }
    case 'cookie': {
      const name = on.name
      return (src) => readCookie(src.headers.cookie, name)
    }
    case 'ip':
      return (src) => src.clientIp
    case 'path':
      return (src) => src.path
  }
}

/** Finds one cookie's value in a Cookie header without parsing all of it. */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let i = 0
  while (i < header.length) {
    while (header.charCodeAt(i) === 32) i++
    const eq = header.indexOf('=', i)
    if (eq < 0) return undefined
    let end = header.indexOf(';', eq)
    if (end < 0) end = header.length
    if (eq - i === name.length && header.startsWith(name, i)) return header.slice(eq + 1, end).trim()
    i = end + 1
  }
  return undefined
}
