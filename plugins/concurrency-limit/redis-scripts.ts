// The Redis side of a cluster-scope concurrency limit. One sorted set per key:
// members are permit ids (`nodeId/boot/sequence`, unique per request and per
// process start), scores the permit's expiry in Redis's own clock (ms), so
// gateways' clocks never matter. Every script call touches one key only
// (Redis Cluster compatible).
//   acquire  drop expired permits, admit when fewer than max remain, add this one
//   renew    push the expiry of this gateway's permits of one key (re-adds one the
//            server lost, e.g. after a restart: this request still runs)
//   release  ZREM of the permit id (a no-op when it is gone already)
// Each write also sets the key's TTL to two leases, so keys of dead gateways vanish.
import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

// KEYS[1] the set; ARGV[1] max, ARGV[2] lease ms, ARGV[3] permit id. 1: admitted, 0: full.
export const ACQUIRE = `${NOW}
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1`

// KEYS[1] the set; ARGV[1] lease ms, ARGV[2..] permit ids.
export const RENEW = `${NOW}
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + lease, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return #ARGV - 1`

const ACQUIRE_SHA = createHash('sha1').update(ACQUIRE).digest('hex')

/** Runs ACQUIRE by its digest (one short command), loading the script the first time the server lacks it. */
export async function acquire (client: Redis | Cluster, key: string, max: number, lease: number, id: string): Promise<unknown> {
  try {
    return await client.evalsha(ACQUIRE_SHA, 1, key, max, lease, id)
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
    return await client.eval(ACQUIRE, 1, key, max, lease, id)
  }
}
