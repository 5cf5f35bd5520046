// Gateway configs for the bench: one catch-all route, or 10,000 routes.

export interface BenchGatewayConfig {
  listenPort: number
  adminPort: number
  upstreamUrl: string
  /** 1: a single `/*` route. N > 1: N-1 decoy routes plus the measured `/bench/*`. */
  routes: number
  /**
   * A rate limit on the measured route, far above any load the bench makes (so
   * its cost is measured, not its refusals): in memory (`node`), or shared
   * through the Redis at `redisUrl` (`cluster`).
   */
  rateLimit?: { scope: 'node' } | { scope: 'cluster'; redisUrl: string }
}

/** Requests per second the bench's rate limits allow: never reached. */
export const BENCH_RATE = 1_000_000_000

/** The path every target is hit on. */
export const BENCH_PATH = '/bench/hello'

export function gatewayConfig(c: BenchGatewayConfig): object {
  const base = {
    listen: { host: '127.0.0.1', port: c.listenPort },
    admin: { host: '127.0.0.1', port: c.adminPort },
    accessLog: { enabled: false },
  }
  if (c.rateLimit !== undefined) {
    const cluster = c.rateLimit.scope === 'cluster'
    return {
      ...base,
      ...(c.rateLimit.scope === 'cluster' ? { redis: { url: c.rateLimit.redisUrl } } : {}),
      upstreams: { bench: { nodes: [{ url: c.upstreamUrl }] } },
      routes: [{
        id: 'all',
        match: { paths: ['/*'] },
        upstream: 'bench',
        plugins: { 'rate-limit': { rate: BENCH_RATE, window: '1s', scope: cluster ? 'cluster' : 'node' } },
      }],
    }
  }
  if (c.routes <= 1) {
    return {
      ...base,
      upstreams: { bench: { nodes: [{ url: c.upstreamUrl }] } },
      routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'bench' }],
    }
  }
  // Decoys point at the same (real, loopback) upstream under 8 names; they are never hit.
  const upstreams: Record<string, object> = { bench: { nodes: [{ url: c.upstreamUrl }] } }
  for (let u = 0; u < 8; u++) upstreams[`pool-${u}`] = { nodes: [{ url: c.upstreamUrl }] }
  const routes: object[] = []
  for (let i = 0; i < c.routes - 1; i++) {
    const upstream = `pool-${i % 8}`
    switch (i % 5) {
      case 0: routes.push({ id: `svc-${i}`, match: { paths: [`/svc-${i}/*`] }, upstream }); break
      case 1: routes.push({ id: `items-${i}`, match: { paths: [`/api/v1/items-${i}/:id`], methods: ['GET'] }, upstream }); break
      case 2: routes.push({ id: `exact-${i}`, match: { paths: [`/api/v2/things-${i}`] }, upstream }); break
      case 3: routes.push({ id: `nested-${i}`, match: { paths: [`/org/:org/team-${i}/*`] }, upstream }); break
      default: routes.push({ id: `host-${i}`, match: { hosts: [`svc-${i}.example.com`], paths: ['/*'] }, upstream })
    }
  }
  routes.push({ id: 'bench', match: { paths: ['/bench/*'] }, upstream: 'bench' })
  return { ...base, upstreams, routes }
}
