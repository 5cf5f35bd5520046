import { createHash } from 'node:crypto'
import { isTried, type BalancedNode, type Balancer } from '../types.js'
import { RoundRobinBalancer } from './round-robin.js'

/** Ring points per unit of weight (ketama uses 160 per server). */
export const POINTS_PER_WEIGHT = 160
/** Upper bound on ring size; above it points per weight unit scale down. */
export const MAX_RING_POINTS = 100_000

/**
 * MurmurHash3 x86_32 over the string's UTF-16 code units, two per 32-bit block.
 * Equals murmur3_32 of the string's UTF-16LE bytes. No allocation, no
 * encoding step; used per pick on the hash key.
 */
export function murmur3(key: string, seed?: number): number {
  let h = seed === undefined ? 0 : seed | 0
  const len = key.length
  const end = len & ~1
  let i = 0
  for (; i < end; i += 2) {
    let k = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  if (i < len) {
    let k = key.charCodeAt(i)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
  }
  h ^= len << 1 // length in bytes
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Consistent hashing on a ring of virtual nodes (ketama style). Each node gets
 * POINTS_PER_WEIGHT points per weight unit (scaled down so the ring stays under
 * MAX_RING_POINTS), derived from md5(`${id}-${n}`) at build time only, four
 * points per digest. A node's points depend only on its id and its point
 * count, so adding or removing a node moves only the keys it gains or owned.
 *
 * A key is hashed with murmur3 and owned by the first point clockwise (binary
 * search on a sorted Uint32Array). If the owner is unavailable or was tried,
 * the walk continues clockwise to the next distinct eligible node. Without a
 * hash key, picks fall back to smooth weighted round robin.
 */
export class ConsistentHashBalancer<N extends BalancedNode> implements Balancer<N> {
  private readonly nodes: readonly N[]
  /** Sorted ring points. */
  private readonly points: Uint32Array
  /** owners[i] = index in `nodes` of the node owning points[i]. */
  private readonly owners: Uint32Array
  /**
   * bucketStart[b] = first ring position whose point's top bits are >= b;
   * bucketStart[buckets] = ring size. Narrows the binary search to a bucket.
   */
  private readonly bucketStart: Uint32Array
  private readonly bucketShift: number
  /** nextOwner[i] = first ring position after i whose owner differs from owners[i]. */
  private readonly nextOwner: Uint32Array
  private readonly fallback: RoundRobinBalancer<N>

  constructor(nodes: readonly N[]) {
    this.nodes = nodes.slice()
    this.fallback = new RoundRobinBalancer(this.nodes)
    const n = this.nodes.length

    let totalWeight = 0
    for (const node of this.nodes) totalWeight += node.weight
    const perWeight = Math.min(POINTS_PER_WEIGHT, MAX_RING_POINTS / Math.max(totalWeight, 1))
    const counts = new Array<number>(n)
    let size = 0
    for (let i = 0; i < n; i++) {
      counts[i] = Math.max(1, Math.floor(this.nodes[i]!.weight * perWeight))
      size += counts[i]!
    }

    const rawPoints = new Uint32Array(size)
    const rawOwners = new Uint32Array(size)
    let p = 0
    for (let i = 0; i < n; i++) {
      const id = this.nodes[i]!.id
      const count = counts[i]!
      for (let d = 0, made = 0; made < count; d++) {
        const digest = createHash('md5').update(`${id}-${d}`).digest()
        for (let j = 0; j < 4 && made < count; j++, made++) {
          rawPoints[p] = digest.readUInt32LE(j * 4)
          rawOwners[p] = i
          p++
        }
      }
    }

    // Sort by point; equal points (rare) are ordered by node id so the ring
    // does not depend on the order of `nodes`.
    const order = new Uint32Array(size)
    for (let i = 0; i < size; i++) order[i] = i
    const ids = this.nodes.map((node) => node.id)
    order.sort((a, b) => {
      const d = rawPoints[a]! - rawPoints[b]!
      if (d !== 0) return d
      const ia = ids[rawOwners[a]!]!
      const ib = ids[rawOwners[b]!]!
      return ia < ib ? -1 : ia > ib ? 1 : rawOwners[a]! - rawOwners[b]!
    })
    this.points = new Uint32Array(size)
    this.owners = new Uint32Array(size)
    for (let i = 0; i < size; i++) {
      this.points[i] = rawPoints[order[i]!]!
      this.owners[i] = rawOwners[order[i]!]!
    }

    // power-of-two bucket table, about one bucket per point (max 64k buckets)
    let bits = 1 // shift stays < 32 (JS masks shift counts)
    while (bits < 16 && 1 << bits < size) bits++
    const buckets = 1 << bits
    this.bucketShift = 32 - bits
    this.bucketStart = new Uint32Array(buckets + 1)
    for (let b = 0, i = 0; b <= buckets; b++) {
      // b * 2^shift as an unsigned 32-bit value (2^32 for b === buckets)
      const floor = b * 2 ** this.bucketShift
      while (i < size && this.points[i]! < floor) i++
      this.bucketStart[b] = i
    }

    this.nextOwner = new Uint32Array(size)
    let target = -1
    for (let i = 2 * size - 1; i >= 0; i--) {
      const pos = i % size
      const next = (pos + 1) % size
      if (this.owners[next] !== this.owners[pos]) target = next
      if (i < size) this.nextOwner[pos] = target === -1 ? next : target
    }
  }

  /** Number of points on the ring (for diagnostics and tests). */
  get ringSize(): number {
    return this.points.length
  }

  pick(hashKey: string | undefined, tried?: readonly N[]): N | undefined {
    if (hashKey === undefined) return this.fallback.pick(undefined, tried)
    const points = this.points
    const size = points.length
    if (size === 0) return undefined
    const h = murmur3(hashKey)
    // first point >= h, wrapping to 0; every point of later buckets is > h
    const bucket = h >>> this.bucketShift
    let lo = this.bucketStart[bucket]!
    let hi = this.bucketStart[bucket + 1]!
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < h) lo = mid + 1
      else hi = mid
    }
    if (lo === size) lo = 0
    const node = this.nodes[this.owners[lo]!]!
    if (node.available !== false && !isTried(node, tried)) return node
    return this.walk(lo, tried)
  }

  private walk(start: number, tried: readonly N[] | undefined): N | undefined {
    const nodes = this.nodes
    let anyEligible = false
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!
      if (node.available !== false && !isTried(node, tried)) {
        anyEligible = true
        break
      }
    }
    if (!anyEligible) return undefined
    const owners = this.owners
    const nextOwner = this.nextOwner
    let pos = start
    // terminates: an eligible node owns at least one point
    for (;;) {
      pos = nextOwner[pos]!
      const node = nodes[owners[pos]!]!
      if (node.available !== false && !isTried(node, tried)) return node
    }
  }
}
