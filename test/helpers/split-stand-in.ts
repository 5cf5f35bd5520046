// The traffic-split plugin for the cutover tests, until the real one
// (plugins/traffic-split/) is built in: `splitRegistry()` is the built-in
// registry when it has `traffic-split`, else the built-ins plus this stand-in,
// so the same tests validate against the real schema once it is merged.
// The stand-in has the options' shape (docs: issue 8 design) and the checks
// the cutover command relies on (a colour named must be a side, sides name
// existing upstreams, weights and ramp percents within 0..100); its access
// phase sends every request to the active side's upstream, and its status()
// says active, previous, weights and ramp, like the real one's.
import type { PluginRegistry } from '../../plugins/registry.js'
import { builtinPlugins, builtinRegistry, loadPluginRegistry } from '../../plugins/registry.js'
import type { PluginDefinition } from '../../plugins/types.js'

export const splitStandInModule = new URL(import.meta.url).href

/** The real plugin is built in (the [split] branch is merged). */
export const realSplit = builtinPlugins.has('traffic-split')

export function splitRegistry (): Promise<PluginRegistry> {
  return realSplit ? Promise.resolve(builtinRegistry) : loadPluginRegistry([splitStandInModule])
}

interface StandInOptions {
  sides: Record<string, string>
  active: string
  previous?: string
  weights?: Record<string, number>
  ramp?: { to: string; start: string; from: number; duration?: number; steps?: number[]; every?: number }
}

const percent = { type: 'number', minimum: 0, maximum: 100 }
const matcher = {}

const standIn: PluginDefinition<StandInOptions> = {
  name: 'traffic-split',
  priority: 900,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['sides', 'active'],
    properties: {
      sides: { type: 'object', minProperties: 2, maxProperties: 8, additionalProperties: { type: 'string', minLength: 1 } },
      active: { type: 'string', minLength: 1 },
      previous: { type: 'string', minLength: 1 },
      rules: { type: 'array', items: { type: 'object', properties: { match: matcher, to: { type: 'string' } }, required: ['match', 'to'] } },
      weights: { type: 'object', additionalProperties: percent },
      key: { type: 'string' },
      ramp: {
        type: 'object',
        additionalProperties: false,
        required: ['to', 'start'],
        properties: {
          to: { type: 'string' },
          start: { type: 'string', minLength: 1 },
          from: { ...percent, default: 0 },
          duration: { duration: true },
          steps: { type: 'array', minItems: 1, items: percent },
          every: { duration: true }
        }
      },
      rollback: { type: 'object' },
      header: { type: 'string' }
    }
  },
  check (o, refs) {
    const problems: string[] = []
    const sides = Object.keys(o.sides)
    const side = (what: string, c: string | undefined): void => {
      if (c !== undefined && !sides.includes(c)) problems.push(`${what}: "${c}" is not a side (sides: ${sides.join(', ')})`)
    }
    for (const [c, u] of Object.entries(o.sides)) if (!refs.upstreams.has(u)) problems.push(`sides.${c}: unknown upstream "${u}"`)
    side('active', o.active)
    side('previous', o.previous)
    for (const c of Object.keys(o.weights ?? {})) side('weights', c)
    if (o.ramp !== undefined) {
      side('ramp.to', o.ramp.to)
      if (Number.isNaN(Date.parse(o.ramp.start))) problems.push(`ramp.start: not an ISO time: "${o.ramp.start}"`)
      if ((o.ramp.duration === undefined) === (o.ramp.steps === undefined)) problems.push('ramp: exactly one of duration and steps')
      if ((o.ramp.steps === undefined) !== (o.ramp.every === undefined)) problems.push('ramp: steps go with every')
    }
    return problems
  },
  create (o) {
    const upstream = o.sides[o.active]
    return {
      access (ctx) { ctx.upstreamName = upstream },
      status: () => ({ active: o.active, previous: o.previous ?? null, weights: { [o.active]: 100 }, ramp: o.ramp ?? null, rollback: null })
    }
  }
}

export const plugins: PluginDefinition[] = [standIn]
