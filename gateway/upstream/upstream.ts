// A named upstream compiled from config: its nodes, its balancer and how to
// get a hash key from a request. Rebuilt only when its own config changes.
import type { IncomingHttpHeaders } from 'node:http'
import type { HashOn, UpstreamConfig } from '../config/types.js'
import { createBalancer } from './balancers/index.js'
import type { BalancedNode, Balancer } from './types.js'
import type { NodeConnection, NodeConnectionRegistry } from './node-connection.js'

export class UpstreamNode implements BalancedNode {
  readonly id: string
  readonly weight: number
  readonly zone: string | undefined
  available = true

  constructor (readonly conn: NodeConnection, weight: number, zone: string | undefined) {
    this.id = conn.url
    this.weight = weight
    this.zone = zone
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

export class Upstream {
  readonly name: string
  readonly nodes: readonly UpstreamNode[]
  readonly balancer: Balancer<UpstreamNode>
  readonly hashKey: HashKeyFn | undefined
  readonly headersTimeout: number
  readonly bodyTimeout: number
  readonly retries: number

  /** `key`: digest of the config, to tell on reload whether this upstream changed. */
  constructor (readonly config: UpstreamConfig, readonly key: string, registry: NodeConnectionRegistry) {
    this.name = config.name
    this.nodes = config.nodes.map((n) => new UpstreamNode(registry.obtain({
      url: n.url,
      connections: config.pool.connections,
      keepAliveTimeout: config.pool.keepAliveTimeout,
      connectTimeout: config.timeouts.connect
    }), n.weight, n.zone))
    this.balancer = createBalancer(config.balancer, this.nodes)
    this.hashKey = config.hashOn === undefined ? undefined : compileHashKey(config.hashOn)
    this.headersTimeout = config.timeouts.header
    this.bodyTimeout = config.timeouts.idle
    this.retries = config.retries
  }

  pick (src: HashSource, exclude?: UpstreamNode): UpstreamNode | undefined {
    return this.balancer.pick(this.hashKey === undefined ? undefined : this.hashKey(src), exclude)
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
