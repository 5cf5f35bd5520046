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
 * Picks a node for one attempt. `tried` holds the nodes earlier attempts of
 * the same request went to: a retry never goes back to one of them.
 * Returns undefined when no available node is left that was not tried.
 */
export interface Balancer<N extends BalancedNode> {
  pick(hashKey: string | undefined, tried?: readonly N[]): N | undefined
}

/** Was `node` one of the nodes already tried? (A request makes a handful of attempts at most: a list beats a set.) */
export function isTried<N> (node: N, tried: readonly N[] | undefined): boolean {
  return tried !== undefined && tried.includes(node)
}
