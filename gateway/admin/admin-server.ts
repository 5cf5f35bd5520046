// The admin API, on its own port: health and readiness for orchestrators,
// Prometheus metrics, and the running config's state (version, last reload
// result, global plugins, routes, upstreams and their nodes, the services
// plugins share, the plugin instances in force and the limits among them),
// plus a reload trigger. Bound to
// loopback by default; a bearer token is required when one is configured (and
// config validation insists on one when the admin port is not loopback).
// Every error it answers, its own or Fastify's, is the gateway's envelope.
import { timingSafeEqual, createHash, randomUUID } from 'node:crypto'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { Gateway } from '../gateway.js'
import { clientErrorReply } from '../client-errors.js'
import { GatewayErrors } from '../errors.js'
import { normalizePath, pathToForward } from '../routing/normalize-path.js'
import { hostOf } from '../proxy/proxy-runtime.js'
import { adminErrorFor, AdminErrors, sendAdminError } from './admin-errors.js'
import { registerPluginRoutes } from './plugin-routes.js'
import { nodeBreakerOf } from '../health/node-breaker.js'
import { probeStatus } from '../health/probers.js'
import { isIP } from 'node:net'
import type { MatchView } from '../../plugins/types.js'
import { chosenUpstream, explainAll } from './explain.js'

/** Routes that need no token: whatever Fastify routes to them (`/healthz?x=1`, `/healthz/`) is as open as the plain form. */
const OPEN_ROUTES = new Set(['/healthz', '/readyz'])

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** The path Fastify's router matches: no query string, at most one trailing slash ignored. */
function routedPath (url: string): string {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

export function createAdminServer (gw: Gateway): FastifyInstance {
  const app = Fastify({
    logger: false,
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
    clientErrorHandler: (err, socket) => { clientErrorReply(err, socket) },
    // Requests Fastify's router refuses before any route (e.g. a malformed %-escape in a parameter).
    frameworkErrors: (err, _request, reply) => { void sendAdminError(reply, AdminErrors.BAD_REQUEST, err.message) }
  })

  // Methods per path, for the 405 answer's `Allow`.
  const allowed = new Map<string, string[]>()
  app.addHook('onRoute', (route) => {
    const list = allowed.get(route.url) ?? []
    for (const m of [route.method].flat()) if (!list.includes(m)) list.push(m)
    allowed.set(route.url, list)
  })

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== undefined && OPEN_ROUTES.has(request.routeOptions.url)) return
    const token = gw.current.config.admin.token
    if (token === undefined) return
    const auth = request.headers.authorization ?? ''
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : ''
    // Compare digests: constant time and equal lengths whatever was sent.
    if (!timingSafeEqual(digest(given), digest(token))) {
      return sendAdminError(reply.header('www-authenticate', 'Bearer'), AdminErrors.UNAUTHORIZED)
    }
  })

  app.setNotFoundHandler((request, reply) => {
    const methods = allowed.get(routedPath(request.url))
    if (methods === undefined) return sendAdminError(reply, AdminErrors.NOT_FOUND)
    return sendAdminError(reply.header('allow', methods.join(', ')), AdminErrors.METHOD_NOT_ALLOWED)
  })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { e, showMessage } = adminErrorFor(err)
    if (e.status >= 500) gw.logger.error({ err, reqId: request.id, url: request.url }, 'admin request failed')
    return sendAdminError(reply, e, showMessage ? err.message : e.message)
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
      // Global plugins in run order, by name only: their options may hold secrets.
      plugins: snap.global.plugins.map((p) => p.name),
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
      plugins: r.plugins.map((p) => p.name),
      breaker: r.breaker?.status() ?? null,
      fallback: r.fallback !== undefined
    }))
  })

  app.get('/admin/upstreams', async () => {
    const snap = gw.current
    return [...snap.upstreams.values()].map((u) => ({
      name: u.name,
      balancer: u.config.balancer,
      // Priority levels by zone: `zones[i]` is level i; levels 0..activeLevel take traffic.
      failover: u.zones === undefined
        ? null
        : { zones: u.zones.order, minHealthy: u.zones.minHealthy, activeLevel: u.activeLevel },
      // Bulkhead (limits: null when unbounded) and retry budget, counted across reloads.
      inflight: u.bulkhead.counters.inflight,
      pending: u.bulkhead.counters.pending,
      limits: { maxRequests: u.config.limits.maxRequests ?? null, maxPending: u.config.limits.maxPending ?? null },
      refusals: { maxRequests: u.bulkhead.counters.refusedRequests, maxPending: u.bulkhead.counters.refusedPending },
      retryBudget: { ...u.config.retryBudget, ...u.retryBudget.state(performance.now()) },
      nodes: u.nodes.map((n) => ({
        url: n.id,
        weight: n.weight,
        zone: n.zone ?? null,
        level: n.level,
        available: n.available,
        health: n.health.state,
        healthSince: new Date(n.health.since).toISOString(),
        breaker: nodeBreakerOf(n.health)?.status() ?? null,
        healthCheck: probeStatus(n.health),
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

  // The services handed to plugins: the shared Redis connection (never its credentials) and the node identity.
  app.get('/admin/services', async () => {
    const { redis, nodeId } = gw.current.services
    return {
      node: { id: nodeId },
      redis: redis === undefined ? { configured: false } : { configured: true, ...redis.status() }
    }
  })

  registerPluginRoutes(app, gw)

  // Which route would serve a request, and what the upstream would be sent: for
  // checking an edit before (or after) it goes live. Header conditions are given
  // as `header.<name>=value` query parameters, the client IP as `ip=`. Plugins
  // that choose the upstream per request (traffic-split) say which they would
  // take and why (their explain()), under `explain`.
  app.get('/admin/match', async (request, reply) => {
    const q = request.query as Record<string, string | string[] | undefined>
    for (const [k, v] of Object.entries(q)) {
      if (typeof v !== 'string') return sendAdminError(reply, AdminErrors.BAD_REQUEST, `query parameter "${k}" is given more than once`)
    }
    const given = q as Record<string, string | undefined>
    if (given.path === undefined) return sendAdminError(reply, AdminErrors.BAD_REQUEST, 'query parameter "path" is required')
    const rawPath = given.path.split('?', 1)[0]!
    const path = normalizePath(rawPath)
    if (path === null) {
      return sendAdminError(reply, GatewayErrors.BAD_PATH, `path ${JSON.stringify(given.path)} is refused by normalisation (as the data plane would refuse it)`)
    }
    const clientIp = given.ip ?? ''
    if (clientIp !== '' && isIP(clientIp) === 0) return sendAdminError(reply, AdminErrors.BAD_REQUEST, `ip ${JSON.stringify(clientIp)} is not an IP address`)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(given)) if (k.startsWith('header.') && v !== undefined) headers[k.slice(7).toLowerCase()] = v
    const rawQuery = given.path.includes('?') ? given.path.slice(given.path.indexOf('?') + 1) : ''
    const snap = gw.current
    const view: MatchView = { method: (given.method ?? 'GET').toUpperCase(), host: hostOf(given.host), path, headers, rawQuery, clientIp }
    const hit = snap.router.find(view)
    if (hit === undefined) return reply.code(404).send({ path, route: null })
    const route = hit.value
    const plugins = [...snap.global.plugins, ...route.plugins]
    const explain = explainAll(plugins, view)
    const chosen = chosenUpstream(explain)
    const upstream = chosen === undefined ? route.upstreamName : chosen
    return {
      path,
      route: route.id,
      pattern: hit.pattern,
      params: hit.params,
      upstream,
      nodes: (upstream === null ? undefined : snap.upstreams.get(upstream))?.nodes.map((n) => n.id) ?? [],
      forwardedPath: route.forwardPath(pathToForward(rawPath, path), hit) + (rawQuery === '' ? '' : '?' + rawQuery),
      // The plugins the request would run, in order: the global ones first (also listed apart), then the route's.
      plugins: plugins.map((p) => p.name),
      globalPlugins: snap.global.plugins.map((p) => p.name),
      ...(Object.keys(explain).length === 0 ? {} : { explain })
    }
  })

  app.post('/admin/reload', async (_request, reply) => {
    const outcome = await gw.reloader.reload('admin')
    return reply.code(outcome.result === 'failed' ? 422 : 200).send(outcome)
  })

  return app
}
