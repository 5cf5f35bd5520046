// The services a snapshot hands to its plugins besides their options
// (PluginEnv): the shared Redis connection and the node identity (the metrics
// registry is the process's own, in GatewayMetrics). A reload keeps the Redis
// connection while the `redis:` section is unchanged; a changed one gets a new
// connection, and the old one is closed when no snapshot uses it any more
// (reload/reloader.ts). A plugin instance that read a service is compiled
// again when that service changed (`Uses`, snapshot/build-snapshot.ts).
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/types.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { RedisService } from './redis.js'

export interface Services {
  readonly redis: RedisService | undefined
  readonly nodeId: string
}

/** The services a plugin instance read at creation (a key is present only when read). */
export interface Uses {
  redis?: RedisService | undefined
  nodeId?: string
}

/** `node.id` from the config, else `hostname:pid` (unique per process on a host). */
export function nodeIdOf (config: GatewayConfig): string {
  return config.node.id ?? `${hostname()}:${process.pid}`
}

/**
 * The services for `config`: `prev`'s Redis connection when `redisKey` (the
 * digest of the `redis:` section, ConfigKeys.redis) is unchanged, else a new
 * one (already connecting; the caller closes it if the build fails).
 */
export function servicesFor (config: GatewayConfig, redisKey: string, prev: Services | undefined,
  deps: { logger: Logger; metrics: GatewayMetrics }): Services {
  let redis: RedisService | undefined
  if (config.redis !== undefined) {
    redis = prev?.redis !== undefined && prev.redis.key === redisKey
      ? prev.redis
      : new RedisService(config.redis, redisKey, {
        logger: deps.logger.child({ component: 'redis' }),
        onChange: (state) => deps.metrics.redisStateChanges.labels(state).inc()
      })
  }
  return { redis, nodeId: nodeIdOf(config) }
}

/** True when an instance that read `uses` must be created again for `services`. */
export function isStale (uses: Uses, services: Services): boolean {
  return ('redis' in uses && uses.redis !== services.redis) || ('nodeId' in uses && uses.nodeId !== services.nodeId)
}
