// Where a ramp is: a pure function of the ramp as declared (what, from, start
// time, schedule) and the clock. Every gateway reading the same file computes
// the same percent at the same time, and a restart mid-ramp resumes where the
// clock says. Percents are in hundredths (the split's resolution).
import type { RampOptions } from './options.js'

export interface RampPosition {
  /** Percent of the requests no rule took that the ramp's side gets (0..100, hundredths). */
  readonly percent: number
  /** Steps: the index of the step in force (0-based); undefined before the start, and for a linear ramp. */
  readonly step: number | undefined
  /** Date.now() of the next change of percent; undefined once the ramp is done. */
  readonly nextAt: number | undefined
  /** The start time has come. */
  readonly started: boolean
  /** The ramp reached 100. */
  readonly done: boolean
  /** Date.now() at which it reaches (or reached) 100. */
  readonly endAt: number
}

/** The ramp's percent at time `now` (ms since the epoch). */
export function rampPercent (ramp: RampOptions, now: number): number {
  return rampPosition(ramp, now).percent
}

export function rampPosition (ramp: RampOptions, now: number): RampPosition {
  const start = Date.parse(ramp.start)
  const fromH = Math.round(ramp.from * 100)
  const steps = ramp.steps
  if (steps !== undefined) {
    const every = ramp.every!
    const endAt = start + (steps.length - 1) * every
    if (now < start) return { percent: fromH / 100, step: undefined, nextAt: start, started: false, done: false, endAt }
    const i = Math.min(Math.floor((now - start) / every), steps.length - 1)
    const done = i === steps.length - 1
    return { percent: steps[i]!, step: i, nextAt: done ? undefined : start + (i + 1) * every, started: true, done, endAt }
  }
  const duration = ramp.duration!
  const endAt = start + duration
  if (now >= endAt) return { percent: 100, step: undefined, nextAt: undefined, started: true, done: true, endAt }
  // Linear, in whole hundredths: h at `now`, and the first ms at which it becomes h + 1.
  const span = 10_000 - fromH
  const started = now >= start
  const h = started ? fromH + Math.floor(span * (now - start) / duration) : fromH
  const nextAt = Math.min(endAt, start + Math.ceil((h + 1 - fromH) * duration / span))
  return { percent: h / 100, step: undefined, nextAt: nextAt > now ? nextAt : now + 1, started, done: false, endAt }
}
