// Failover across data centres: an upstream's nodes in priority levels by zone
// (`upstreams.<name>.failover`).
//
// Levels, fixed when the upstream is built: the gateway's own zone
// (`node.zone`; without it, the first of `failover.zones`) is level 0, then
// the zones of `failover.zones` in order, then every other zone of the nodes
// sorted by name. A node without a zone is in the gateway's own zone. A zone
// no node is in is no level (so level 0 is the first zone that has nodes).
//
// Which levels take traffic, recomputed whenever a node's health verdict
// changes (never per request): level k's healthy share is its nodes whose
// NodeHealth.healthy is true over all its nodes. The active levels are 0..k,
// k the first level that has a healthy node and whose share is at least
// `minHealthy`; when no level does, every level (all healthy nodes). Only the
// healthy nodes of the active levels are available to the balancer, which
// spreads traffic among them by weight as usual. When the nodes of a level
// recover, the levels after it stop taking traffic again.
//
// Unlike Envoy's priority levels, the spill is all or nothing per level: Envoy
// sends a level min(100%, healthy share x overprovisioning factor 1.4) of the
// traffic and only the rest to the next level, so a level at 50% healthy keeps
// 70%; here the next level's healthy nodes join the same balancer once the
// share is below minHealthy, and get traffic in proportion to their weight.
// `minHealthy: 0.7` spills at about the point Envoy starts to (1 / 1.4 ≈ 0.71).
// There is no panic threshold either: an unhealthy node never takes traffic
// because too few are healthy (the breaker's max ejection share bounds how
// many nodes can be ejected).
import type { FailoverConfig } from '../config/types.js'

export class ZoneLevels {
  /** The zone of each level, in priority order. */
  readonly order: readonly string[]
  /** The level of each node, parallel to the node list it was built from. */
  readonly levelOf: Uint32Array
  readonly minHealthy: number
  /** Nodes per level. */
  readonly #size: Uint32Array
  /** Scratch for active(): healthy nodes per level. */
  readonly #healthy: Uint32Array

  /** `nodeZones`: each node's zone (undefined: none); `ownZone`: `node.zone`. */
  constructor (nodeZones: ReadonlyArray<string | undefined>, failover: FailoverConfig, ownZone: string | undefined) {
    const local = ownZone ?? failover.zones[0]!
    const zones = nodeZones.map((z) => z ?? local)
    const present = new Set(zones)
    const order = [...new Set([local, ...failover.zones, ...[...present].sort()])].filter((z) => present.has(z))
    const index = new Map(order.map((z, i) => [z, i]))
    this.order = order
    this.levelOf = Uint32Array.from(zones, (z) => index.get(z)!)
    this.minHealthy = failover.minHealthy
    this.#size = new Uint32Array(order.length)
    this.#healthy = new Uint32Array(order.length)
    for (const level of this.levelOf) this.#size[level]!++
  }

  /** The last level taking traffic (levels 0..it do), given `healthy(i)` for each node i. */
  active (healthy: (node: number) => boolean): number {
    const h = this.#healthy
    h.fill(0)
    for (let i = 0; i < this.levelOf.length; i++) if (healthy(i)) h[this.levelOf[i]!]!++
    const last = this.order.length - 1
    for (let k = 0; k < last; k++) {
      if (h[k]! > 0 && h[k]! / this.#size[k]! >= this.minHealthy) return k
    }
    return last
  }
}
