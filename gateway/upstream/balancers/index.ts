import type { BalancedNode, Balancer } from '../types.js'
import { ConsistentHashBalancer } from './consistent-hash.js'
import { LeastConnBalancer } from './least-conn.js'
import { RandomBalancer } from './random.js'
import { RoundRobinBalancer } from './round-robin.js'

export type BalancerKind = 'roundrobin' | 'random' | 'least-conn' | 'chash'

export function createBalancer<N extends BalancedNode>(kind: BalancerKind, nodes: readonly N[]): Balancer<N> {
  switch (kind) {
    case 'roundrobin':
      return new RoundRobinBalancer(nodes)
    case 'random':
      return new RandomBalancer(nodes)
    case 'least-conn':
      return new LeastConnBalancer(nodes)
    case 'chash':
      return new ConsistentHashBalancer(nodes)
    default: {
      const unknown: never = kind
      throw new Error(`unknown balancer kind: ${String(unknown)}`)
    }
  }
}

export { RoundRobinBalancer } from './round-robin.js'
export { RandomBalancer } from './random.js'
export { LeastConnBalancer } from './least-conn.js'
export { ConsistentHashBalancer, murmur3, POINTS_PER_WEIGHT, MAX_RING_POINTS } from './consistent-hash.js'
