// The shared counters of a cluster-scope rate limit in Redis: one Lua script
// takes a block of tokens, another gives unused ones back.
//
// Windows are fixed and aligned on Redis's own clock (TIME): window i covers
// [i·w, (i+1)·w) ms, the same for every gateway whatever their clocks, and has
// its own counter `<base>:<i>` (expiring one window after its end). A block
// is taken with INCRBY; when that crosses the limit the caller keeps exactly
// what was left (limit − previous count) and the counter is set back to the
// limit, so the sum of the tokens granted in a window never exceeds the limit
// and tokens given back are usable by others. A give names its window, so
// tokens of a window that has ended can never be credited to the next one.
import type { Redis, Cluster } from 'ioredis'
import type { Grant, TokenStore } from './lease-table.js'

// KEYS[1] base key; ARGV: want, limit, window ms.
// Returns {granted, ms left in the window, window index, limit − count after}.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[3])
local i = math.floor(now / w)
local key = KEYS[1] .. ':' .. i
local want = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local n = redis.call('INCRBY', key, want)
if n == want then redis.call('PEXPIRE', key, (i + 2) * w - now) end
local granted = want
if n > limit then
  granted = math.max(0, limit - (n - want))
  redis.call('DECRBY', key, n - limit)
  n = limit
end
return {granted, (i + 1) * w - now, i, limit - n}`

// KEYS[1] base key; ARGV: window index, tokens. Only into a window that still exists.
const GIVE = `
local key = KEYS[1] .. ':' .. ARGV[1]
if redis.call('EXISTS', key) == 1 then return redis.call('DECRBY', key, ARGV[2]) end
return -1`

type Scripted = (Redis | Cluster) & {
  gwRateTake(key: string, want: number, limit: number, windowMs: number): Promise<[number, number, number, number]>
  gwRateGive(key: string, window: number, n: number): Promise<number>
}

/** Defines the scripts on `client` once (ioredis runs them by EVALSHA, falling back to EVAL after a Redis restart). */
function scripted (client: Redis | Cluster): Scripted {
  const c = client as Scripted
  if (typeof c.gwRateTake !== 'function') {
    client.defineCommand('gwRateTake', { numberOfKeys: 1, lua: TAKE })
    client.defineCommand('gwRateGive', { numberOfKeys: 1, lua: GIVE })
  }
  return c
}

export class RedisTokenStore implements TokenStore {
  readonly #client: Scripted

  constructor (client: Redis | Cluster, readonly limit: number, readonly windowMs: number) {
    this.#client = scripted(client)
  }

  async take (key: string, want: number): Promise<Grant> {
    const [granted, msLeft, window, remaining] = await this.#client.gwRateTake(key, want, this.limit, this.windowMs)
    return { granted, msLeft, window, remaining }
  }

  give (key: string, window: number, n: number): Promise<unknown> {
    return this.#client.gwRateGive(key, window, n)
  }
}
