// Priority levels by zone (gateway/upstream/zones.ts): the order, each node's
// level, and the last level taking traffic for a given set of healthy nodes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ZoneLevels } from '../../../gateway/upstream/zones.js'

/** healthy(i) from a list of the unhealthy node indexes. */
const allBut = (...down: number[]) => (i: number): boolean => !down.includes(i)

describe('ZoneLevels: priority order and each node\'s level', () => {
  it('own zone first, then failover.zones in order, then the other zones of the nodes by name', () => {
    const z = new ZoneLevels(['c', 'b', 'own', 'z', 'a', 'b', 'own'], { zones: ['z', 'b'], minHealthy: 0.7 }, 'own')
    assert.deepEqual(z.order, ['own', 'z', 'b', 'a', 'c'])
    assert.deepEqual([...z.levelOf], [4, 2, 0, 1, 3, 2, 0])
  })

  it('a node without a zone is in the gateway\'s own zone', () => {
    const z = new ZoneLevels([undefined, 'dc2', 'dc1', undefined], { zones: ['dc2'], minHealthy: 0.7 }, 'dc1')
    assert.deepEqual(z.order, ['dc1', 'dc2'])
    assert.deepEqual([...z.levelOf], [0, 1, 0, 0])
  })

  it('without node.zone the first of failover.zones is the own zone (and holds the nodes without a zone)', () => {
    const z = new ZoneLevels(['dc1', 'dc2', undefined, 'dc3'], { zones: ['dc2', 'dc1'], minHealthy: 0.7 }, undefined)
    assert.deepEqual(z.order, ['dc2', 'dc1', 'dc3'])
    assert.deepEqual([...z.levelOf], [1, 0, 0, 2])
  })

  it('the own zone listed in failover.zones keeps its first place (one list for every data centre)', () => {
    const z = new ZoneLevels(['dc1', 'dc2', 'dc3'], { zones: ['dc1', 'dc2', 'dc3'], minHealthy: 0.7 }, 'dc2')
    assert.deepEqual(z.order, ['dc2', 'dc1', 'dc3'])
  })

  it('a zone without nodes (the gateway\'s own, here) is no level: the first level always has nodes', () => {
    const z = new ZoneLevels(['dc1', 'dc2'], { zones: ['dc2'], minHealthy: 0.7 }, 'dc9')
    assert.deepEqual(z.order, ['dc2', 'dc1'])
    assert.deepEqual([...z.levelOf], [1, 0])
  })
})

describe('ZoneLevels.active: the last level taking traffic', () => {
  // dc1: nodes 0, 1, 2; dc2: nodes 3, 4; dc3: node 5.
  const z = new ZoneLevels(['dc1', 'dc1', 'dc1', 'dc2', 'dc2', 'dc3'], { zones: ['dc2'], minHealthy: 0.7 }, 'dc1')

  it('all healthy: only level 0', () => {
    assert.equal(z.active(allBut()), 0)
  })

  it('the local share falls below minHealthy (2/3 < 0.7): level 1 joins', () => {
    assert.equal(z.active(allBut(1)), 1)
  })

  it('level 1 short too (1/2 < 0.7): level 2 joins as well', () => {
    assert.equal(z.active(allBut(0, 3)), 2)
  })

  it('no level meets minHealthy: every level (all healthy nodes take traffic)', () => {
    assert.equal(z.active(allBut(0, 1, 3, 5)), 2)
  })

  it('the local zone recovers: back to level 0', () => {
    assert.equal(z.active(allBut(3, 4, 5)), 0)
  })

  it('a share exactly at minHealthy meets it', () => {
    const half = new ZoneLevels(['a', 'a', 'b'], { zones: ['a'], minHealthy: 0.5 }, undefined)
    assert.equal(half.active(allBut(0)), 0)
    assert.equal(half.active(allBut(0, 1)), 1)
  })

  it('minHealthy 0: spills only when the level has no healthy node at all', () => {
    const zero = new ZoneLevels(['a', 'a', 'b'], { zones: ['a'], minHealthy: 0 }, undefined)
    assert.equal(zero.active(allBut(0)), 0)
    assert.equal(zero.active(allBut(0, 1)), 1)
  })

  it('minHealthy 1: spills as soon as one node of the level is unhealthy', () => {
    const one = new ZoneLevels(['a', 'a', 'b', 'c'], { zones: ['a'], minHealthy: 1 }, undefined)
    assert.equal(one.active(allBut(2)), 0)
    assert.equal(one.active(allBut(1)), 1)
  })
})
