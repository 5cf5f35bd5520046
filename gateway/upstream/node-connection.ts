// A keep-alive connection pool to one upstream node, shared by every upstream
// that lists the node and carried over reloads by identity: a reload that does
// not change the node's URL or pool settings keeps its warm sockets.
import { Pool } from 'undici'

export interface NodeConnectionOptions {
  url: string
  connections: number
  keepAliveTimeout: number
  connectTimeout: number
}

export class NodeConnection {
  readonly key: string
  readonly url: string
  readonly origin: string
  /** Path prefix of the node URL ('' when none), prepended to forwarded paths. */
  readonly basePath: string
  readonly pool: Pool
  inflight = 0
  requests = 0
  failures = 0
  lastError: string | undefined

  constructor (opts: NodeConnectionOptions) {
    this.key = NodeConnection.keyOf(opts)
    const u = new URL(opts.url)
    this.url = opts.url
    this.origin = u.origin
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '')
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: opts.keepAliveTimeout,
      // Stay below a typical upstream idle timeout so we never reuse a socket the other side is closing.
      keepAliveMaxTimeout: Math.max(opts.keepAliveTimeout, 1000),
      connect: { timeout: opts.connectTimeout },
      // Per-request header/body timeouts are passed on each dispatch.
      headersTimeout: 0,
      bodyTimeout: 0,
      strictContentLength: true
    })
  }

  static keyOf (opts: NodeConnectionOptions): string {
    return `${opts.url}|${opts.connections}|${opts.keepAliveTimeout}|${opts.connectTimeout}`
  }

  /** Closes gracefully: pending requests finish first. */
  async close (): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy())
  }
}

/** All node connections of the running gateway, keyed by identity. */
export class NodeConnectionRegistry {
  #byKey = new Map<string, NodeConnection>()

  /** Returns the existing connection with these options or makes one. */
  obtain (opts: NodeConnectionOptions): NodeConnection {
    const key = NodeConnection.keyOf(opts)
    let conn = this.#byKey.get(key)
    if (conn === undefined) {
      conn = new NodeConnection(opts)
      this.#byKey.set(key, conn)
    }
    return conn
  }

  /** Closes and forgets every connection not in `keep` (after the snapshots using them drained). */
  async retireUnused (keep: ReadonlySet<NodeConnection>): Promise<void> {
    const closing: Promise<void>[] = []
    for (const [key, conn] of this.#byKey) {
      if (!keep.has(conn)) {
        this.#byKey.delete(key)
        closing.push(conn.close())
      }
    }
    await Promise.all(closing)
  }

  async closeAll (): Promise<void> {
    await this.retireUnused(new Set())
  }

  get size (): number { return this.#byKey.size }
}
