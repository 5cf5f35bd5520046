import { isTried, type BalancedNode } from '../types.js'
import { WeightedBalancer } from './weighted-balancer.js'

/**
 * Smooth weighted round robin, as nginx's ngx_http_upstream_get_peer does it:
 * on every pick each eligible node's current weight grows by its weight, the
 * node with the highest current weight wins (first one on ties) and loses the
 * sum of the eligible weights. Weights 5,1,1 give a a b a c a a.
 *
 * Nodes with `available === false` and the nodes already tried take no part in a
 * pick (their current weight is left untouched), as nginx skips down and
 * already-tried peers. State lives in typed arrays indexed by node position.
 */
export class RoundRobinBalancer<N extends BalancedNode> extends WeightedBalancer<N> {
  /** nginx's current_weight per node. */
  private readonly current = new Float64Array(this.nodes.length)

  pick(_hashKey: string | undefined, tried?: readonly N[]): N | undefined {
    const nodes = this.nodes
    const weights = this.weights
    const current = this.current
    const n = nodes.length
    let best = -1
    let bestWeight = 0
    let total = 0
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!
      if (node.available === false) continue
      if (isTried(node, tried)) continue
      const w = weights[i]!
      const cw = current[i]! + w
      current[i] = cw
      total += w
      if (best === -1 || cw > bestWeight) {
        best = i
        bestWeight = cw
      }
    }
    if (best === -1) return undefined
    current[best] = bestWeight - total
    return nodes[best]
  }
}
