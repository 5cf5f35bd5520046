// The pure parts of traffic-split: the ramp's position as a function of the
// clock, the layout of the weights on the buckets, the split key.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BUCKETS, bucketOf, Layout, RandomBuckets } from '../../../plugins/traffic-split/bucket.js'
import { compileSplitKey, cookieValue } from '../../../plugins/traffic-split/key.js'
import type { RampOptions } from '../../../plugins/traffic-split/options.js'
import { rampPercent, rampPosition } from '../../../plugins/traffic-split/ramp.js'
import type { MatchView } from '../../../plugins/types.js'

const START = '2026-12-01T10:00:00Z'
const T0 = Date.parse(START)
const MIN = 60_000

describe('rampPercent', () => {
  const linear: RampOptions = { to: 'green', start: START, from: 10, duration: 10 * MIN }
  const stepped: RampOptions = { to: 'green', start: START, from: 0, steps: [5, 25, 50, 100], every: 2 * MIN }

  it('linear: `from` before the start, then linear to 100, then 100', () => {
    assert.equal(rampPercent(linear, T0 - 1), 10)
    assert.equal(rampPercent(linear, T0), 10)
    assert.equal(rampPercent(linear, T0 + 5 * MIN), 55)
    assert.equal(rampPercent(linear, T0 + 10 * MIN - 1), 99.99)
    assert.equal(rampPercent(linear, T0 + 10 * MIN), 100)
    assert.equal(rampPercent(linear, T0 + 1000 * MIN), 100)
  })

  it('linear: in whole hundredths, never going back, and nextAt is the first ms of the next value', () => {
    let last = -1
    for (let t = T0 - 1000; t <= T0 + 10 * MIN + 1000; t += 997) {
      const pos = rampPosition(linear, t)
      assert.equal(pos.percent, Math.round(pos.percent * 100) / 100, `hundredths at ${t}`)
      assert.ok(pos.percent >= last, `monotonic at ${t}`)
      last = pos.percent
      if (pos.nextAt !== undefined) {
        assert.ok(pos.nextAt > t)
        assert.equal(rampPercent(linear, pos.nextAt - 1), pos.percent, `unchanged until nextAt (${t})`)
        assert.ok(rampPercent(linear, pos.nextAt) > pos.percent, `changed at nextAt (${t})`)
      }
    }
  })

  it('steps: `from` before the start, then one step every `every`, the last one held', () => {
    const at = (ms: number): [number, number | undefined, number | undefined] => {
      const p = rampPosition(stepped, ms)
      return [p.percent, p.step, p.nextAt]
    }
    assert.deepEqual(at(T0 - 1), [0, undefined, T0])
    assert.deepEqual(at(T0), [5, 0, T0 + 2 * MIN])
    assert.deepEqual(at(T0 + 2 * MIN - 1), [5, 0, T0 + 2 * MIN])
    assert.deepEqual(at(T0 + 2 * MIN), [25, 1, T0 + 4 * MIN])
    assert.deepEqual(at(T0 + 5 * MIN), [50, 2, T0 + 6 * MIN])
    assert.deepEqual(at(T0 + 6 * MIN), [100, 3, undefined])
    assert.equal(rampPosition(stepped, T0 + 6 * MIN).done, true)
    assert.equal(rampPosition(stepped, T0 + 60 * MIN).percent, 100)
  })

  it('a pure function of the ramp and the clock: a restart mid-ramp, or another instance, computes the same value', () => {
    // Another process reads the same YAML: an equal but distinct options object, at the same clock.
    const copy = JSON.parse(JSON.stringify(linear)) as RampOptions
    for (const t of [T0 + 1, T0 + 3 * MIN + 17, T0 + 7 * MIN + 999]) {
      assert.equal(rampPercent(copy, t), rampPercent(linear, t))
      assert.deepEqual(rampPosition(copy, t), rampPosition(linear, t))
    }
    // A start with an offset is the same instant.
    assert.equal(rampPercent({ ...linear, start: '2026-12-01T11:00:00+01:00' }, T0 + 5 * MIN), 55)
  })
})

describe('buckets and the layout', () => {
  // Sides by name: 0 blue (active), 1 canary, 2 green.
  const layout = (w: Record<number, number>): Layout => new Layout([1, 2], 0, 3, (i) => w[i] ?? 0)

  it('non-active sides first, in a fixed order, each weight x 100 buckets; the active side the rest', () => {
    const l = layout({ 1: 5, 2: 10 })
    assert.deepEqual([l.pick(0), l.pick(499), l.pick(500), l.pick(1499), l.pick(1500), l.pick(9999)], [1, 1, 2, 2, 0, 0])
    assert.deepEqual([l.percent(0), l.percent(1), l.percent(2)], [85, 5, 10])
    assert.deepEqual([l.range(1), l.range(2), l.range(0)], [[0, 500], [500, 1500], [1500, BUCKETS]])
  })

  it('hundredths of a percent are single buckets; weights past 100 are cut in order', () => {
    assert.deepEqual([...layout({ 2: 0.01 }).buckets], [9999, 0, 1])
    assert.deepEqual([...layout({ 1: 30, 2: 100 }).buckets], [0, 3000, 7000])
  })

  it('raising a weight only moves buckets from the active side to that side', () => {
    const before = new Layout([1], 0, 2, (i) => i === 1 ? 10 : 0)
    const after = new Layout([1], 0, 2, (i) => i === 1 ? 30 : 0)
    for (let b = 0; b < BUCKETS; b++) if (before.pick(b) === 1) assert.equal(after.pick(b), 1, `bucket ${b}`)
  })

  it('a key hashes to the same bucket every time (murmur3), spread evenly', () => {
    assert.equal(bucketOf('user-42'), bucketOf('user-42'))
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 100_000; i++) counts[Math.floor(bucketOf(`user-${i}`) / 1000)]!++
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `decile count ${c}`)
  })

  it('random buckets are uniform on [0, 10000)', () => {
    const r = new RandomBuckets(12345)
    let low = 0
    for (let i = 0; i < 100_000; i++) {
      const b = r.next()
      assert.ok(b >= 0 && b < BUCKETS && Number.isInteger(b))
      if (b < 1000) low++
    }
    assert.ok(Math.abs(low - 10_000) < 500, `10% expected, got ${low}`)
  })
})

describe('the split key', () => {
  const view = (headers: MatchView['headers'], clientIp = ''): MatchView => ({ method: 'GET', host: '', path: '/', headers, rawQuery: '', clientIp })

  it('header: the first value; absent or empty: undefined', () => {
    const k = compileSplitKey('header:X-User-Id')
    assert.equal(k(view({ 'x-user-id': 'u1' })), 'u1')
    assert.equal(k(view({ 'x-user-id': ['u1', 'u2'] as unknown as string })), 'u1')
    assert.equal(k(view({ 'x-user-id': '' })), undefined)
    assert.equal(k(view({})), undefined)
  })

  it('cookie: the named cookie only, quotes removed', () => {
    const k = compileSplitKey('cookie:uid')
    assert.equal(k(view({ cookie: 'a=1; uid=u7; b=2' })), 'u7')
    assert.equal(k(view({ cookie: 'xuid=nope; uid="u8"' })), 'u8')
    assert.equal(k(view({ cookie: 'uidx=1' })), undefined)
    assert.equal(cookieValue('a=1;uid=u9', 'uid'), 'u9')
    assert.equal(cookieValue(undefined, 'uid'), undefined)
  })

  it('ip: the client IP', () => {
    const k = compileSplitKey('ip')
    assert.equal(k(view({}, '10.1.2.3')), '10.1.2.3')
    assert.equal(k(view({})), undefined)
  })
})
