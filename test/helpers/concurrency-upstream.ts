// For the concurrency-limit tests: an upstream that counts the requests it has
// in flight (test/helpers/upstream.ts records the maximum) and answers by path:
//   .../hold... held until release() (a request kept in flight on purpose)
//   .../slow... answered after `slowMs` (default 100 ms)
//   .../fail... the connection destroyed without an answer (upstream error)
//   anything else: answered at once
// and a bounded load generator: `total` requests by `clients` concurrent
// clients (an undici Pool), each request's status and duration recorded.
import type { Redis } from 'ioredis'
import { Pool } from 'undici'
import { startUpstream, type Upstream } from './upstream.js'

export interface HoldingUpstream extends Upstream {
  /** Requests held now, oldest first. */
  readonly held: number
  /** Answers the oldest held request (all of them with `all`). */
  release(all?: boolean): void
  /** Most requests in flight at once since the last resetMax(). */
  readonly maxSince: number
  resetMax(): void
}

export async function startHoldingUpstream (slowMs = 100): Promise<HoldingUpstream> {
  const held: Array<() => void> = []
  let now = 0
  let maxSince = 0
  const up = await startUpstream({
    handler: (req, res) => {
      req.resume()
      maxSince = Math.max(maxSince, ++now)
      res.once('close', () => { now-- })
      const answer = (): void => { if (!res.destroyed) res.end('ok') }
      const url = req.url ?? ''
      if (url.includes('/hold')) {
        held.push(answer)
        res.once('close', () => {
          const i = held.indexOf(answer)
          if (i >= 0) held.splice(i, 1)
        })
      } else if (url.includes('/slow')) {
        setTimeout(answer, slowMs)
      } else if (url.includes('/fail')) {
        req.socket.destroy()
      } else {
        answer()
      }
    }
  })
  // Object.assign would copy the getters' values, not the getters.
  return Object.defineProperties(up, {
    held: { get: () => held.length },
    maxSince: { get: () => maxSince },
    resetMax: { value: (): void => { maxSince = now } },
    release: {
      value: (all = false): void => {
        for (const a of all ? held.splice(0) : held.splice(0, 1)) a()
      }
    }
  }) as HoldingUpstream
}

export interface LoadResult {
  statuses: Map<number, number>
  /** Duration of each request, ms. */
  durations: number[]
  /** Code of each gateway error answered (GW_*), counted. */
  codes: Map<string, number>
  /** Retry-After values seen on refusals. */
  retryAfter: Set<string>
}

/** `total` GETs of `origin + path(i)`, `clients` at a time; stops early after `maxMs`. */
export async function load (origin: string, path: (i: number) => string, total: number, clients: number,
  opts: { maxMs?: number; headers?: (i: number) => Record<string, string> } = {}): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: clients, pipelining: 1 })
  const result: LoadResult = { statuses: new Map(), durations: [], codes: new Map(), retryAfter: new Set() }
  const deadline = Date.now() + (opts.maxMs ?? 20_000)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total && Date.now() < deadline) {
      const i = next++
      const t0 = performance.now()
      const res = await pool.request({ path: path(i), method: 'GET', headers: opts.headers?.(i) })
      const body = await res.body.text()
      result.durations.push(performance.now() - t0)
      result.statuses.set(res.statusCode, (result.statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode >= 400 && body.startsWith('{')) {
        const code = (JSON.parse(body) as { error: { code: string } }).error.code
        result.codes.set(code, (result.codes.get(code) ?? 0) + 1)
        const ra = res.headers['retry-after']
        if (typeof ra === 'string') result.retryAfter.add(ra)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: clients }, worker))
  } finally {
    await pool.close()
  }
  return result
}

/** The concurrency-limit permits stored in Redis under `prefix`, every key (expired ones included until an acquire drops them). */
export async function permitsInRedis (client: Redis, prefix: string): Promise<number> {
  const keys = await client.keys(`${prefix}concurrency-limit:*`)
  let n = 0
  for (const k of keys) n += await client.zcard(k)
  return n
}
