import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { BalancedNode, Balancer } from '../../../gateway/upstream/types.js'
import {
  ConsistentHashBalancer,
  LeastConnBalancer,
  RandomBalancer,
  RoundRobinBalancer,
  createBalancer,
  murmur3,
  type BalancerKind,
} from '../../../gateway/upstream/balancers/index.js'

interface TestNode extends BalancedNode {
  readonly id: string
  readonly weight: number
  inflight: number
  available: boolean
}

function node(id: string, weight = 1): TestNode {
  return { id, weight, inflight: 0, available: true }
}

function nodes(...spec: Array<[string, number]>): TestNode[] {
  return spec.map(([id, w]) => node(id, w))
}

function sequence(b: Balancer<TestNode>, count: number, key?: string, exclude?: TestNode): string[] {
  const out: string[] = []
  const tried = exclude === undefined ? undefined : [exclude]
  for (let i = 0; i < count; i++) out.push(b.pick(key, tried)?.id ?? '-')
  return out
}

function counts(b: Balancer<TestNode>, count: number, key?: string): Map<string, number> {
  const m = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const id = b.pick(key)?.id ?? '-'
    m.set(id, (m.get(id) ?? 0) + 1)
  }
  return m
}

const KINDS: BalancerKind[] = ['roundrobin', 'random', 'least-conn', 'chash']

describe('round robin (smooth weighted)', () => {
  it('gives the nginx sequence for weights 5,1,1', () => {
    const b = new RoundRobinBalancer(nodes(['a', 5], ['b', 1], ['c', 1]))
    assert.deepEqual(sequence(b, 14), 'aabacaaaabacaa'.split(''))
  })

  it('alternates for weights 1,1', () => {
    const b = new RoundRobinBalancer(nodes(['a', 1], ['b', 1]))
    assert.deepEqual(sequence(b, 6), ['a', 'b', 'a', 'b', 'a', 'b'])
  })

  it('distributes 7000 picks exactly by weight 4,2,1', () => {
    const b = new RoundRobinBalancer(nodes(['a', 4], ['b', 2], ['c', 1]))
    const m = counts(b, 7000)
    assert.equal(m.get('a'), 4000)
    assert.equal(m.get('b'), 2000)
    assert.equal(m.get('c'), 1000)
  })

  it('skips unavailable nodes and resumes them', () => {
    const list = nodes(['a', 5], ['b', 1], ['c', 1])
    const b = new RoundRobinBalancer(list)
    list[0]!.available = false
    assert.deepEqual(sequence(b, 4), ['b', 'c', 'b', 'c'])
    list[1]!.available = false
    assert.deepEqual(sequence(b, 3), ['c', 'c', 'c'])
    list[2]!.available = false
    assert.equal(b.pick(undefined), undefined)
    list[0]!.available = true
    list[1]!.available = true
    list[2]!.available = true
    const m = counts(b, 700)
    assert.equal(m.get('a'), 500)
  })

  it('keeps no state on the node objects', () => {
    const list = nodes(['a', 2], ['b', 1])
    const before = list.map((n) => Object.keys(n).sort().join())
    sequence(new RoundRobinBalancer(list), 10)
    assert.deepEqual(list.map((n) => Object.keys(n).sort().join()), before)
  })

  it('returns undefined with no nodes', () => {
    assert.equal(new RoundRobinBalancer<TestNode>([]).pick(undefined), undefined)
  })
})

describe('exclude (every kind)', () => {
  for (const kind of KINDS) {
    for (const key of kind === 'chash' ? ['user-42', undefined] : [undefined]) {
      const label = `${kind}${kind === 'chash' ? ` key=${String(key)}` : ''}`

      it(`${label}: avoids exclude while another node is available`, () => {
        const list = nodes(['a', 3], ['b', 1], ['c', 1])
        const b = createBalancer(kind, list)
        for (const ex of list) {
          const seen = new Set(sequence(b, 200, key, ex))
          assert.ok(!seen.has(ex.id), `${ex.id} excluded`)
          assert.ok(!seen.has('-'))
        }
      })

      it(`${label}: never returns a tried node, even when it is the only available one`, () => {
        const list = nodes(['a', 1], ['b', 2], ['c', 1])
        const b = createBalancer(kind, list)
        list[0]!.available = false
        list[2]!.available = false
        assert.equal(b.pick(key, [list[1]!]), undefined)
        assert.equal(b.pick(key), list[1])
        list[1]!.available = false
        assert.equal(b.pick(key, [list[1]!]), undefined)
        assert.equal(b.pick(key), undefined)
      })

      it(`${label}: excludes every tried node, not only the last`, () => {
        const list = nodes(['a', 1], ['b', 2], ['c', 1], ['d', 3])
        const b = createBalancer(kind, list)
        for (let i = 0; i < 200; i++) assert.equal(b.pick(key, [list[0]!, list[1]!, list[3]!]), list[2])
        assert.equal(b.pick(key, list), undefined)
      })

      it(`${label}: skips unavailable nodes and exclude together`, () => {
        const list = nodes(['a', 1], ['b', 1], ['c', 1], ['d', 1])
        const b = createBalancer(kind, list)
        list[0]!.available = false
        const seen = new Set(sequence(b, 200, key, list[1]))
        assert.ok(!seen.has('a') && !seen.has('b') && !seen.has('-'))
      })

      it(`${label}: single node, empty list`, () => {
        const only = node('x')
        assert.equal(createBalancer(kind, [only]).pick(key, [only]), undefined)
        assert.equal(createBalancer(kind, [only]).pick(key), only)
        assert.equal(createBalancer<TestNode>(kind, []).pick(key), undefined)
      })
    }
  }
})

describe('random (weighted)', () => {
  const share = (m: Map<string, number>, id: string, total: number) => ((m.get(id) ?? 0) * 100) / total

  it('follows weights within ±2 points over 100k picks', () => {
    const b = new RandomBalancer(nodes(['a', 5], ['b', 3], ['c', 2]))
    const m = counts(b, 100_000)
    assert.ok(Math.abs(share(m, 'a', 100_000) - 50) <= 2)
    assert.ok(Math.abs(share(m, 'b', 100_000) - 30) <= 2)
    assert.ok(Math.abs(share(m, 'c', 100_000) - 20) <= 2)
  })

  it('renormalises over available nodes', () => {
    const list = nodes(['a', 5], ['b', 3], ['c', 2])
    const b = new RandomBalancer(list)
    list[0]!.available = false
    const m = counts(b, 100_000)
    assert.equal(m.get('a'), undefined)
    assert.ok(Math.abs(share(m, 'b', 100_000) - 60) <= 2)
    assert.ok(Math.abs(share(m, 'c', 100_000) - 40) <= 2)
  })

  it('is reproducible with a seed', () => {
    const list = nodes(['a', 1], ['b', 1], ['c', 1])
    assert.deepEqual(sequence(new RandomBalancer(list, 7), 50), sequence(new RandomBalancer(list, 7), 50))
  })

  it('renormalises around exclude', () => {
    const list = nodes(['a', 5], ['b', 3], ['c', 2])
    const b = new RandomBalancer(list)
    const m = new Map<string, number>()
    for (let i = 0; i < 100_000; i++) {
      const id = b.pick(undefined, [list[1]!])!.id
      m.set(id, (m.get(id) ?? 0) + 1)
    }
    assert.equal(m.get('b'), undefined)
    assert.ok(Math.abs(share(m, 'a', 100_000) - (500 / 7)) <= 2)
  })
})

describe('least connections', () => {
  it('picks the least loaded node', () => {
    const list = nodes(['a', 1], ['b', 1], ['c', 1])
    list[0]!.inflight = 3
    list[1]!.inflight = 1
    list[2]!.inflight = 2
    const b = new LeastConnBalancer(list)
    assert.equal(b.pick(undefined)?.id, 'b')
    list[1]!.inflight = 5
    assert.equal(b.pick(undefined)?.id, 'c')
  })

  it('scores (inflight + 1) / weight', () => {
    const list = nodes(['a', 4], ['b', 1])
    list[0]!.inflight = 2 // 3/4
    const b = new LeastConnBalancer(list)
    assert.equal(b.pick(undefined)?.id, 'a')
    list[0]!.inflight = 4 // 5/4 > 1/1
    assert.equal(b.pick(undefined)?.id, 'b')
  })

  it('keeps inflight proportional to weight under accumulating load', () => {
    const list = nodes(['a', 3], ['b', 1], ['c', 2])
    const b = new LeastConnBalancer(list)
    for (let i = 0; i < 600; i++) b.pick(undefined)!.inflight++
    assert.deepEqual(
      list.map((n) => n.inflight),
      [300, 100, 200],
    )
  })

  it('shares ties round robin', () => {
    const list = nodes(['a', 1], ['b', 1], ['c', 1])
    const b = new LeastConnBalancer(list)
    assert.deepEqual(sequence(b, 6), ['a', 'b', 'c', 'a', 'b', 'c'])
    list[0]!.inflight = 1
    assert.deepEqual(sequence(b, 4), ['b', 'c', 'b', 'c'])
  })

  it('shares weighted ties by weight', () => {
    const list = nodes(['a', 2], ['b', 2], ['c', 1])
    list[2]!.inflight = 5
    const m = counts(new LeastConnBalancer(list), 1000)
    assert.equal(m.get('a'), 500)
    assert.equal(m.get('b'), 500)
  })

  it('skips unavailable nodes', () => {
    const list = nodes(['a', 1], ['b', 1])
    list[1]!.inflight = 10
    list[0]!.available = false
    assert.equal(new LeastConnBalancer(list).pick(undefined)?.id, 'b')
  })
})

describe('consistent hash', () => {
  const KEYS = Array.from({ length: 10_000 }, (_, i) => `client-${i}.example/${i * 7919}`)
  const ring = (list: TestNode[]) => new ConsistentHashBalancer(list)
  const owners = (b: Balancer<TestNode>) => KEYS.map((k) => b.pick(k)!.id)
  const tenNodes = () => Array.from({ length: 10 }, (_, i) => node(`http://10.0.0.${i + 1}:8080`))

  it('murmur3 matches the reference on UTF-16LE bytes', () => {
    // reference murmur3_x86_32 over a byte buffer
    const ref = (bytes: Uint8Array, seed = 0): number => {
      let h = seed | 0
      const nblocks = bytes.length >> 2
      for (let i = 0; i < nblocks; i++) {
        let k = bytes[i * 4]! | (bytes[i * 4 + 1]! << 8) | (bytes[i * 4 + 2]! << 16) | (bytes[i * 4 + 3]! << 24)
        k = Math.imul(k, 0xcc9e2d51)
        k = (k << 15) | (k >>> 17)
        k = Math.imul(k, 0x1b873593)
        h ^= k
        h = (h << 13) | (h >>> 19)
        h = (Math.imul(h, 5) + 0xe6546b64) | 0
      }
      let k = 0
      const tail = nblocks * 4
      const rem = bytes.length & 3
      if (rem >= 3) k ^= bytes[tail + 2]! << 16
      if (rem >= 2) k ^= bytes[tail + 1]! << 8
      if (rem >= 1) {
        k ^= bytes[tail]!
        k = Math.imul(k, 0xcc9e2d51)
        k = (k << 15) | (k >>> 17)
        k = Math.imul(k, 0x1b873593)
        h ^= k
      }
      h ^= bytes.length
      h ^= h >>> 16
      h = Math.imul(h, 0x85ebca6b)
      h ^= h >>> 13
      h = Math.imul(h, 0xc2b2ae35)
      h ^= h >>> 16
      return h >>> 0
    }
    // published vectors validate the reference itself
    assert.equal(ref(new Uint8Array(0)), 0)
    assert.equal(ref(Buffer.from('hello')), 0x248bfa47)
    assert.equal(ref(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x2e4ff723)
    for (const s of ['', 'a', 'ab', 'abc', 'user-42', 'héllo wörld ✓', '🙂x', KEYS[1234]!]) {
      assert.equal(murmur3(s), ref(Buffer.from(s, 'utf16le')), s)
    }
  })

  it('maps the same key to the same node, regardless of node order', () => {
    const list = tenNodes()
    const a = owners(ring(list))
    assert.deepEqual(owners(ring(list)), a)
    assert.deepEqual(owners(ring([...list].reverse())), a)
    const b = ring(list)
    for (let i = 0; i < 5; i++) assert.equal(b.pick('sticky')!.id, b.pick('sticky')!.id)
  })

  it('spreads 10k keys over 5 nodes at 20% ± 5%', () => {
    const list = Array.from({ length: 5 }, (_, i) => node(`node-${i}`))
    const m = new Map<string, number>()
    for (const id of owners(ring(list))) m.set(id, (m.get(id) ?? 0) + 1)
    assert.equal(m.size, 5)
    for (const [id, c] of m) assert.ok(Math.abs(c / 100 - 20) <= 5, `${id}: ${c / 100}%`)
  })

  it('follows weights', () => {
    const list = [node('heavy', 3), node('light', 1)]
    const heavy = owners(ring(list)).filter((id) => id === 'heavy').length
    assert.ok(Math.abs(heavy / 100 - 75) <= 5, `${heavy / 100}%`)
  })

  it('moves only the removed node’s keys on removal', () => {
    const list = tenNodes()
    const before = owners(ring(list))
    const removed = list[3]!.id
    const after = owners(ring(list.filter((n) => n.id !== removed)))
    let moved = 0
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) {
        moved++
        assert.equal(before[i], removed, `key ${KEYS[i]} moved off a surviving node`)
      }
    }
    assert.equal(moved, before.filter((id) => id === removed).length)
    assert.ok(moved <= 1500, `moved ${moved}`)
    assert.ok(moved > 0)
  })

  it('moves only keys to the added node on addition', () => {
    const list = tenNodes()
    const before = owners(ring(list))
    const added = node('http://10.0.0.99:8080')
    const after = owners(ring([...list, added]))
    let moved = 0
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) {
        moved++
        assert.equal(after[i], added.id)
      }
    }
    assert.ok(moved > 0 && moved <= 1500, `moved ${moved}`)
  })

  it('moves only an unavailable owner’s keys, and back when it returns', () => {
    const list = tenNodes()
    const b = ring(list)
    const before = owners(b)
    const down = list[6]!
    down.available = false
    const during = owners(b)
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === down.id) assert.notEqual(during[i], down.id)
      else assert.equal(during[i], before[i])
    }
    down.available = true
    assert.deepEqual(owners(b), before)
  })

  it('retries on the same node an unavailable owner would fail over to', () => {
    const list = tenNodes()
    const b = ring(list)
    for (const key of KEYS.slice(0, 500)) {
      const owner = b.pick(key)!
      const retry = b.pick(key, [owner])!
      assert.notEqual(retry, owner)
      owner.available = false
      assert.equal(b.pick(key), retry)
      owner.available = true
    }
  })

  it('walks past several unavailable nodes', () => {
    const list = tenNodes()
    const b = ring(list)
    for (let i = 0; i < 9; i++) list[i]!.available = false
    for (const key of KEYS.slice(0, 200)) assert.equal(b.pick(key), list[9])
    assert.equal(b.pick('k', [list[9]!]), undefined)
  })

  it('falls back to smooth weighted round robin without a key', () => {
    const list = nodes(['a', 5], ['b', 1], ['c', 1])
    const b = ring(list)
    assert.deepEqual(sequence(b, 7), 'aabacaa'.split(''))
    list[0]!.available = false
    assert.deepEqual(sequence(b, 4), ['b', 'c', 'b', 'c'])
  })

  it('bucketed lookup equals a brute-force clockwise search, including wrap-around', () => {
    for (const list of [tenNodes(), [node('solo')], [node('x', 1), node('y', 7)], [node('p'), node('q'), node('r')]]) {
      const b = ring(list)
      const { points, owners: own } = b as unknown as { points: Uint32Array; owners: Uint32Array }
      for (let i = 1; i < points.length; i++) assert.ok(points[i - 1]! <= points[i]!)
      // KEYS plus a few keys found to hash past the last point (wrap to the first)
      const last = points[points.length - 1]!
      const wrapKeys: string[] = []
      for (let i = 0; wrapKeys.length < 3 && i < 1_000_000; i++) if (murmur3(`wrap-${i}`) > last) wrapKeys.push(`wrap-${i}`)
      assert.equal(wrapKeys.length, 3)
      for (const key of [...KEYS, ...wrapKeys]) {
        const h = murmur3(key)
        let idx = points.findIndex((p) => p >= h)
        if (idx === -1) idx = 0
        assert.equal(b.pick(key), list[own[idx]!], key)
      }
      for (const key of wrapKeys) assert.equal(b.pick(key), list[own[0]!])
    }
  })

  it('bounds the ring size', () => {
    assert.equal(ring(tenNodes()).ringSize, 1600)
    const heavy = Array.from({ length: 10 }, (_, i) => node(`n${i}`, 1000))
    const size = ring(heavy).ringSize
    assert.ok(size <= 100_000 && size >= 99_000, String(size))
  })
})

describe('createBalancer', () => {
  it('builds each kind', () => {
    const list = nodes(['a', 1])
    assert.ok(createBalancer('roundrobin', list) instanceof RoundRobinBalancer)
    assert.ok(createBalancer('random', list) instanceof RandomBalancer)
    assert.ok(createBalancer('least-conn', list) instanceof LeastConnBalancer)
    assert.ok(createBalancer('chash', list) instanceof ConsistentHashBalancer)
  })

  it('snapshots the node list', () => {
    const list = nodes(['a', 1], ['b', 1])
    const b = createBalancer('roundrobin', list)
    list.push(node('c'))
    assert.deepEqual(new Set(sequence(b, 10)), new Set(['a', 'b']))
  })
})
