// Turns the schema-checked merged config tree into the GatewayConfig model,
// doing the checks a schema cannot express on the way: the admin API's token
// and port, chash / hashOn, healthCheck (build-health-check.ts), global plugins' check(), and (in build-routes.ts)
// everything about routes.
// Values that failed the schema (`bad`) are skipped; the model is returned
// only when the whole load has no issue.
import type { PluginMap } from '../../plugins/registry.js'
import type { ConfigRefs } from '../../plugins/types.js'
import { buildBreaker } from './build-breaker.js'
import { buildHealthCheck, checkSharedHealthChecks } from './build-health-check.js'
import { buildRedis } from './build-redis.js'
import { buildRoute, checkPlugins, crossCheckRoutes } from './build-routes.js'
import { isLoopback } from './checks.js'
import { checkDuplicateNodes } from './duplicate-nodes.js'
import { checkFailover } from './failover-zones.js'
import type { CheckContext } from './issue-sink.js'
import { defineValue, isObj, sortedCopy, type Obj } from './plain-object.js'
import type { GatewayConfig, HashOn, NodeBreakerConfig, RouteConfig, UpstreamConfig } from './types.js'

/**
 * The model of `root`, or undefined when any issue has been reported (by this
 * or an earlier step). `bad`: paths that failed the schema (see apply-schema.ts).
 */
export function buildModel (root: Obj, bad: Set<string>, ctx: CheckContext, plugins: PluginMap): GatewayConfig | undefined {
  const listen = root.listen as GatewayConfig['listen']
  const admin = root.admin as GatewayConfig['admin']
  if (isObj(admin) && typeof admin.host === 'string' && !bad.has('admin/host') && !bad.has('admin/token') &&
    !isLoopback(admin.host) && admin.token === undefined) {
    ctx.issues.add(ctx.at(['admin', 'host']), ['admin', 'host'],
      `admin.token is required when the admin API listens on a non-loopback address (${JSON.stringify(admin.host)}); ` +
      'use 127.0.0.1 / ::1 / localhost, or set a token')
  }
  if (isObj(admin) && isObj(listen) && !bad.has('admin/host') && !bad.has('admin/port') && !bad.has('listen/host') &&
    !bad.has('listen/port') && admin.port !== 0 && admin.port === listen.port) {
    const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === '[::]'
    if (admin.host === listen.host || wildcard(admin.host) || wildcard(listen.host)) {
      ctx.issues.add(ctx.at(['admin', 'port']), ['admin', 'port'], `port ${admin.port} is also listen.port`)
    }
  }
  checkServer(root, bad, ctx)
  const redis = buildRedis(root, bad, ctx)

  const nodeIn = root.node
  // null: node.zone failed the schema, so the failover rules that depend on it are not checked.
  const ownZone = bad.has('node/zone') ? null : isObj(nodeIn) ? nodeIn.zone as string | undefined : undefined
  const upstreams: Record<string, UpstreamConfig> = {}
  const upstreamsIn = root.upstreams as Obj
  for (const name of Object.keys(upstreamsIn).sort()) {
    const u = upstreamsIn[name]
    if (!isObj(u)) continue
    const built = buildUpstream(name, u, bad, ctx, ownZone)
    if (built !== undefined) defineValue(upstreams, name, built)
  }
  // In the order written, so the second of two upstreams that disagree is the one reported.
  checkSharedHealthChecks(Object.keys(upstreamsIn).flatMap((name) => Object.hasOwn(upstreams, name) ? [upstreams[name]!] : []), ctx)

  // What plugin check()s may rely on: a `redis:` section that is present counts even when it has errors (reported on their own).
  const refs: ConfigRefs = { redis: isObj(root.redis), upstreams: new Set(Object.keys(upstreamsIn)) }
  checkPlugins(['plugins'], root.plugins, bad, ctx, plugins, refs)
  const routesIn = root.routes as unknown[]
  const built: Array<RouteConfig | undefined> = []
  for (let i = 0; i < routesIn.length; i++) {
    const r = routesIn[i]
    built.push(isObj(r) ? buildRoute(i, r, bad, ctx, plugins, refs) : undefined)
  }
  crossCheckRoutes(routesIn, upstreamsIn, bad, ctx)

  if (ctx.issues.count > 0) return undefined
  const server = root.server as GatewayConfig['server']
  const accessLog = root.accessLog as GatewayConfig['accessLog']
  const node = root.node as GatewayConfig['node']
  const model: GatewayConfig = {
    listen: { host: listen.host, port: listen.port },
    admin: admin.token === undefined ? { host: admin.host, port: admin.port } : { host: admin.host, port: admin.port, token: admin.token },
    server: {
      bodyLimit: server.bodyLimit,
      trustedProxies: [...server.trustedProxies],
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      keepAliveTimeout: server.keepAliveTimeout,
      drainTimeout: server.drainTimeout,
      maxHeaderSize: server.maxHeaderSize,
      maxUriLength: server.maxUriLength,
      pluginTimeout: server.pluginTimeout
    },
    accessLog: { enabled: accessLog.enabled },
    node: {
      ...(node.id === undefined ? {} : { id: node.id }),
      ...(node.zone === undefined ? {} : { zone: node.zone })
    },
    upstreams,
    plugins: sortedCopy(root.plugins as Obj),
    routes: built as RouteConfig[]
  }
  if (redis !== undefined) model.redis = redis
  return model
}

/** Node's HTTP server refuses to start with a header timeout longer than the request timeout. */
function checkServer (root: Obj, bad: Set<string>, ctx: CheckContext): void {
  const server = root.server
  if (!isObj(server) || bad.has('server/headersTimeout') || bad.has('server/requestTimeout')) return
  const { headersTimeout, requestTimeout } = server as unknown as GatewayConfig['server']
  if (headersTimeout > requestTimeout) {
    ctx.issues.add(ctx.at(['server', 'headersTimeout']), ['server', 'headersTimeout'],
      `must not be longer than server.requestTimeout (${requestTimeout}ms)`)
  }
}

/** Checks an upstream; returns its output form when it is entirely valid. `ownZone`: node.zone (null: it is invalid). */
function buildUpstream (name: string, u: Obj, bad: Set<string>, ctx: CheckContext, ownZone: string | undefined | null): UpstreamConfig | undefined {
  const path = ['upstreams', name]
  // Checked even when another key of the upstream is wrong: each problem is reported.
  const nodesOk = Array.isArray(u.nodes) && !bad.has(`upstreams/${name}/nodes`)
  const duplicateNodes = nodesOk && !checkDuplicateNodes(name, u.nodes as Obj[], ctx)
  const failover = isObj(u.failover) && !bad.has(`upstreams/${name}/failover`) ? u.failover : undefined
  const badFailover = nodesOk && failover !== undefined && ownZone !== null && !checkFailover(name, u.nodes as Obj[], failover, ownZone, ctx)
  const before = ctx.issues.count
  const breaker = buildBreaker([...path, 'breaker'], u.breaker, bad, ctx) as NodeBreakerConfig | undefined
  const breakerBad = ctx.issues.count > before
  const hcIn = u.healthCheck
  const healthCheck = isObj(hcIn) && !bad.has(`upstreams/${name}/healthCheck`) ? buildHealthCheck(name, hcIn, ctx) : undefined
  const tryTooLong = !bad.has(`upstreams/${name}/timeouts`) && !checkTryTimeout(name, u, ctx)
  const balancer = u.balancer as UpstreamConfig['balancer']
  const hashOnText = u.hashOn as string | undefined
  if (bad.has(`upstreams/${name}/balancer`) || bad.has(`upstreams/${name}/hashOn`)) return undefined
  if (balancer === 'chash' && hashOnText === undefined) {
    ctx.issues.add(ctx.at([...path, 'balancer']), [...path, 'balancer'],
      'balancer "chash" needs hashOn ("header:NAME", "cookie:NAME", "ip" or "path")')
    return undefined
  }
  if (balancer !== 'chash' && hashOnText !== undefined) {
    ctx.issues.add(ctx.at([...path, 'hashOn']), [...path, 'hashOn'],
      `hashOn is only used by balancer "chash" (this upstream's balancer is ${JSON.stringify(balancer)})`)
    return undefined
  }
  if (bad.has(`upstreams/${name}`) || duplicateNodes || badFailover || breakerBad || tryTooLong || (hcIn !== undefined && healthCheck === undefined)) return undefined
  const nodes = (u.nodes as Obj[]).map((n) => {
    const node: UpstreamConfig['nodes'][number] = {
      url: (n.url as string).replace(/\/+$/, ''),
      weight: n.weight as number,
      metadata: sortedCopy(n.metadata as Record<string, string>)
    }
    if (n.zone !== undefined) node.zone = n.zone as string
    return node
  })
  const t = u.timeouts as UpstreamConfig['timeouts']
  const pool = u.pool as UpstreamConfig['pool']
  const budget = u.retryBudget as UpstreamConfig['retryBudget']
  const limits = u.limits as UpstreamConfig['limits']
  const out: UpstreamConfig = {
    name,
    balancer,
    nodes,
    timeouts: t.try === undefined
      ? { connect: t.connect, header: t.header, idle: t.idle }
      : { connect: t.connect, header: t.header, try: t.try, idle: t.idle },
    pool: { connections: pool.connections, keepAliveTimeout: pool.keepAliveTimeout },
    retries: u.retries as number,
    retryBudget: { ratio: budget.ratio, minPerSecond: budget.minPerSecond },
    limits: {}
  }
  if (limits.maxRequests !== undefined) out.limits.maxRequests = limits.maxRequests
  if (limits.maxPending !== undefined) out.limits.maxPending = limits.maxPending
  if (hashOnText !== undefined) out.hashOn = parseHashOn(hashOnText)
  if (failover !== undefined) out.failover = { zones: [...failover.zones as string[]], minHealthy: failover.minHealthy as number }
  if (breaker !== undefined) out.breaker = breaker
  if (healthCheck !== undefined) out.healthCheck = healthCheck
  return out
}

/** An attempt's wait for headers is part of the request's: `timeouts.try` must fit in `timeouts.header`. */
function checkTryTimeout (name: string, u: Obj, ctx: CheckContext): boolean {
  const t = u.timeouts as UpstreamConfig['timeouts']
  if (t.try === undefined || t.try <= t.header) return true
  const path = ['upstreams', name, 'timeouts', 'try']
  ctx.issues.add(ctx.at(path), path, `must not be longer than timeouts.header (${t.header}ms), the wait for response headers across all attempts`)
  return false
}

/** `header:NAME` / `cookie:NAME` / `ip` / `path` (already checked by the schema). */
export function parseHashOn (text: string): HashOn {
  if (text === 'ip') return { kind: 'ip' }
  if (text === 'path') return { kind: 'path' }
  const colon = text.indexOf(':')
  const k = text.slice(0, colon)
  const name = text.slice(colon + 1)
  return k === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name }
}
