// What `gateway cutover` changes in a route's traffic-split options, decided
// from the options in force (the loaded config) alone: which keys are set and
// removed, and the lines that tell the user. Pure; the YAML is edited elsewhere.
import { quoted, type YamlValue } from './yaml-edit.js'

export type CutoverAction =
  | { kind: 'to'; colour: string }
  | { kind: 'rollback' }
  | { kind: 'ramp'; to: string | undefined; duration: string }
  | { kind: 'steps'; to: string | undefined; steps: number[]; every: string }

/** The traffic-split options of the route, as loaded. */
export interface SplitState {
  readonly sides: readonly string[]
  readonly active: string
  readonly previous: string | undefined
  readonly weights: Readonly<Record<string, number>>
  readonly ramp: unknown
}

export interface CutoverChange {
  /** Keys to set, in this order; `previous` goes right after `active`. */
  readonly set: ReadonlyArray<readonly [string, YamlValue]>
  readonly remove: readonly string[]
  /** One line per change, for the user. */
  readonly summary: readonly string[]
}

export type CutoverPlan =
  | { kind: 'change'; change: CutoverChange }
  | { kind: 'nothing'; why: string }
  | { kind: 'refused'; why: string }

/** The options of a traffic-split entry as loaded (undefined when they are not shaped like one). */
export function splitStateOf (options: unknown): SplitState | undefined {
  if (typeof options !== 'object' || options === null) return undefined
  const o = options as Record<string, unknown>
  if (typeof o.sides !== 'object' || o.sides === null || typeof o.active !== 'string') return undefined
  const weights: Record<string, number> = {}
  if (typeof o.weights === 'object' && o.weights !== null) {
    for (const [k, v] of Object.entries(o.weights)) if (typeof v === 'number') weights[k] = v
  }
  return {
    sides: Object.keys(o.sides),
    active: o.active,
    previous: typeof o.previous === 'string' ? o.previous : undefined,
    weights,
    ramp: o.ramp
  }
}

/** `2026-12-01T10:00:00Z`: the ramp's start, to the second. */
export function isoSeconds (now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function planCutover (route: string, state: SplitState, action: CutoverAction, now: Date): CutoverPlan {
  const sideList = state.sides.join(', ')
  const notSide = (c: string): CutoverPlan => ({ kind: 'refused', why: `"${c}" is not a side of route "${route}" (sides: ${sideList})` })
  // Weights and a ramp only send traffic away from the active side: a switch drops them.
  const dropped = (): { remove: string[]; summary: string[] } => {
    const remove: string[] = []
    const summary: string[] = []
    if (Object.keys(state.weights).length > 0) {
      remove.push('weights')
      summary.push(`weights: ${weightsText(state.weights)} -> removed`)
    }
    if (state.ramp !== undefined && state.ramp !== null) {
      remove.push('ramp')
      summary.push('ramp: removed')
    }
    return { remove, summary }
  }

  switch (action.kind) {
    case 'to': {
      const to = action.colour
      if (!state.sides.includes(to)) return notSide(to)
      const { remove, summary } = dropped()
      if (to === state.active) {
        if (remove.length === 0) return { kind: 'nothing', why: `${to} is already active on route "${route}", with no weights and no ramp` }
        return { kind: 'change', change: { set: [], remove, summary: [`active: ${to} (unchanged; all traffic to it)`, ...summary] } }
      }
      return {
        kind: 'change',
        change: {
          set: [['active', to], ['previous', state.active]],
          remove,
          summary: [`active: ${state.active} -> ${to}`, `previous: ${state.previous ?? '(none)'} -> ${state.active}`, ...summary]
        }
      }
    }
    case 'rollback': {
      const back = state.previous
      if (back === undefined) {
        return {
          kind: 'refused',
          why: `route "${route}" has no previous colour to roll back to (no earlier cutover wrote one); ` +
            `to stop a ramp or weights, use --to ${state.active}`
        }
      }
      if (!state.sides.includes(back)) return notSide(back)
      const { remove, summary } = dropped()
      return {
        kind: 'change',
        change: {
          set: [['active', back], ['previous', state.active]],
          remove,
          summary: [`active: ${state.active} -> ${back}`, `previous: ${back} -> ${state.active}`, ...summary]
        }
      }
    }
    case 'ramp':
    case 'steps': {
      let to = action.to
      if (to === undefined) {
        const others = state.sides.filter((s) => s !== state.active)
        if (others.length !== 1) return { kind: 'refused', why: `route "${route}" has ${others.length} sides besides ${state.active} (${others.join(', ')}): say which to ramp with --to COLOUR` }
        to = others[0]!
      }
      if (!state.sides.includes(to)) return notSide(to)
      if (to === state.active) return { kind: 'refused', why: `${to} is the active side of route "${route}": a ramp moves traffic to another side` }
      const from = state.weights[to] ?? 0
      // A step ramp is at its first step from its start: below the weight in force, users would move back.
      if (action.kind === 'steps' && action.steps[0]! < from) {
        return { kind: 'refused', why: `the first step (${action.steps[0]!} %) is below ${to}'s weight in force (${from} %): users on ${to} would move back to ${state.active}; start the steps at ${from} or above` }
      }
      const start = isoSeconds(now)
      // A duration ramp moves linearly from `from`; a step ramp starts at its first step.
      const ramp: Record<string, YamlValue> = action.kind === 'ramp'
        ? { to, start: quoted(start), from, duration: action.duration }
        : { to, start: quoted(start), steps: action.steps, every: action.every }
      const how = action.kind === 'ramp' ? `from ${from} % to 100 % over ${action.duration}` : `${action.steps.join(', ')} % every ${action.every}`
      const was = state.ramp === undefined || state.ramp === null ? '' : ' (replaces the ramp in force)'
      return {
        kind: 'change',
        change: { set: [['ramp', ramp]], remove: [], summary: [`ramp: ${to} ${how}, starting ${start}${was}`] }
      }
    }
  }
}

function weightsText (weights: Readonly<Record<string, number>>): string {
  return Object.entries(weights).map(([k, v]) => `${k} ${v}`).join(' / ')
}
