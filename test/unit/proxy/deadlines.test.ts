// The deadline queues of gateway/proxy/deadlines.ts, on real timers: each
// deadline ends exactly once, by settling or by expiring, whichever is first;
// deadlines of one budget expire in the order they started, not early; and
// budgets are independent of each other.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Deadline, Deadlines } from '../../../gateway/proxy/deadlines.js'
import { until } from '../../helpers/until.js'

class Tagged extends Deadline {
  started = performance.now()
  constructor (readonly tag: string) { super() }
}

function recorder (): { deadlines: Deadlines; expired: Array<{ tag: string; after: number }> } {
  const expired: Array<{ tag: string; after: number }> = []
  const deadlines = new Deadlines((d) => {
    const t = d as Tagged
    expired.push({ tag: t.tag, after: performance.now() - t.started })
  })
  return { deadlines, expired }
}

describe('Deadlines', () => {
  it('a deadline settled in time never expires; settling twice is refused', async () => {
    const { deadlines, expired } = recorder()
    const d = new Tagged('a')
    deadlines.start(d, 30)
    assert.equal(deadlines.settle(d), true)
    assert.equal(deadlines.settle(d), false)
    assert.equal(deadlines.pending, 0, 'dropped at once: it was at the front')
    const later = new Tagged('later')
    deadlines.start(later, 60)
    await until('the later one expired', () => expired.length > 0)
    assert.deepEqual(expired.map((e) => e.tag), ['later'])
  })

  it('an expired deadline cannot be settled; expiry is not early and comes in start order', async () => {
    const { deadlines, expired } = recorder()
    const ds = ['a', 'b', 'c'].map((tag) => new Tagged(tag))
    for (const d of ds) deadlines.start(d, 40)
    await until('all expired', () => expired.length === 3)
    assert.deepEqual(expired.map((e) => e.tag), ['a', 'b', 'c'])
    for (const e of expired) assert.ok(e.after >= 39, `${e.tag} expired after ${e.after.toFixed(1)} ms (budget 40)`)
    for (const d of ds) assert.equal(deadlines.settle(d), false, 'too late')
    assert.equal(deadlines.pending, 0)
  })

  it('settled deadlines behind a pending one are skipped when their turn comes; the rest expire', async () => {
    const { deadlines, expired } = recorder()
    const ds = Array.from({ length: 40 }, (_, i) => new Tagged(`d${i}`))
    for (const d of ds) deadlines.start(d, 30)
    // Settle all but every tenth, out of order, the front one last.
    for (let i = ds.length - 1; i >= 0; i--) if (i % 10 !== 0) assert.equal(deadlines.settle(ds[i]!), true)
    assert.equal(deadlines.pending, 40, 'kept until the pending front expires')
    await until('the pending ones expired', () => expired.length === 4)
    assert.deepEqual(expired.map((e) => e.tag), ['d0', 'd10', 'd20', 'd30'])
    assert.equal(deadlines.pending, 0)
  })

  it('budgets are independent: a short one started later expires first', async () => {
    const { deadlines, expired } = recorder()
    deadlines.start(new Tagged('long'), 120)
    deadlines.start(new Tagged('short'), 20)
    await until('both expired', () => expired.length === 2)
    assert.deepEqual(expired.map((e) => e.tag), ['short', 'long'])
  })

  it('a queue that emptied is re-armed by the next deadline, and keeps working across many', async () => {
    const { deadlines, expired } = recorder()
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 100 }, (_, i) => new Tagged(`r${round}-${i}`))
      for (const d of batch) deadlines.start(d, 15)
      for (let i = 0; i < batch.length; i += 2) deadlines.settle(batch[i]!)
      await until(`round ${round}: the unsettled half expired`, () => expired.length === 50 * (round + 1))
    }
    assert.equal(new Set(expired.map((e) => e.tag)).size, 150, 'each once')
    assert.ok(expired.every((e) => Number(e.tag.split('-')[1]) % 2 === 1))
  })

  it('an expiry that starts deadlines of the same budget (growing its queue) loses none and expires each once, in order', async () => {
    const expired: string[] = []
    const at: number[] = []
    const deadlines: Deadlines = new Deadlines((d) => {
      const tag = (d as Tagged).tag
      expired.push(tag)
      at.push(performance.now())
      // As an access phase that timed out failing open, whose next plugin waits too: 3 new deadlines per expiry of the first 20.
      if (!tag.includes('.')) for (let k = 0; k < 3; k++) deadlines.start(new Tagged(`${tag}.${k}`), 20)
    })
    const first = Array.from({ length: 20 }, (_, i) => `d${i}`)
    for (const tag of first) deadlines.start(new Tagged(tag), 20)
    await until('every deadline expired', () => expired.length === 80 && deadlines.pending === 0, 3000)
    assert.deepEqual(expired.slice(0, 20), first)
    assert.deepEqual(expired.slice(20), first.flatMap((t) => [0, 1, 2].map((k) => `${t}.${k}`)))
    assert.equal(new Set(expired).size, 80, 'each expired once')
    // Due together, so expired in one pass of the queue: none left behind for a later timer 20 ms on.
    assert.ok(at[19]! - at[0]! < 10, `the first 20 expired together (spread ${(at[19]! - at[0]!).toFixed(1)} ms)`)
  })
})
