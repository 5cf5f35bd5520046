// Bulkheads: per-upstream bounds on the requests in flight to the upstream
// (across its nodes) and on those waiting for a pooled connection (sent to a
// node whose pool has no free connection: node in-flight >= pool.connections).
// A request over a bound is refused before dispatch (the core answers 503
// GW_UPSTREAM_BUSY), so one stalled upstream cannot take every socket, every
// pending slot and the memory they hold from the other business lines.
//
// The counters (BulkheadCounters) outlive a reload: the Upstream built from a
// new config takes its predecessor's, so requests still in flight on the old
// snapshot keep counting and are subtracted from the same counters when they
// end. The bounds are the config's, per Upstream object.
import type { UpstreamLimits } from '../config/types.js'
import type { UpstreamNode } from './upstream.js'

export class BulkheadCounters {
  inflight = 0
  pending = 0
  /** Requests refused, by the bound that refused them. */
  refusedRequests = 0
  refusedPending = 0
}

/** What the bulkhead keeps on a request (the RequestContext). */
export interface BulkheadTicket {
  /** The bulkhead the request was admitted by, until it leaves. */
  bulkhead: Bulkhead | undefined
  /** Counted in `pending`: its attempt waits for a pooled connection. */
  waiting: boolean
}

export class Bulkhead {
  readonly maxRequests: number
  readonly maxPending: number

  /** `connections`: the pool size of each node of the upstream. */
  constructor (limits: UpstreamLimits, readonly connections: number, readonly counters: BulkheadCounters = new BulkheadCounters()) {
    this.maxRequests = limits.maxRequests ?? Infinity
    this.maxPending = limits.maxPending ?? Infinity
  }

  /**
   * Admits a request whose first attempt goes to `node`: false (a refusal
   * counted) when maxRequests are in flight, or when it would wait for a
   * pooled connection and maxPending already do.
   */
  enter (t: BulkheadTicket, node: UpstreamNode): boolean {
    const c = this.counters
    if (c.inflight >= this.maxRequests) {
      c.refusedRequests++
      return false
    }
    if (!this.queue(t, node)) {
      c.refusedPending++
      return false
    }
    c.inflight++
    t.bulkhead = this
    return true
  }

  /** An attempt of an admitted request goes to `node`: false when it would wait and maxPending already do. */
  queue (t: BulkheadTicket, node: UpstreamNode): boolean {
    if (node.conn.inflight < this.connections) return true
    const c = this.counters
    if (c.pending >= this.maxPending) return false
    c.pending++
    t.waiting = true
    return true
  }

  /** The request's attempt got its connection, or ended without one. */
  doneWaiting (t: BulkheadTicket): void {
    if (!t.waiting) return
    t.waiting = false
    this.counters.pending--
  }

  /** The request is done with the upstream (answered, failed, upgraded or abandoned). */
  leave (t: BulkheadTicket): void {
    this.doneWaiting(t)
    this.counters.inflight--
    t.bulkhead = undefined
  }
}
