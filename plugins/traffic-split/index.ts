// traffic-split: grey release and blue-green on one route. Ordered rules send
// matching requests to a named side (testers always see green); the rest is
// split by weight among the sides, sticky on a key when one is given (the
// same user, the same side, on every gateway), the active side getting what
// the others leave. A ramp moves one side's weight with the clock; the
// rollback guard sends the ramp's traffic back to the active side when the
// new side does worse. The chosen side is the request's group (access log,
// metrics, optional response header).
import type { OutgoingHttpHeaders } from 'node:http'
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import type { PluginDefinition, PluginInstance } from '../types.js'
import { checkTrafficSplit, trafficSplitSchema, type TrafficSplitOptions } from './options.js'
import { Split } from './split.js'

/** Gateway answers that mean the chosen side could not be tried at all (docs/errors.md). */
const NO_ATTEMPT = new Set(['GW_UPSTREAM_UNAVAILABLE', 'GW_CIRCUIT_OPEN', 'GW_UPSTREAM_BUSY'])

export const trafficSplitPlugin: PluginDefinition<TrafficSplitOptions> = {
  name: 'traffic-split',
  // After the limits and checks that refuse requests (a refused request needs no side), before header edits.
  priority: 900,
  routeOnly: true,
  schema: trafficSplitSchema,
  check: checkTrafficSplit,
  create (o, env) {
    const split = new Split(o, env)
    const { sides, rules } = split
    const now = env.now
    const dynamic = split.ramp !== undefined

    const instance: PluginInstance = {
      access (ctx: RequestContext) {
        const r = rules.match(ctx)
        const side = sides[r >= 0 ? rules.to(r) : split.pick(ctx, split.layout(dynamic ? now() : 0))]!
        ctx.upstreamName = side.upstream
        ctx.group = side.name
        ctx.groupMetrics = side.metrics
      },
      status: () => split.status(now()),
      explain: (view) => split.explain(view, now()),
      close: () => { split.close() }
    }
    const header = o.header?.toLowerCase()
    if (header !== undefined) {
      instance.response = (ctx: RequestContext, _status: number, headers: OutgoingHttpHeaders) => {
        if (ctx.group !== undefined) headers[header] = ctx.group
      }
    }
    if (split.guard !== undefined) {
      instance.outcome = (ctx, outcome) => { split.observe(ctx.group, outcome, now()) }
      // A side with no node to try (all ejected or unhealthy), an open route
      // breaker or a full bulkhead answers without any attempt, so without any
      // outcome: the guard hears of it as a failed attempt all the same, or a
      // side that lost every node would never be rolled back.
      instance.log = (ctx) => {
        if (ctx.attempt === 0 && ctx.group !== undefined && ctx.upstream !== undefined && NO_ATTEMPT.has(ctx.errorCode!)) {
          split.observe(ctx.group, { upstream: ctx.upstream.name, node: '', kind: 'connect', status: 0, latency: 0, sent: false, attempt: 0 }, now())
        }
      }
    }
    return instance
  }
}
