// The route breaker: a Breaker over the upstream attempts of one route. The
// request path asks admit() before it touches the upstream (an open breaker,
// or a half-open one with no trial left, answers at once: the route's
// fallback, or 503 GW_CIRCUIT_OPEN); the breaker reads the attempts'
// outcomes through the route's outcome phase (`observe`, appended to it at
// compile time), so a route without a breaker pays nothing. The breaker is
// carried to the next CompiledRoute while its options are unchanged.
import type { BreakerConfig, FallbackConfig } from '../config/types.js'
import type { DirectReply, UpstreamOutcome } from '../../plugins/types.js'
import type { RequestContext } from '../proxy/request-context.js'
import type { OutcomeFn } from '../snapshot/types.js'
import { Breaker, type BreakerState, type TransitionReason } from './breaker.js'

/** Where breakers report their transitions (GatewayMetrics). */
export interface BreakerEvents {
  breakerTransition (scope: 'node' | 'route', target: string, to: BreakerState, reason: TransitionReason): void
}

export class RouteBreaker {
  readonly breaker: Breaker
  /** The route's outcome-phase function that feeds the breaker. */
  readonly observe: OutcomeFn

  constructor (readonly routeId: string, readonly optionsKey: string, options: BreakerConfig, events: BreakerEvents) {
    this.breaker = new Breaker(options, performance.now.bind(performance), {
      transition: (to, reason) => events.breakerTransition('route', routeId, to, reason)
    })
    const b = this.breaker
    this.observe = (_ctx: RequestContext, o: UpstreamOutcome) => b.record(o.kind, o.status, o.latency)
  }

  /** May the request go upstream? (Half-open: takes a trial; give it back with release() if it never does.) */
  admit (): boolean {
    return this.breaker.acquire()
  }

  release (): void {
    this.breaker.release()
  }

  /** What the admin API shows. */
  status (): Record<string, unknown> {
    const b = this.breaker
    b.poll()
    return {
      state: b.state,
      reason: b.reason ?? null,
      since: new Date(Date.now() - (b.now() - b.since)).toISOString(),
      trips: b.totalTrips,
      halfOpenInMs: b.msUntilHalfOpen(),
      trialsLeft: b.state === 'half-open' ? b.trialsLeft : null
    }
  }
}

/**
 * The breaker of a route compiled from `options`: the previous one (`old`,
 * with its state) when its options are unchanged, else a new one.
 */
export function routeBreakerFor (routeId: string, options: BreakerConfig | undefined, old: RouteBreaker | undefined,
  events: BreakerEvents): RouteBreaker | undefined {
  if (options === undefined) return undefined
  const key = JSON.stringify(options)
  if (old !== undefined && old.optionsKey === key) return old
  return new RouteBreaker(routeId, key, options, events)
}

/** The fallback as a reply the core sends as it is. */
export function compileFallback (f: FallbackConfig | undefined): DirectReply | undefined {
  if (f === undefined) return undefined
  return Object.freeze({ kind: 'reply', status: f.status, headers: Object.freeze({ ...f.headers }), body: Buffer.from(f.body) })
}
