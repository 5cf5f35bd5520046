// Sticky bucketing. A request is put in one of 10,000 buckets: murmur3 of its
// key's value (the same user, the same bucket, on every gateway), or a fast
// per-request random one. The sides are laid out on [0, 10000): the non-active
// sides first, in a fixed order (by name), each taking weight x 100 buckets,
// and the active side the rest. Raising a side's weight only extends its range
// (and shifts those after it), so with two sides a user only ever moves from
// the active side to the other one.
import { randomFillSync } from 'node:crypto'
import { murmur3 } from '../../gateway/upstream/balancers/consistent-hash.js'
import { mulberry32 } from '../../gateway/upstream/balancers/random.js'

export const BUCKETS = 10_000

/** The bucket of a key's value. */
export function bucketOf (value: string): number {
  return murmur3(value) % BUCKETS
}

/** Uniform random buckets, without allocation (mulberry32 on a 32-bit state seeded from node:crypto, or `seed`). */
export class RandomBuckets {
  readonly #state = new Uint32Array(1)

  constructor (seed?: number) {
    if (seed === undefined) randomFillSync(this.#state)
    else this.#state[0] = seed
  }

  next (): number {
    return Math.floor(mulberry32(this.#state) * BUCKETS)
  }
}

/** The sides' ranges on [0, BUCKETS) for one set of weights. Sides are indices into the split's side list. */
export class Layout {
  /** ends[i]: where the range of side order[i] ends (exclusive); it starts where the one before ends. */
  readonly ends: Int32Array
  /** Buckets per side index (the active side's included). */
  readonly buckets: Int32Array

  /**
   * `order`: the non-active side indices, sorted by name; `percent(i)`: the
   * weight of side i (percent, hundredths). Weights past 100 in total are cut
   * in that order (the last sides get what is left).
   */
  constructor (readonly order: readonly number[], readonly active: number, sides: number, percent: (side: number) => number) {
    this.ends = new Int32Array(order.length)
    this.buckets = new Int32Array(sides)
    let end = 0
    for (let i = 0; i < order.length; i++) {
      const n = Math.min(Math.round(percent(order[i]!) * 100), BUCKETS - end)
      this.buckets[order[i]!] = n
      end += n
      this.ends[i] = end
    }
    this.buckets[active] = BUCKETS - end
  }

  /** The side index whose range holds `bucket`. */
  pick (bucket: number): number {
    const ends = this.ends
    for (let i = 0; i < ends.length; i++) if (bucket < ends[i]!) return this.order[i]!
    return this.active
  }

  /** Where the range of `side` starts and ends (exclusive). */
  range (side: number): [number, number] {
    if (side === this.active) return [this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!, BUCKETS]
    const i = this.order.indexOf(side)
    return [i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!]
  }

  /** The percent of each side index. */
  percent (side: number): number {
    return this.buckets[side]! / 100
  }
}
