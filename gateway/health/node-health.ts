// Per-node health, one record per node address (`http://host:port`), shared by
// every upstream that lists the node and carried across snapshots by identity:
// a reload that rebuilds an upstream (a weight edit, a discovery update) finds
// the same record, so an ejected node stays ejected and its breaker keeps its
// counters. A record is retired only when no live snapshot lists its address.
//
// The record holds verdicts; the modules that reach them own their own state
// in the record's slots: the node breaker (passive health, from upstream
// outcomes) sets `ejected` and `trials`, the active prober sets `probeHealthy`.
// Whoever changes a verdict calls changed(): every upstream listing the node
// recomputes which of its nodes its balancer may pick.

/** An upstream that lists a node: told when the node's health changes. */
export interface HealthListener {
  healthChanged(): void
}

/** What a record holds for a module that keeps state per node (breaker, prober); closed when the record retires. */
export interface HealthSlot {
  close?(): void
  /** The active check saw the node fail and pass again (see NodeHealth.recovered). */
  recovered?(): void
}

export class NodeHealth {
  /** Passive verdict: the node's breaker is open. */
  ejected = false
  /** Why it was ejected (`consecutive-failures`, `error-ratio`, `slow-calls`), for the admin API. */
  ejectedReason: string | undefined = undefined
  /**
   * Half-open: trial requests still admitted before the node leaves the
   * balancers again to wait for their outcomes; -1 when not limited.
   */
  trials = -1
  /** Active verdict: false while the prober counts the node unhealthy. */
  probeHealthy = true
  /** Date.now() of the last change of a verdict. */
  since = Date.now()
  readonly listeners = new Set<HealthListener>()
  /** State of the node breaker and of the prober, kept with the record. */
  readonly slots = new Map<string, HealthSlot>()

  constructor (readonly address: string) {}

  /** May a balancer pick this node? */
  get healthy (): boolean {
    return !this.ejected && this.probeHealthy && this.trials !== 0
  }

  /** 'healthy', 'ejected', 'half-open' or 'unhealthy' (active check): what the admin API and metrics show. */
  get state (): 'healthy' | 'ejected' | 'half-open' | 'unhealthy' {
    if (!this.probeHealthy) return 'unhealthy'
    if (this.ejected) return 'ejected'
    if (this.trials >= 0) return 'half-open'
    return 'healthy'
  }

  /** An attempt was dispatched to the node (the core calls this once per attempt). */
  dispatched (): void {
    if (this.trials > 0 && --this.trials === 0) this.changed()
  }

  /**
   * The active check, having counted the node unhealthy, counts it healthy
   * again: the node was down and is back. Other slots hear of it (the node
   * breaker closes, as Envoy un-ejects a host on a passing active check), so a
   * restarted node is not held out for the rest of a long open time.
   */
  recovered (): void {
    for (const slot of this.slots.values()) slot.recovered?.()
  }

  /** A verdict changed: every upstream listing the node recomputes its balancer's view. */
  changed (): void {
    this.since = Date.now()
    for (const l of this.listeners) l.healthChanged()
  }
}

/** Every node record of the running gateway, keyed by address. */
export class NodeHealthRegistry {
  readonly #byAddress = new Map<string, NodeHealth>()

  obtain (address: string): NodeHealth {
    let h = this.#byAddress.get(address)
    if (h === undefined) {
      h = new NodeHealth(address)
      this.#byAddress.set(address, h)
    }
    return h
  }

  get (address: string): NodeHealth | undefined {
    return this.#byAddress.get(address)
  }

  /** Forgets (and closes the slots of) every record not in `keep`: no live snapshot lists its address any more. */
  retireUnused (keep: ReadonlySet<NodeHealth>): void {
    for (const [address, h] of this.#byAddress) {
      if (keep.has(h)) continue
      this.#byAddress.delete(address)
      for (const slot of h.slots.values()) slot.close?.()
      h.slots.clear()
      h.listeners.clear()
    }
  }

  closeAll (): void {
    this.retireUnused(new Set())
  }

  get size (): number { return this.#byAddress.size }

  values (): IterableIterator<NodeHealth> { return this.#byAddress.values() }
}
