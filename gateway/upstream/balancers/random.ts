import { randomFillSync } from 'node:crypto'
import { isTried, type BalancedNode } from '../types.js'
import { WeightedBalancer } from './weighted-balancer.js'

const TWO_POW_32 = 4294967296

/**
 * Weighted random. The fast path draws over all nodes with a binary search on
 * prebuilt cumulative weights; if the drawn node is unavailable or excluded it
 * falls back to an exact draw over the eligible nodes only (linear, two
 * passes). Both paths sample the same conditional distribution, so the mix is
 * exact.
 *
 * Randomness comes from a mulberry32 generator whose 32-bit state lives in a
 * Uint32Array: V8 returns every Math.random() result as a fresh heap number,
 * which would make each pick allocate. The state is seeded from node:crypto
 * (or from `seed`, for reproducible tests).
 */
export class RandomBalancer<N extends BalancedNode> extends WeightedBalancer<N> {
  /** cumulative[i] = sum of weights[0..i]. */
  private readonly cumulative: Float64Array
  private readonly total: number
  private readonly rngState = new Uint32Array(1)

  constructor(nodes: readonly N[], seed?: number) {
    super(nodes)
    if (seed === undefined) randomFillSync(this.rngState)
    else this.rngState[0] = seed
    this.cumulative = new Float64Array(this.nodes.length)
    let sum = 0
    for (let i = 0; i < this.nodes.length; i++) {
      sum += this.weights[i]!
      this.cumulative[i] = sum
    }
    this.total = sum
  }

  pick(_hashKey: string | undefined, tried?: readonly N[]): N | undefined {
    const n = this.nodes.length
    if (n === 0) return undefined
    const r = this.random() * this.total
    const cumulative = this.cumulative
    // first index whose cumulative weight exceeds r
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cumulative[mid]! > r) hi = mid
      else lo = mid + 1
    }
    const node = this.nodes[lo]!
    if (node.available !== false && !isTried(node, tried)) return node
    return this.pickEligible(tried)
  }

  private pickEligible(tried: readonly N[] | undefined): N | undefined {
    const nodes = this.nodes
    const weights = this.weights
    const n = nodes.length
    let sum = 0
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!
      if (node.available === false) continue
      if (isTried(node, tried)) continue
      sum += weights[i]!
    }
    if (sum === 0) return undefined
    let r = this.random() * sum
    let last: N | undefined
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!
      if (node.available === false || isTried(node, tried)) continue
      last = node
      r -= weights[i]!
      if (r < 0) return node
    }
    return last // floating point edge: r landed exactly on sum
  }

  private random(): number {
    return mulberry32(this.rngState)
  }
}

/**
 * mulberry32: uniform in [0, 1), no allocation; advances the 32-bit `state`
 * (seed it with randomFillSync, or a fixed value for reproducible tests).
 */
export function mulberry32(state: Uint32Array): number {
  let t = (state[0]! + 0x6d2b79f5) | 0
  state[0] = t
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32
}
