// What a gateway remembers of a ramp across its plugin instances: a reload
// that re-creates the traffic-split of a route (another rule, another header)
// but leaves its ramp as it was keeps judging the same window, and a ramp
// that was rolled back stays rolled back. One memory per ramp (its key, with
// the two sides) and gateway (the metrics registry stands for the gateway:
// two gateways in one process do not share). A new ramp is another key and
// starts fresh. A memory goes with its last guard, or, once rolled back, a
// day after the decision (the time the fleet's record lasts in Redis).
import type { Registry } from 'prom-client'
import { DECISION_TTL_S } from './rollback-fleet.js'
import { SideWindow } from './side-window.js'

export interface SideFigures {
  side: string
  requests: number
  errors: number
  errorRatio: number
  /** ms; null without requests. */
  p99: number | null
}

export interface Figures {
  /** ms */
  window: number
  minRequests: number
  from: SideFigures
  to: SideFigures
}

export interface Decision {
  /** Date.now() of the decision (the deciding gateway's clock). */
  at: number
  /** node id of the gateway that decided. */
  by: string
  /** 'here': this gateway judged its own traffic; 'fleet': learned from Redis. */
  decided: 'here' | 'fleet'
  why: string
  figures: Figures | null
}

export interface RampMemory {
  /** Set the moment the guard decides (the ramp's side gets 0 % from then on), before the decision is recorded. */
  rolledBack: boolean
  /** The decision as logged and counted (once per gateway); undefined until then. */
  decision: Decision | undefined
  /** The record of this gateway's decision, for Redis. */
  record: string | undefined
  /** Redis has the decision (written, or another gateway's found): nothing more to share. */
  shared: boolean
  /** Another gateway's decision that was in Redis first, when this one had decided too. */
  fleetDecision: Decision | undefined
  /** The windows, for a `window` of this span. */
  span: number
  from: SideWindow
  to: SideWindow
  /** Guards holding this memory. */
  users: number
}

const memories = new WeakMap<Registry, Map<string, RampMemory>>()

/** The memory of a ramp in the gateway of `registry`, taken by one more guard (give it back with releaseMemory). */
export function takeMemory (registry: Registry, key: string, span: number, now: number): RampMemory {
  let byKey = memories.get(registry)
  if (byKey === undefined) {
    byKey = new Map()
    memories.set(registry, byKey)
  }
  for (const [k, m] of byKey) {
    if (m.users === 0 && m.decision !== undefined && now - m.decision.at > DECISION_TTL_S * 1000) byKey.delete(k)
  }
  let m = byKey.get(key)
  if (m === undefined) {
    m = {
      rolledBack: false,
      decision: undefined,
      record: undefined,
      shared: false,
      fleetDecision: undefined,
      span,
      from: new SideWindow(span),
      to: new SideWindow(span),
      users: 0
    }
    byKey.set(key, m)
  } else if (m.span !== span) {
    // Another window length: its own figures (a guard still holding the old windows keeps them).
    m.span = span
    m.from = new SideWindow(span)
    m.to = new SideWindow(span)
  }
  m.users++
  return m
}

/** A guard is done with the memory; forgotten with its last guard unless the ramp was rolled back. */
export function releaseMemory (registry: Registry, key: string, m: RampMemory): void {
  if (--m.users > 0 || m.rolledBack) return
  const byKey = memories.get(registry)
  if (byKey?.get(key) === m) byKey.delete(key)
}
