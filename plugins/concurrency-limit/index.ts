// concurrency-limit: at most `max` requests in flight per key, counted in this
// process (scope: node) or across the gateways sharing Redis (scope: cluster).
// A permit is taken in the access phase and released in the log phase, which
// the core calls exactly once per request however it ended (completed, client
// gone, upstream error, refused by a later plugin, answered at a deadline).
// Refusal: 503 GW_CONCURRENCY_LIMITED with Retry-After, or first a short
// bounded wait in a FIFO queue when `queue:` is set.
import type { PluginDefinition } from '../types.js'
import { ClusterLimit } from './cluster-limit.js'
import { NodeLimit } from './node-limit.js'
import { check, PLUGIN_NAME, schema, type ConcurrencyLimitOptions } from './options.js'

export const concurrencyLimitPlugin: PluginDefinition<ConcurrencyLimitOptions> = {
  name: PLUGIN_NAME,
  // APISIX's limit-conn: after auth-like plugins, before the rate limits.
  priority: 1003,
  schema,
  check,
  create (o, env) {
    return o.scope === 'cluster' ? new ClusterLimit(o, env) : new NodeLimit(o, env)
  }
}
