// The admin API's reading of plugin status(): the snapshot stays pinned for
// the whole listing (a reload cannot retire, and close, its instances while
// the listing yields to the event loop), and the limit contract.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { eachStatus, limitScopeOf } from '../../../gateway/admin/plugin-status.js'
import type { CompiledPlugin, Snapshot } from '../../../gateway/snapshot/types.js'

function snapshot (routes: number): Snapshot {
  const chain = (tag: string): { plugins: CompiledPlugin[] } =>
    ({ plugins: [{ name: 'p', optionsKey: '', uses: {}, instance: { status: () => ({ tag }) } }] })
  const map = new Map<string, unknown>()
  for (let i = 0; i < routes; i++) map.set(`r${i}`, { id: `r${i}`, ...chain(`r${i}`) })
  return { global: chain('g'), routes: map, inflight: 0 } as unknown as Snapshot
}

test('eachStatus() pins the snapshot across its yields to the event loop, and releases it after, also when the callback throws', async () => {
  const snap = snapshot(1500)
  const seen: number[] = []
  let turns = 0
  let ticking = true
  const tick = (): void => { if (ticking) { turns++; setImmediate(tick) } }
  setImmediate(tick)
  await eachStatus(snap, {}, () => { seen.push(snap.inflight) })
  ticking = false
  assert.equal(seen.length, 1501)
  assert.ok(seen.every((n) => n === 1), 'pinned for every instance')
  assert.equal(snap.inflight, 0, 'released')
  assert.ok(turns > 0, 'other work ran during the listing')
  await assert.rejects(eachStatus(snap, {}, () => { throw new Error('boom') }), /boom/)
  assert.equal(snap.inflight, 0, 'released after a throw')
})

test('the limit contract: kind "limit" with scope node or cluster; other kinds are not limits', () => {
  assert.deepEqual(limitScopeOf({ kind: 'limit', scope: 'node' }), { scope: 'node' })
  assert.deepEqual(limitScopeOf({ kind: 'limit', scope: 'cluster', key: [] }), { scope: 'cluster' })
  assert.deepEqual(limitScopeOf({ kind: 'limit', scope: 'local' }), { error: 'a limit\'s status() must say scope "node" or "cluster", got string "local"' })
  assert.equal(limitScopeOf({ limit: true, scope: 'node' }), undefined)
  assert.equal(limitScopeOf({ kind: 'cache' }), undefined)
})
