/** What a balancer needs from a node. The upstream module owns the real node objects. */
export interface BalancedNode {
  /** Stable identity, e.g. the node URL. */
  readonly id: string
  readonly weight: number
  /** Requests currently in flight on this node (least-conn reads it). */
  inflight: number
  /** False while the node is ejected or unhealthy; balancers skip it. */
  available: boolean
}

/**
 * Picks a node for one attempt. `exclude` is the node a previous attempt of the
 * same request failed on (retry goes elsewhere when another node exists).
 * Returns undefined only when no available node is left.
 */
export interface Balancer<N extends BalancedNode> {
  pick(hashKey: string | undefined, exclude?: N): N | undefined
}
