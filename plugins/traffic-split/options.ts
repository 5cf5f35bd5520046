// The options of the traffic-split plugin: their schema (defaults filled in,
// durations turned into ms, by the config loader) and the checks a schema
// cannot express, each reported at the key it is about (file:line).
import type { ValueMatcher } from '../../gateway/config/types.js'
import { valueMatcherSchema } from '../../gateway/config/schema.js'
import { suggest } from '../../gateway/config/validate.js'
import type { CheckProblem, ConfigRefs } from '../types.js'

export interface RuleMatch {
  headers?: Record<string, ValueMatcher>
  cookies?: Record<string, ValueMatcher>
  query?: Record<string, ValueMatcher>
  /** Client IPs or CIDR ranges. */
  ips?: string[]
}

export interface RuleOptions {
  match: RuleMatch
  /** A side. */
  to: string
}

export interface RampOptions {
  /** The side whose weight moves (not the active one). */
  to: string
  /** ISO time the ramp starts at. */
  start: string
  /** Percent at the start (default 0). */
  from: number
  /** ms: linear from `from` to 100 over this long ... */
  duration?: number
  /** ... or these percents (increasing, the last 100), one every `every` ms from the start. */
  steps?: number[]
  every?: number
}

/** When a ramp rolls itself back (plugins/traffic-split/rollback.ts): the ramp's side against the active one, over the same window. */
export interface RollbackOptions {
  /** Roll back when the new side's error ratio exceeds the old side's by more than this. */
  errorRatio: number
  /** ... or the new side's p99 exceeds the old side's p99 times this (and latencyFloor). */
  latencyFactor: number
  /** ms: a p99 under this is never too slow. */
  latencyFloor: number
  /** ms: the sliding window both sides are judged over. */
  window: number
  /** Requests per side in the window before any judgement. */
  minRequests: number
  /** Response statuses that count as errors (besides connect, reset, timeout and bad-response outcomes). */
  statuses: number[]
}

export interface TrafficSplitOptions {
  /** colour -> upstream name. */
  sides: Record<string, string>
  /** The side that gets every request not sent elsewhere. */
  active: string
  /** The side `gateway cutover --rollback` returns to. */
  previous?: string
  rules: RuleOptions[]
  /** Percent of the requests no rule took, per non-active side; the active side gets the rest. */
  weights: Record<string, number>
  /** Sticky split: `header:NAME`, `cookie:NAME` or `ip`; absent: per-request random. */
  key?: string
  ramp?: RampOptions
  rollback?: RollbackOptions
  /** Response header naming the side that served. */
  header?: string
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const SIDE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'
const SIDE_HINT = 'a side is 1 to 32 letters, digits, ".", "_" or "-"'
const ISO_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?(Z|[+-]\\d{2}:\\d{2})$'

const percent = { type: 'number', minimum: 0, maximum: 100 } as const
const side = { type: 'string', pattern: SIDE_PATTERN, hint: SIDE_HINT } as const
const matchers = (names: Record<string, unknown>) => ({ type: 'object', minProperties: 1, propertyNames: names, additionalProperties: valueMatcherSchema })

export const trafficSplitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sides', 'active'],
  properties: {
    sides: {
      type: 'object',
      minProperties: 2,
      maxProperties: 8,
      propertyNames: { pattern: SIDE_PATTERN, hint: SIDE_HINT },
      additionalProperties: { type: 'string', minLength: 1 }
    },
    active: side,
    previous: side,
    rules: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match', 'to'],
        properties: {
          match: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              headers: matchers({ pattern: `^${TOKEN}$`, hint: 'must be a valid header name' }),
              cookies: matchers({ pattern: `^${TOKEN}$`, hint: 'must be a valid cookie name' }),
              query: matchers({ minLength: 1 }),
              ips: { type: 'array', minItems: 1, items: { type: 'string', check: 'ip-or-cidr' } }
            }
          },
          to: side
        }
      }
    },
    weights: { type: 'object', default: {}, additionalProperties: percent },
    key: { type: 'string', pattern: `^(ip|header:${TOKEN}|cookie:${TOKEN})$`, hint: 'the key is ip, header:<name> or cookie:<name>' },
    ramp: {
      type: 'object',
      additionalProperties: false,
      required: ['to', 'start'],
      properties: {
        to: side,
        start: { type: 'string', pattern: ISO_TIME, hint: 'must be an ISO time such as "2026-12-01T10:00:00Z"' },
        from: { ...percent, default: 0 },
        duration: { duration: { zero: 'a ramp needs some time to move' } },
        steps: { type: 'array', minItems: 1, items: { type: 'number', exclusiveMinimum: 0, maximum: 100 } },
        every: { duration: { zero: 'steps need some time between them' } }
      }
    },
    rollback: {
      type: 'object',
      additionalProperties: false,
      properties: {
        errorRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.05 },
        latencyFactor: { type: 'number', minimum: 1, default: 2 },
        latencyFloor: { duration: true, default: 50 },
        window: { duration: { zero: 'the sides are judged over a window of time' }, default: 60_000 },
        minRequests: { type: 'integer', minimum: 1, default: 100 },
        statuses: { type: 'array', uniqueItems: true, default: [500, 502, 503, 504], items: { type: 'integer', minimum: 100, maximum: 599 } }
      }
    },
    header: { type: 'string', pattern: `^${TOKEN}$`, hint: 'must be a valid header name' }
  }
} as const

/** Percents have at most two decimals (the split works in hundredths of a percent). */
function hundredths (v: number): boolean {
  return Math.abs(v * 100 - Math.round(v * 100)) < 1e-6
}

/** An ISO time (of the schema's pattern) that names a real instant: no February 30th, no 25 o'clock. */
function validTime (s: string): boolean {
  const [y, mo, d, h, mi, sec] = s.split(/[-T:.Z+]/).map(Number) as number[]
  const day = new Date(Date.UTC(y!, mo! - 1, d!))
  return !Number.isNaN(Date.parse(s)) && day.getUTCMonth() === mo! - 1 && day.getUTCDate() === d && h! <= 23 && mi! <= 59 && (sec ?? 0) <= 59
}

function unknown (what: string, name: string, names: readonly string[]): string {
  const guess = suggest(name, names)
  return `unknown ${what} ${JSON.stringify(name)}` +
    (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
    (names.length === 0 ? `; no ${what}s are defined` : `; defined: ${names.join(', ')}`)
}

export function checkTrafficSplit (o: TrafficSplitOptions, refs: ConfigRefs): CheckProblem[] {
  const problems: CheckProblem[] = []
  const at = (path: Array<string | number>, message: string): void => { problems.push({ path, message }) }
  const colours = Object.keys(o.sides)
  const upstreams = [...refs.upstreams]
  const isSide = (s: string): boolean => Object.prototype.hasOwnProperty.call(o.sides, s)
  for (const c of colours) {
    const up = o.sides[c]!
    if (!refs.upstreams.has(up)) at(['sides', c], unknown('upstream', up, upstreams))
  }
  if (!isSide(o.active)) at(['active'], unknown('side', o.active, colours))
  if (o.previous !== undefined && !isSide(o.previous)) at(['previous'], unknown('side', o.previous, colours))
  o.rules.forEach((r, i) => { if (!isSide(r.to)) at(['rules', i, 'to'], unknown('side', r.to, colours)) })

  let sum = 0
  for (const [c, w] of Object.entries(o.weights)) {
    if (!isSide(c)) at(['weights', c], unknown('side', c, colours))
    else if (c === o.active) at(['weights', c], `the active side ${JSON.stringify(c)} has no weight: it gets what the other sides leave`)
    if (!hundredths(w)) at(['weights', c], `a weight has at most two decimals, got ${w}`)
    sum += w
  }
  if (sum > 100 + 1e-9) at(['weights'], `the weights add up to ${Math.round(sum * 100) / 100}, more than 100`)

  const ramp = o.ramp
  if (ramp !== undefined) {
    if (!isSide(ramp.to)) at(['ramp', 'to'], unknown('side', ramp.to, colours))
    else if (ramp.to === o.active) at(['ramp', 'to'], `the ramp moves traffic to a side that is not the active one, got the active side ${JSON.stringify(ramp.to)}`)
    if (!validTime(ramp.start)) at(['ramp', 'start'], `not a valid time: ${JSON.stringify(ramp.start)}`)
    if (!hundredths(ramp.from)) at(['ramp', 'from'], `a percent has at most two decimals, got ${ramp.from}`)
    else if (ramp.from >= 100) at(['ramp', 'from'], 'a ramp starts below 100')
    const linear = ramp.duration !== undefined
    const stepped = ramp.steps !== undefined || ramp.every !== undefined
    if (linear === stepped) {
      at(['ramp'], linear ? 'give either duration or steps with every, not both' : 'give the ramp a duration, or steps with every')
    } else if (stepped) {
      if (ramp.steps === undefined) at(['ramp', 'every'], 'every needs steps (the percents to go through)')
      else if (ramp.every === undefined) at(['ramp', 'steps'], 'steps need every (the time between two steps)')
      if (ramp.steps !== undefined) {
        const s = ramp.steps
        const bad = s.findIndex((v) => !hundredths(v))
        if (bad >= 0) at(['ramp', 'steps', bad], `a percent has at most two decimals, got ${s[bad]}`)
        else if (s.some((v, i) => i > 0 && v <= s[i - 1]!)) at(['ramp', 'steps'], `steps must increase, got ${s.join(', ')}`)
        else if (s[s.length - 1] !== 100) at(['ramp', 'steps'], `steps must end at 100, got ${s.join(', ')}`)
      }
    }
  }
  return problems
}
