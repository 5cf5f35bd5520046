// Builds an immutable Snapshot from a validated config, reusing by identity
// everything the previous snapshot already compiled and that did not change:
// upstreams (and through the registry, their connection pools; a rebuilt one
// takes over its predecessor's retry budget and bulkhead counters), compiled routes,
// plugin instances whose options did not change (so a limiter's counters survive
// an edit of its route's match or of another plugin), and the whole route table
// when no route changed (an upstream-only change never rebuilds routing). The
// global plugins are compiled apart from the routes: a change to them
// recompiles no route. The services handed to plugins (services/plugin-services.ts)
// are carried over too; an instance that read one that changed is created again.
// The active health probers of the nodes are started, reconfigured or stopped to
// follow the new upstreams (health/probers.ts).
import type { Logger } from 'pino'
import type { GatewayConfig, RouteConfig } from '../config/types.js'
import type { PluginRegistry } from '../../plugins/registry.js'
import type { PluginDefinition, PluginEnv, PluginInstance, RedisConnection } from '../../plugins/types.js'
import { isStale, servicesFor, type Services, type Uses } from '../services/plugin-services.js'
import { compileRouterAsync } from '../routing/router.js'
import type { RouteEntry } from '../routing/types.js'
import { TrustPolicy } from '../proxy/client-identity.js'
import { Upstream } from '../upstream/upstream.js'
import type { NodeConnectionRegistry } from '../upstream/node-connection.js'
import type { NodeHealthRegistry } from '../health/node-health.js'
import { syncProbers } from '../health/probers.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { compileForwardPath } from './forward-path.js'
import { syncNodeBreakers } from '../health/node-breaker.js'
import { compileFallback, routeBreakerFor } from '../health/route-breaker.js'
import type { ConfigKeys } from '../config/load-config.js'
import { compilePlugins, retiredInstances } from './compile-plugins.js'
import type { CompiledRoute, Snapshot } from './types.js'

export interface BuildInput {
  config: GatewayConfig
  /** Per-route and per-upstream identity digests, computed by the loader. */
  keys: ConfigKeys
  digest: string
  files: readonly string[]
  version: number
}

export interface BuildDeps {
  registry: NodeConnectionRegistry
  health: NodeHealthRegistry
  /** The registry the config was validated against. */
  plugins: PluginRegistry
  metrics: GatewayMetrics
  logger: Logger
}

export interface BuildResult {
  snapshot: Snapshot
  /** Plugin instances of the previous snapshot that the new one no longer uses. */
  retiredPlugins: PluginInstance[]
  stats: { routesReused: number; routesCompiled: number; routerRebuilt: boolean; routerMs: number; upstreamsRebuilt: number }
}

/** Routes compiled between two yields to the event loop (keeps a 10k-route reload from stalling requests). */
const COMPILE_SLICE = 250

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export async function buildSnapshot (input: BuildInput, prev: Snapshot | undefined, deps: BuildDeps): Promise<BuildResult> {
  const services = servicesFor(input.config, input.keys.redis, prev?.services, deps)
  try {
    return await build(input, prev, deps, services)
  } catch (err) {
    // A connection made for this build only: nothing else will ever close it.
    if (services.redis !== undefined && services.redis !== prev?.services.redis) services.redis.close()
    throw err
  }
}

async function build (input: BuildInput, prev: Snapshot | undefined, deps: BuildDeps, services: Services): Promise<BuildResult> {
  const { config, keys } = input
  const servicesChanged = prev !== undefined && (prev.services.redis !== services.redis || prev.services.nodeId !== services.nodeId)
  const upstreams = new Map<string, Upstream>()
  let upstreamsRebuilt = 0
  for (const [name, uc] of Object.entries(config.upstreams)) {
    const old = prev?.upstreams.get(name)
    // The priority levels of an upstream with failover depend on the gateway's own zone, which is not in its config.
    const key = (keys.upstreams[name] ?? '') + (uc.failover === undefined ? '' : '|' + (config.node.zone ?? ''))
    if (old !== undefined && old.key === key) upstreams.set(name, old)
    else {
      upstreams.set(name, new Upstream(uc, key, { connections: deps.registry, health: deps.health }, config.node.zone, old))
      upstreamsRebuilt++
    }
  }

  const routes = new Map<string, CompiledRoute>()
  let routesReused = 0
  for (let i = 0; i < config.routes.length; i++) {
    if (i > 0 && i % COMPILE_SLICE === 0) await yieldToEventLoop()
    const rc = config.routes[i]!
    const key = keys.routes[i]! + '|' + config.server.bodyLimit
    const old = prev?.routes.get(rc.id)
    if (old !== undefined && old.key === key && !(servicesChanged && old.plugins.some((p) => isStale(p.uses, services)))) {
      routes.set(rc.id, old)
      routesReused++
    } else {
      routes.set(rc.id, compileRoute(rc, key, config, deps, services, old))
    }
  }

  const sameRoutes = prev !== undefined && routesReused === prev.routes.size && routesReused === routes.size &&
    config.routes.every((r, i) => prev.config.routes[i]?.id === r.id)
  const routerStart = performance.now()
  const router = sameRoutes
    ? prev.router
    : await compileRouterAsync<CompiledRoute>(config.routes.map((r): RouteEntry<CompiledRoute> => ({
      id: r.id, match: r.match, priority: r.priority, value: routes.get(r.id)!
    })))

  const routerMs = Math.round((performance.now() - routerStart) * 10) / 10
  if (!sameRoutes) await yieldToEventLoop()
  const global = compilePlugins(config.plugins, prev?.global, deps.plugins.plugins, 'global', 'global plugins', services,
    (def, uses) => pluginEnv(def, undefined, deps, services, uses))
  const retiredPlugins: PluginInstance[] = []
  if (prev !== undefined) {
    for (const [id, old] of prev.routes) {
      const next = routes.get(id)
      if (next !== old) retiredInstances(old, next, retiredPlugins)
    }
    retiredInstances(prev.global, global, retiredPlugins)
  }

  // Last, once nothing can fail any more: the probers follow the upstreams of the snapshot about to be swapped in.
  syncProbers(upstreams.values(), deps)
  // Last: nothing after it can fail, so node breakers never follow a config that does not go live.
  syncNodeBreakers(upstreams, deps.metrics)
  const snapshot: Snapshot = {
    version: input.version,
    digest: input.digest,
    loadedAt: new Date(),
    config,
    files: input.files,
    router,
    routes,
    global,
    upstreams,
    services,
    trust: prev !== undefined && prev.config.server.trustedProxies.join() === config.server.trustedProxies.join()
      ? prev.trust
      : new TrustPolicy(config.server.trustedProxies),
    inflight: 0
  }
  return {
    snapshot,
    retiredPlugins,
    stats: { routesReused, routesCompiled: routes.size - routesReused, routerRebuilt: !sameRoutes, routerMs, upstreamsRebuilt }
  }
}

/**
 * The environment of a new instance of `def`: on route `routeId`, or global
 * (undefined). Reading a service is recorded in `uses`: the instance is created
 * again when that service changes.
 */
function pluginEnv (def: PluginDefinition, routeId: string | undefined, deps: BuildDeps, services: Services, uses: Uses): PluginEnv {
  let logger: Logger | undefined
  // A child logger costs microseconds; 10,000 routes x plugins would add up, so it is made on first use.
  return {
    get logger (): Logger {
      return (logger ??= deps.logger.child(routeId === undefined ? { plugin: def.name, scope: 'global' } : { plugin: def.name, route: routeId }))
    },
    scope: routeId === undefined ? 'global' : 'route',
    routeId,
    now: Date.now,
    get redis (): RedisConnection | undefined { return (uses.redis = services.redis) },
    metrics: deps.metrics.registry,
    get nodeId (): string { return (uses.nodeId = services.nodeId) },
    groupMetrics: (group) => routeId === undefined ? undefined : deps.metrics.routeMetrics(routeId).group(group)
  }
}

function compileRoute (rc: RouteConfig, key: string, config: GatewayConfig, deps: BuildDeps, services: Services,
  old: CompiledRoute | undefined): CompiledRoute {
  const chain = compilePlugins(rc.plugins, old, deps.plugins.plugins, 'route', `route ${rc.id}`, services,
    (def, uses) => pluginEnv(def, rc.id, deps, services, uses))
  const breaker = routeBreakerFor(rc.id, rc.breaker, old?.breaker, deps.metrics)
  const fallback = compileFallback(rc.fallback)
  return {
    id: rc.id,
    key,
    config: rc,
    upstreamName: rc.upstream,
    bodyLimit: rc.bodyLimit ?? config.server.bodyLimit,
    websocket: rc.websocket,
    forwardPath: compileForwardPath(rc),
    ...chain,
    // The breaker reads the attempts' outcomes after the route's plugins.
    outcome: breaker === undefined ? chain.outcome : [...chain.outcome, breaker.observe],
    metrics: deps.metrics.routeMetrics(rc.id),
    ...(breaker === undefined ? {} : { breaker }),
    ...(fallback === undefined ? {} : { fallback })
  }
}
