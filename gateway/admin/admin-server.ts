// The admin API, on its own port: health and readiness for orchestrators,
// Prometheus metrics, and the running config's state (version, last reload
// result, routes, upstreams and their nodes), plus a reload trigger. Bound to
// loopback by default; a bearer token is required when one is configured (and
// config validation insists on one when the admin port is not loopback).
import { timingSafeEqual, createHash } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Gateway } from '../gateway.js'
import { normalizePath, pathToForward } from '../routing/normalize-path.js'
import { hostOf } from '../proxy/proxy-runtime.js'

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function createAdminServer (gw: Gateway): FastifyInstance {
  const app = Fastify({ logger: false })

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0]
    if (path === '/healthz' || path === '/readyz') return
    const token = gw.current.config.admin.token
    if (token === undefined) return
    const auth = request.headers.authorization ?? ''
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : ''
    // Compare digests: constant time and equal lengths whatever was sent.
    if (!timingSafeEqual(digest(given), digest(token))) {
      return reply.code(401).header('www-authenticate', 'Bearer')
        .send({ error: { status: 401, code: 'GW_ADMIN_UNAUTHORIZED', message: 'Missing or wrong admin bearer token', requestId: null } })
    }
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    if (!gw.ready) return reply.code(503).send({ status: gw.draining ? 'draining' : 'starting' })
    return { status: 'ready', version: gw.current.version }
  })

  app.get('/metrics', async (_request, reply) => {
    const body = await gw.metrics.registry.metrics()
    return reply.header('content-type', gw.metrics.registry.contentType).send(body)
  })

  app.get('/admin/config', async () => {
    const snap = gw.current
    return {
      version: snap.version,
      digest: snap.digest,
      loadedAt: snap.loadedAt.toISOString(),
      files: snap.files,
      routes: snap.routes.size,
      upstreams: snap.upstreams.size,
      lastReload: gw.reloader.last ?? null
    }
  })

  app.get('/admin/routes', async () => {
    const snap = gw.current
    return [...snap.routes.values()].map((r) => ({
      id: r.id,
      match: r.config.match,
      priority: r.config.priority,
      upstream: r.upstreamName,
      rewrite: r.config.rewrite,
      websocket: r.websocket,
      plugins: r.plugins.map((p) => p.name)
    }))
  })

  app.get('/admin/upstreams', async () => {
    const snap = gw.current
    return [...snap.upstreams.values()].map((u) => ({
      name: u.name,
      balancer: u.config.balancer,
      nodes: u.nodes.map((n) => ({
        url: n.id,
        weight: n.weight,
        zone: n.zone ?? null,
        available: n.available,
        inflight: n.conn.inflight,
        requests: n.conn.requests,
        failures: n.conn.failures,
        lastError: n.conn.lastError ?? null,
        pool: {
          connected: n.conn.pool.stats.connected,
          free: n.conn.pool.stats.free,
          pending: n.conn.pool.stats.pending,
          running: n.conn.pool.stats.running
        }
      }))
    }))
  })

  // Which route would serve a request, and what the upstream would be sent: for
  // checking an edit before (or after) it goes live. Header conditions are given
  // as `header.<name>=value` query parameters.
  app.get('/admin/match', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>
    if (q.path === undefined) return reply.code(400).send({ error: 'query parameter "path" is required' })
    const rawPath = q.path.split('?', 1)[0]!
    const path = normalizePath(rawPath)
    if (path === null) return reply.code(400).send({ error: `path "${q.path}" is refused by normalisation (GW_BAD_PATH)` })
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(q)) if (k.startsWith('header.') && v !== undefined) headers[k.slice(7).toLowerCase()] = v
    const rawQuery = q.path.includes('?') ? q.path.slice(q.path.indexOf('?') + 1) : ''
    const snap = gw.current
    const hit = snap.router.find({ method: (q.method ?? 'GET').toUpperCase(), host: hostOf(q.host), path, headers, rawQuery })
    if (hit === undefined) return reply.code(404).send({ path, route: null })
    const route = hit.value
    return {
      path,
      route: route.id,
      pattern: hit.pattern,
      params: hit.params,
      upstream: route.upstreamName,
      nodes: snap.upstreams.get(route.upstreamName)?.nodes.map((n) => n.id) ?? [],
      forwardedPath: route.forwardPath(pathToForward(rawPath, path), hit) + (rawQuery === '' ? '' : '?' + rawQuery),
      plugins: route.plugins.map((p) => p.name)
    }
  })

  app.post('/admin/reload', async (_request, reply) => {
    const outcome = await gw.reloader.reload('admin')
    return reply.code(outcome.result === 'failed' ? 422 : 200).send(outcome)
  })

  return app
}
