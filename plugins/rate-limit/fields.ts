// The RateLimit-Policy and RateLimit header fields of
// draft-ietf-httpapi-ratelimit-headers (structured fields: a list of policies,
// each a quoted name with parameters):
//   RateLimit-Policy: "orders";q=100;w=1, "orders-burst";q=20;w=10
//   RateLimit: "orders";r=42;t=1, "orders-burst";r=20;t=7
// q: quota (requests), w: window (s), r: remaining requests, t: seconds until
// the quota resets. The policy text is built once per instance; several limits
// on one request (a global one, a route's) each append their own items.
import type { OutgoingHttpHeaders } from 'node:http'

export class RateLimitFields {
  readonly policy: string
  readonly #name: string
  readonly #burstName: string | undefined

  constructor (name: string, rate: number, windowMs: number, burst: number, burstWindowMs: number) {
    this.#name = `"${name}"`
    this.#burstName = burst > 0 ? `"${name}-burst"` : undefined
    this.policy = `${this.#name};q=${rate};w=${windowMs / 1000}` +
      (burst > 0 ? `, ${this.#burstName!};q=${burst};w=${burstWindowMs / 1000}` : '')
  }

  /** The RateLimit field value: remaining requests and ms until reset, for the rate and (when set) the burst bucket. */
  current (remaining: number, resetMs: number, burstRemaining: number, burstResetMs: number): string {
    const s = `${this.#name};r=${remaining};t=${seconds(resetMs)}`
    return this.#burstName === undefined ? s : `${s}, ${this.#burstName};r=${burstRemaining};t=${seconds(burstResetMs)}`
  }
}

/** Whole seconds, rounded up (a client waiting that long finds the window reset). */
export function seconds (ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000)
}

/** Adds `value` to a list-valued field, after what other limits put there. */
export function appendField (headers: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = headers[name]
  headers[name] = prev === undefined ? value : `${String(prev)}, ${value}`
}
