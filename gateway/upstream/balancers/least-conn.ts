import { isTried, type BalancedNode } from '../types.js'
import { WeightedBalancer } from './weighted-balancer.js'

/**
 * Least connections, as nginx/APISIX least_conn: the eligible node with the
 * lowest (inflight + 1) / weight wins. Scores are compared by cross
 * multiplication (exact on integers). Nodes tied on the best score share the
 * load by smooth weighted round robin among themselves, as nginx does.
 */
export class LeastConnBalancer<N extends BalancedNode> extends WeightedBalancer<N> {
  /** Smooth round-robin state for breaking ties among equally loaded nodes. */
  private readonly current = new Float64Array(this.nodes.length)

  pick(_hashKey: string | undefined, tried?: readonly N[]): N | undefined {
    const nodes = this.nodes
    const weights = this.weights
    const n = nodes.length
    let best = -1
    let bestLoad = 0 // inflight + 1 of best
    let bestWeight = 1
    let tied = false
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!
      if (node.available === false) continue
      if (isTried(node, tried)) continue
      const load = node.inflight + 1
      const w = weights[i]!
      if (best === -1) {
        best = i
        bestLoad = load
        bestWeight = w
        tied = false
        continue
      }
      // load / w  vs  bestLoad / bestWeight
      const lhs = load * bestWeight
      const rhs = bestLoad * w
      if (lhs < rhs) {
        best = i
        bestLoad = load
        bestWeight = w
        tied = false
      } else if (lhs === rhs) {
        tied = true
      }
    }
    if (best === -1) return undefined
    if (!tied) return nodes[best]

    // smooth weighted round robin among the nodes tied on the best score
    const current = this.current
    let chosen = -1
    let chosenWeight = 0
    let total = 0
    for (let i = best; i < n; i++) {
      const node = nodes[i]!
      if (node.available === false || isTried(node, tried)) continue
      const w = weights[i]!
      if ((node.inflight + 1) * bestWeight !== bestLoad * w) continue
      const cw = current[i]! + w
      current[i] = cw
      total += w
      if (chosen === -1 || cw > chosenWeight) {
        chosen = i
        chosenWeight = cw
      }
    }
    current[chosen] = chosenWeight - total
    return nodes[chosen]
  }
}
