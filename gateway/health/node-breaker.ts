// The node breaker (outlier ejection, passive health): a Breaker per node
// address, fed by the attempt outcomes of every upstream that lists the node
// with a `breaker:` (an observer in `upstream.observers`), its state kept in
// the node's NodeHealth slot, so a reload that rebuilds an upstream (a weight
// edit) finds it as it was. Its verdicts go to the NodeHealth record:
//   open       health.ejected (+ ejectedReason): the node leaves the balancers
//              of every upstream listing it, until a timer (unref'd) ends the open time
//   half-open  health.trials = halfOpenRequests: the core counts attempts down
//              (health.dispatched()); at 0 the node leaves the balancers until
//              the trials' outcomes decide; a cancelled trial gives its slot back
//   closed     health.trials = -1
// A trip is refused (and counted) when the upstream whose traffic tripped it
// would then have more than maxEjectionPercent of its nodes held out by their
// breakers (ejected or half-open); the node stays in and its counters restart.
//
// A node listed by several upstreams has one breaker, with the options of the
// last of them in the config (upstreams in name order); a reload that leaves
// no upstream with a breaker listing the node removes it (the node is readmitted).
import type { NodeBreakerConfig } from '../config/types.js'
import type { UpstreamOutcome } from '../../plugins/types.js'
import type { Upstream, UpstreamNode } from '../upstream/upstream.js'
import { Breaker, type BreakerState, type TransitionReason } from './breaker.js'
import type { HealthSlot, NodeHealth } from './node-health.js'
import type { BreakerEvents } from './route-breaker.js'

/** The key of the node breaker in NodeHealth.slots. */
export const NODE_BREAKER = 'breaker'

export class NodeBreaker implements HealthSlot {
  readonly breaker: Breaker
  optionsKey: string
  /** The upstream whose attempt is being recorded (the one whose ejection share bounds a trip). */
  #carrier: Upstream | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor (readonly health: NodeHealth, options: NodeBreakerConfig, readonly events: BreakerEvents) {
    this.optionsKey = JSON.stringify(options)
    this.breaker = new Breaker(options, performance.now.bind(performance), {
      transition: (to, reason) => this.#moved(to, reason),
      mayOpen: () => this.#mayEject()
    })
  }

  reconfigure (options: NodeBreakerConfig): void {
    const key = JSON.stringify(options)
    if (key === this.optionsKey) return
    this.optionsKey = key
    this.breaker.reconfigure(options)
    const h = this.health
    if (this.breaker.state === 'half-open' && h.trials > options.halfOpenRequests) h.trials = options.halfOpenRequests
  }

  record (carrier: Upstream, o: UpstreamOutcome): void {
    if (this.#closed) return
    const b = this.breaker
    if (o.kind === 'cancelled') {
      // Gives a half-open trial slot back (the core took it at dispatch).
      const h = this.health
      if (b.state === 'half-open' && h.trials >= 0 && h.trials + b.trialsSucceeded < b.options.halfOpenRequests && h.trials++ === 0) h.changed()
      return
    }
    this.#carrier = carrier
    b.record(o.kind, o.status, o.latency)
    this.#carrier = undefined
  }

  /** The active check saw the node fail and pass again: an open or half-open breaker closes (reason `active-check`). */
  recovered (): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.breaker.close('active-check')
  }

  /** Stops the timer; the breaker records nothing more (the NodeHealth record retires, or no breaker is configured for it any more). */
  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** What the admin API shows. */
  status (): Record<string, unknown> {
    const b = this.breaker
    return {
      state: b.state,
      reason: b.reason ?? null,
      since: new Date(Date.now() - (b.now() - b.since)).toISOString(),
      trips: b.totalTrips,
      refusedTrips: b.refusedTrips,
      halfOpenInMs: b.msUntilHalfOpen(),
      trialsLeft: b.state === 'half-open' ? this.health.trials : null
    }
  }

  #mayEject (): boolean {
    const u = this.#carrier
    if (u === undefined) return true
    const pct = u.config.breaker?.maxEjectionPercent ?? 100
    let out = 0
    for (const n of u.nodes) if (n.health !== this.health && (n.health.ejected || n.health.trials >= 0)) out++
    return out + 1 <= Math.floor(u.nodes.length * pct / 100)
  }

  /** Ends the open time on a timer (again, if it fires a little early by the breaker's clock). */
  #schedule (): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#closed && !this.breaker.poll() && this.breaker.state === 'open') this.#schedule()
    }, Math.max(1, this.breaker.msUntilHalfOpen()))
    this.#timer.unref()
  }

  #moved (to: BreakerState, reason: TransitionReason): void {
    const h = this.health
    if (to === 'open') {
      h.ejected = true
      h.ejectedReason = reason
      h.trials = -1
      this.#schedule()
    } else if (to === 'half-open') {
      h.ejected = false
      h.trials = this.breaker.options.halfOpenRequests
    } else {
      h.ejected = false
      h.ejectedReason = undefined
      h.trials = -1
    }
    this.events.breakerTransition('node', h.address, to, reason)
    h.changed()
  }
}

/** The node breaker of `health`, if one is configured for it. */
export function nodeBreakerOf (health: NodeHealth): NodeBreaker | undefined {
  return health.slots.get(NODE_BREAKER) as NodeBreaker | undefined
}

const observed = new WeakSet<Upstream>()

/**
 * Brings the node breakers in line with a new snapshot's upstreams: each
 * upstream with a `breaker:` feeds its nodes' breakers (created, or
 * reconfigured keeping their state); a node no upstream with a breaker lists
 * any more loses its breaker and is readmitted. Called once the snapshot is
 * built, before it goes live.
 */
export function syncNodeBreakers (upstreams: ReadonlyMap<string, Upstream>, events: BreakerEvents): void {
  const wanted = new Map<NodeHealth, NodeBreakerConfig>()
  const listed = new Set<NodeHealth>()
  for (const u of upstreams.values()) {
    const options = u.config.breaker
    for (const n of u.nodes) {
      listed.add(n.health)
      if (options !== undefined) wanted.set(n.health, options)
    }
    if (options !== undefined && !observed.has(u)) {
      observed.add(u)
      u.observers.push((node: UpstreamNode, o: UpstreamOutcome) => nodeBreakerOf(node.health)?.record(u, o))
    }
  }
  for (const h of listed) {
    const slot = nodeBreakerOf(h)
    const options = wanted.get(h)
    if (options === undefined) {
      if (slot !== undefined) removeBreaker(h, slot)
    } else if (slot === undefined) {
      h.slots.set(NODE_BREAKER, new NodeBreaker(h, options, events))
    } else {
      slot.reconfigure(options)
    }
  }
}

function removeBreaker (h: NodeHealth, slot: NodeBreaker): void {
  slot.close()
  h.slots.delete(NODE_BREAKER)
  if (!h.ejected && h.trials < 0) return
  h.ejected = false
  h.ejectedReason = undefined
  h.trials = -1
  h.changed()
}
