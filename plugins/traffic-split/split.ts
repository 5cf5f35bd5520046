// One compiled split: its sides, rules, key, the layout of the weights on the
// buckets and how it follows the ramp and the rollback guard. Everything per
// route is done here, once; per request: the rules, a bucket, a short scan of
// the layout. With a ramp, the layout is recomputed only when the ramp's
// percent changes (at the time rampPosition says it next does).
import type { GroupMetrics } from '../../gateway/observability/metrics.js'
import type { MatchView, PluginEnv, UpstreamOutcome } from '../types.js'
import { BUCKETS, bucketOf, Layout, RandomBuckets } from './bucket.js'
import { compileSplitKey, type SplitKeyFn } from './key.js'
import type { RampOptions, TrafficSplitOptions } from './options.js'
import { rampPosition } from './ramp.js'
import { RollbackGuard } from './rollback.js'
import { Rules } from './rules.js'

export interface Side {
  readonly name: string
  readonly upstream: string
  /** The (route, group) figures the core counts the request in. */
  readonly metrics: GroupMetrics | undefined
}

export class Split {
  /** Sorted by name. */
  readonly sides: readonly Side[]
  readonly active: number
  readonly rules: Rules
  readonly keyOf: SplitKeyFn | undefined
  readonly random = new RandomBuckets()
  readonly ramp: RampOptions | undefined
  /** The ramp's side index (-1: no ramp). */
  readonly rampSide: number
  readonly guard: RollbackGuard | undefined
  readonly #o: TrafficSplitOptions
  /** Non-active side indices, by name: their order on the buckets. */
  readonly #order: number[]
  readonly #weights: Float64Array
  #layout: Layout
  /** Date.now() until which #layout holds (Infinity: it always does). */
  #validUntil: number
  /** With a guard: the layout once rolled back (the ramp's side at 0). */
  readonly #rolledBack: Layout | undefined
  /** The guard hears outcomes from the ramp's start until `window` after its end. */
  readonly #watchFrom: number
  readonly #watchUntil: number

  constructor (o: TrafficSplitOptions, env: PluginEnv) {
    this.#o = o
    const names = Object.keys(o.sides).sort()
    this.sides = names.map((name) => ({ name, upstream: o.sides[name]!, metrics: env.groupMetrics(name) }))
    const index = new Map(names.map((n, i) => [n, i]))
    this.active = index.get(o.active)!
    this.#order = names.map((_, i) => i).filter((i) => i !== this.active)
    this.#weights = new Float64Array(names.map((n) => o.weights[n] ?? 0))
    this.rules = new Rules(o.rules, index)
    this.keyOf = o.key === undefined ? undefined : compileSplitKey(o.key)
    this.ramp = o.ramp
    this.rampSide = o.ramp === undefined ? -1 : index.get(o.ramp.to)!
    this.#layout = this.#layoutWith(-1, 0)
    this.#validUntil = o.ramp === undefined ? Infinity : -Infinity
    this.#watchFrom = this.#watchUntil = -Infinity
    if (o.ramp !== undefined && o.rollback !== undefined) {
      this.guard = new RollbackGuard(o.rollback, { from: o.active, to: o.ramp.to }, { key: `${env.routeId ?? ''}:${JSON.stringify(o.ramp)}` }, env)
      this.#rolledBack = this.#layoutWith(this.rampSide, 0)
      const pos = rampPosition(o.ramp, 0)
      this.#watchFrom = Date.parse(o.ramp.start)
      this.#watchUntil = pos.endAt + o.rollback.window
    }
  }

  /** The layout in force at `now` (after the ramp and the rollback). */
  layout (now: number): Layout {
    if (this.guard !== undefined && this.guard.rolledBack) return this.#rolledBack!
    if (now >= this.#validUntil) {
      const pos = rampPosition(this.ramp!, now)
      this.#layout = this.#layoutWith(this.rampSide, pos.percent)
      this.#validUntil = pos.nextAt ?? Infinity
    }
    return this.#layout
  }

  /** The side index for a request that no rule took: by its key's bucket, else at random. */
  pick (view: MatchView, layout: Layout): number {
    const v = this.keyOf?.(view)
    return layout.pick(v === undefined ? this.random.next() : bucketOf(v))
  }

  /** An attempt's outcome, for the rollback guard: only the ramp's two sides, only while the ramp moves. */
  observe (group: string | undefined, o: UpstreamOutcome, now: number): void {
    if (now < this.#watchFrom || now >= this.#watchUntil || group === undefined) return
    const side = group === this.sides[this.rampSide]!.name ? this.rampSide : group === this.sides[this.active]!.name ? this.active : -1
    if (side >= 0 && o.upstream === this.sides[side]!.upstream) this.guard!.observe(group, o)
  }

  /** `blue 90 / green 10`: the active side first. */
  weightsText (layout: Layout): string {
    return [this.active, ...this.#order].map((i) => `${this.sides[i]!.name} ${layout.percent(i)}`).join(' / ')
  }

  weightsOf (layout: Layout): Record<string, number> {
    return Object.fromEntries(this.sides.map((s, i) => [s.name, layout.percent(i)]))
  }

  /** What /admin/match says: which side and why. */
  explain (view: MatchView, now: number): Record<string, unknown> {
    const r = this.rules.match(view)
    if (r >= 0) return this.#chosen(this.rules.to(r), this.rules.describe(r))
    const layout = this.layout(now)
    const rolledBack = this.guard?.rolledBack === true ? { rolledBack: true } : {}
    const v = this.keyOf?.(view)
    if (v === undefined) {
      const why = `random: weights ${this.weightsText(layout)}` + (this.keyOf === undefined ? '' : ` (no ${this.#o.key} on the request)`)
      return { side: null, upstream: null, why, weights: this.weightsOf(layout), ...rolledBack }
    }
    const bucket = bucketOf(v)
    const side = layout.pick(bucket)
    const [lo, hi] = layout.range(side)
    const b = String(bucket).padStart(4, '0')
    const where = lo === 0 ? `bucket ${b} < ${hi}` : hi === BUCKETS ? `bucket ${b} >= ${lo}` : `${lo} <= bucket ${b} < ${hi}`
    return { ...this.#chosen(side, `${where}: ${this.sides[side]!.name} (sticky on ${this.#o.key})`), bucket, weights: this.weightsOf(layout), ...rolledBack }
  }

  #chosen (side: number, why: string): Record<string, unknown> {
    const s = this.sides[side]!
    return { side: s.name, upstream: s.upstream, why }
  }

  /** status(): sides, weights in force, the ramp's position, the guard's figures. */
  status (now: number): Record<string, unknown> {
    const layout = this.layout(now)
    const o = this.#o
    return {
      sides: o.sides,
      active: o.active,
      previous: o.previous ?? null,
      key: o.key ?? null,
      rules: this.rules.length,
      weights: this.weightsOf(layout),
      ramp: o.ramp === undefined ? null : rampStatus(o.ramp, now, this.guard?.rolledBack === true),
      rollback: this.guard === undefined ? null : { rolledBack: this.guard.rolledBack, ...this.guard.status() },
      header: o.header ?? null
    }
  }

  close (): void {
    this.guard?.close()
  }

  /** The layout with the configured weights, side `rampSide` (-1: none) at `percent`. */
  #layoutWith (rampSide: number, percent: number): Layout {
    const w = this.#weights
    return new Layout(this.#order, this.active, this.sides.length, (i) => i === rampSide ? percent : w[i]!)
  }
}

function rampStatus (ramp: RampOptions, now: number, rolledBack: boolean): Record<string, unknown> {
  const pos = rampPosition(ramp, now)
  return {
    to: ramp.to,
    from: ramp.from,
    start: new Date(Date.parse(ramp.start)).toISOString(),
    schedule: ramp.steps === undefined ? { duration: durationText(ramp.duration!) } : { steps: ramp.steps, every: durationText(ramp.every!) },
    percent: rolledBack ? 0 : pos.percent,
    ...(rolledBack ? { scheduledPercent: pos.percent } : {}),
    step: pos.step === undefined || ramp.steps === undefined ? null : `${pos.step + 1}/${ramp.steps.length}`,
    nextChangeAt: rolledBack || pos.nextAt === undefined ? null : new Date(pos.nextAt).toISOString(),
    endsAt: new Date(pos.endAt).toISOString(),
    state: rolledBack ? 'rolled-back' : pos.done ? 'done' : pos.started ? 'moving' : 'pending'
  }
}

/** 600000 -> "10m", 90000 -> "90s", 1500 -> "1500ms". */
function durationText (ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
