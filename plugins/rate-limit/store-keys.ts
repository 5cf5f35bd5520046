// The Redis key namespace of a cluster-scope rate limit:
//   <redis.keyPrefix>rate-limit:{<limit id>:<definition hash>:<bucket>:<key value>}:<window>
// limit id: the route id, or `*` for a global instance (no route id can be
// `*`); definition hash: 8 hex digits of sha256 over what the counts mean
// (rate, window, burst, burstWindow, key parts), so a changed limit starts
// from fresh counters on every gateway at once, while an unchanged one keeps
// them across reloads and restarts; bucket: `rate` or `burst`; key value:
// what limit-common/key.ts made of the request (values that could hold a
// separator are percent-encoded there), replaced by its sha256 when longer
// than 64 characters. The braces are a Redis Cluster hash tag: the window
// counters of a key live in one slot, next to the key the script is given.
import { createHash } from 'node:crypto'
import type { RateLimitOptions } from './options.js'

export function definitionHash (o: RateLimitOptions): string {
  const def = { rate: o.rate, window: o.window, burst: o.burst, burstWindow: o.burstWindow ?? null, key: o.key }
  return createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 8)
}

const MAX_VALUE = 64

export function storeKeys (keyPrefix: string, routeId: string | undefined, hash: string): (value: string, bucket: 'rate' | 'burst') => string {
  const head = `${keyPrefix}rate-limit:{${routeId ?? '*'}:${hash}:`
  return (value, bucket) => {
    const v = value.length > MAX_VALUE ? createHash('sha256').update(value).digest('base64url') : value
    return `${head}${bucket}:${v}}`
  }
}
