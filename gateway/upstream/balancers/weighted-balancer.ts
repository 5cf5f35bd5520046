import type { BalancedNode, Balancer } from '../types.js'

/**
 * What every weighted balancer starts from: its own copy of the node list and
 * the weights in a typed array indexed like it, both fixed at construction
 * (a changed upstream gets a new balancer), so a pick reads no node property
 * but `available` and `inflight`.
 */
export abstract class WeightedBalancer<N extends BalancedNode> implements Balancer<N> {
  protected readonly nodes: readonly N[]
  protected readonly weights: Float64Array

  constructor(nodes: readonly N[]) {
    this.nodes = nodes.slice()
    this.weights = Float64Array.from(this.nodes, (node) => node.weight)
  }

  abstract pick(hashKey: string | undefined, tried?: readonly N[]): N | undefined
}
