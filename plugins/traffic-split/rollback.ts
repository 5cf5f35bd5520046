// The rollback guard of a ramp: it hears the upstream attempts of the ramp's
// two sides (`from`, the active side, and `to`, the side the ramp moves
// traffic to), keeps each side's requests, errors and latencies over the same
// sliding window (side-window.ts), and rolls the ramp back when the new side
// does worse than the old one:
//   both sides have at least minRequests attempts in the window, and
//   to's error ratio > from's error ratio + errorRatio, or
//   to's p99 > from's p99 × latencyFactor and to's p99 > latencyFloor.
// Errors are the outcomes connect, reset, timeout and bad-response, and the
// responses whose status is in `statuses`; a cancelled attempt (the client
// went away) says nothing about the side and is not counted. The comparison
// runs at most every JUDGE_MS, on an outcome: an outcome costs a few
// increments and allocates nothing.
//
// Once rolled back, the ramp stays rolled back (rolledBack: the split gives
// its side 0 %) for as long as the config keeps this ramp (same key, same
// sides): a reload that keeps the ramp keeps the decision and the window
// (rollback-memory.ts); a new ramp starts fresh. With env.redis the decision
// is the fleet's (rollback-fleet.ts): the gateway that decides writes it with
// its figures and every gateway rolls back within a poll; while Redis cannot
// be used each gateway judges its own traffic, as it always does. Each
// gateway logs the decision once (warn) and counts it in
// gateway_split_rollbacks_total{route, decided="here"|"fleet"}.
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import { counter } from '../metrics.js'
import type { PluginEnv, UpstreamOutcome } from '../types.js'
import type { RollbackOptions } from './options.js'
import { FleetChannel, type PublishResult } from './rollback-fleet.js'
import { releaseMemory, takeMemory, type Decision, type Figures, type RampMemory, type SideFigures } from './rollback-memory.js'
import type { SideWindow } from './side-window.js'

/** The sides are compared at most this often (ms). */
export const JUDGE_MS = 100

export type { Decision, Figures, SideFigures } from './rollback-memory.js'

/** Why the new side is worse, or undefined: the rule of the guard on two windows (advanced to the same time). */
export function verdict (o: RollbackOptions, from: SideWindow, to: SideWindow): string | undefined {
  if (from.requests < o.minRequests || to.requests < o.minRequests) return undefined
  const fr = from.errorRatio
  const tr = to.errorRatio
  if (tr > fr + o.errorRatio) return `error ratio ${ratio(tr)} > ${ratio(fr)} + ${o.errorRatio}`
  const tp = to.p99
  const fp = from.p99
  if (tp > fp * o.latencyFactor && tp > o.latencyFloor) {
    return `p99 ${ms(tp)}ms > ${ms(fp)}ms × ${o.latencyFactor} and > ${o.latencyFloor}ms`
  }
  return undefined
}

function ratio (r: number): string {
  return String(Math.round(r * 10_000) / 10_000)
}

function ms (v: number): number {
  return Math.round(v * 10) / 10
}

function sideFigures (side: string, w: SideWindow): SideFigures {
  return { side, requests: w.requests, errors: w.errors, errorRatio: Number(ratio(w.errorRatio)), p99: w.requests === 0 ? null : ms(w.p99) }
}

const ERROR_KINDS = new Set(['connect', 'reset', 'timeout', 'bad-response'])

export class RollbackGuard {
  readonly #o: RollbackOptions
  readonly #sides: { from: string; to: string }
  readonly #route: string
  readonly #nodeId: string
  readonly #logger: Logger
  readonly #now: () => number
  readonly #rollbacks: Counter<'route' | 'decided'>
  readonly #memoryKey: string
  readonly #memory: RampMemory
  readonly #env: PluginEnv
  readonly #from: SideWindow
  readonly #to: SideWindow
  /** 1 at the statuses that count as errors. */
  readonly #errorStatus = new Uint8Array(600)
  readonly #fleet: FleetChannel | undefined
  #judgeAt = -Infinity
  #closed = false

  constructor (options: RollbackOptions, sides: { from: string; to: string }, ramp: { key: string }, env: PluginEnv) {
    this.#o = options
    this.#sides = sides
    this.#env = env
    this.#route = env.routeId ?? '(global)'
    this.#nodeId = env.nodeId
    this.#logger = env.logger
    this.#now = () => env.now()
    for (const s of options.statuses) if (s >= 0 && s < 600) this.#errorStatus[s] = 1
    this.#rollbacks = counter(env.metrics, 'gateway_split_rollbacks_total',
      'Ramps of a traffic-split rolled back, by route and where the decision was made (here: this gateway judged its traffic; fleet: learned from another gateway through Redis)',
      ['route', 'decided'])
    this.#memoryKey = `${ramp.key}\n${sides.from}\n${sides.to}`
    this.#memory = takeMemory(env.metrics, this.#memoryKey, options.window, env.now())
    this.#from = this.#memory.from
    this.#to = this.#memory.to
    this.#fleet = env.redis === undefined
      ? undefined
      : new FleetChannel(env.redis, ramp.key, {
        unpublished: () => this.#memory.decision?.decided === 'here' && !this.#memory.shared ? this.#memory.record : undefined,
        settled: () => this.#memory.decision !== undefined && this.#memory.shared,
        found: (record) => this.#found(record),
        published: (r) => this.#published(r)
      })
  }

  /** Read per request: true -> the ramp's side gets 0 %. */
  get rolledBack (): boolean {
    return this.#memory.rolledBack
  }

  /** An upstream attempt of side `side` ended (the plugin's outcome phase). */
  observe (side: string, o: UpstreamOutcome): void {
    if (o.kind === 'cancelled') return
    const w = side === this.#sides.to ? this.#to : side === this.#sides.from ? this.#from : undefined
    if (w === undefined) return
    const now = this.#now()
    w.add(now, o.kind === 'response' ? this.#errorStatus[o.status] === 1 : ERROR_KINDS.has(o.kind), o.latency)
    if (now < this.#judgeAt || this.#memory.rolledBack || this.#closed) return
    this.#judgeAt = now + JUDGE_MS
    this.#judge(now)
  }

  #judge (now: number): void {
    this.#from.advance(now)
    this.#to.advance(now)
    const why = verdict(this.#o, this.#from, this.#to)
    if (why !== undefined) this.#decide(now, why)
  }

  #figures (): Figures {
    return {
      window: this.#o.window,
      minRequests: this.#o.minRequests,
      from: sideFigures(this.#sides.from, this.#from),
      to: sideFigures(this.#sides.to, this.#to)
    }
  }

  /** This gateway's traffic says roll back: at once here; then the fleet through Redis, when there is one. */
  #decide (now: number, why: string): void {
    const m = this.#memory
    m.rolledBack = true
    const d: Decision = { at: now, by: this.#nodeId, decided: 'here', why, figures: this.#figures() }
    m.record = JSON.stringify({ route: this.#route, from: this.#sides.from, to: this.#sides.to, at: d.at, by: d.by, why, figures: d.figures })
    if (this.#fleet === undefined || this.#fleet.mode !== 'shared') {
      // No Redis, or unusable now: a poll writes it once Redis is back.
      this.#record(d)
      return
    }
    this.#fleet.publish(m.record).then((r) => {
      if (r.kind === 'taken') {
        // Another gateway decided first: its decision is the fleet's.
        m.shared = true
        m.fleetDecision = undefined
        this.#record(this.#parse(r.record))
      } else {
        m.shared = r.kind === 'written'
        this.#record(d)
      }
    }).catch((err: unknown) => this.#logger.error({ err }, 'traffic-split: recording a rollback failed'))
  }

  /** The poll found a decision in Redis. */
  #found (record: string): void {
    const m = this.#memory
    m.shared = true
    if (m.rolledBack) {
      // Decided here too (its own record, or another one written while Redis was away from this gateway).
      if (record !== m.record && m.fleetDecision === undefined) m.fleetDecision = this.#parse(record)
      return
    }
    m.rolledBack = true
    this.#record(this.#parse(record))
  }

  /** A decision this gateway could not write at the time was written (or found taken) by a poll. */
  #published (r: PublishResult): void {
    const m = this.#memory
    m.shared = true
    if (r.kind === 'taken') {
      m.fleetDecision = this.#parse(r.record)
      this.#logger.info({ fleetDecision: m.fleetDecision }, 'traffic-split: another gateway had rolled the ramp back first')
    } else {
      this.#logger.info('traffic-split: rollback decision shared through Redis')
    }
  }

  /** A record from Redis as a decision learned from the fleet. */
  #parse (record: string): Decision {
    try {
      const r = JSON.parse(record) as Partial<Decision>
      return {
        at: typeof r.at === 'number' ? r.at : this.#now(),
        by: typeof r.by === 'string' ? r.by : 'unknown',
        decided: 'fleet',
        why: typeof r.why === 'string' ? r.why : 'unknown',
        figures: typeof r.figures === 'object' ? r.figures ?? null : null
      }
    } catch {
      return { at: this.#now(), by: 'unknown', decided: 'fleet', why: 'unreadable record in Redis', figures: null }
    }
  }

  /** Logs and counts the decision, once per gateway and ramp. */
  #record (d: Decision): void {
    const m = this.#memory
    if (m.decision !== undefined) return
    m.decision = d
    try {
      this.#rollbacks.inc({ route: this.#route, decided: d.decided })
      // The route is in the logger's own bindings (env.logger).
      this.#logger.warn({
        from: this.#sides.from, to: this.#sides.to, decided: d.decided, by: d.by,
        at: new Date(d.at).toISOString(), why: d.why, figures: d.figures
      }, `traffic-split: ramp to ${this.#sides.to} rolled back (${d.why})`)
    } catch {
      // Never into the request path.
    }
    // Redis has it: the poll can stop (else it goes on writing this decision once Redis is back).
    if (m.shared) this.#fleet?.poll()
  }

  /** Everything the admin API shows: the figures per side, the decision, the Redis mode. */
  status (): Record<string, unknown> {
    const now = this.#now()
    this.#from.advance(now)
    this.#to.advance(now)
    const o = this.#o
    const f = this.#figures()
    const reached = (s: SideFigures): Record<string, unknown> => ({ ...s, minRequestsReached: s.requests >= o.minRequests })
    const m = this.#memory
    const d = m.decision
    return {
      rolledBack: m.rolledBack,
      window: o.window,
      minRequests: o.minRequests,
      errorRatio: o.errorRatio,
      latencyFactor: o.latencyFactor,
      latencyFloor: o.latencyFloor,
      statuses: o.statuses,
      from: reached(f.from),
      to: reached(f.to),
      decision: d === undefined ? null : decisionStatus(d),
      ...(m.fleetDecision !== undefined ? { fleetDecision: decisionStatus(m.fleetDecision) } : {}),
      redis: this.#fleet === undefined
        ? null
        : { mode: this.#fleet.mode, reason: this.#fleet.reason, key: this.#fleet.key, shared: m.shared }
    }
  }

  /** Stops the poll; the memory of the ramp stays with the gateway (a reload keeping the ramp finds it). Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#fleet?.close()
    releaseMemory(this.#env.metrics, this.#memoryKey, this.#memory)
  }
}

function decisionStatus (d: Decision): Record<string, unknown> {
  return { at: new Date(d.at).toISOString(), by: d.by, decided: d.decided, why: d.why, figures: d.figures }
}
