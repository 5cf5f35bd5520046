// What a limit counts by: the `key:` option shared by the limit plugins, a list
// of parts whose values, joined, name one counter. Compiled once per plugin
// instance into a function the access phase calls; the empty key (one counter
// for the whole instance: a route, or for a global instance the whole node or
// cluster) costs nothing per request.
//
//   route          the id of the route the request matched
//   ip             the client IP as the gateway decided it (trusted-proxy aware)
//   header:<name>  a request header's value ('' when absent; repeated: joined by ", ")
//   consumer       the authenticated consumer (refused until consumers exist)
import type { RequestContext } from '../../gateway/proxy/request-context.js'

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"

/** JSON Schema of `key:`. */
export const keySchema = {
  type: 'array',
  default: [],
  uniqueItems: true,
  items: {
    type: 'string',
    pattern: `^(route|ip|consumer|header:${TOKEN})$`,
    hint: 'a key part is route, ip, consumer or header:<name>'
  }
} as const

/** Problems a schema cannot express (for the plugin's check()). */
export function checkKey (parts: readonly string[]): string[] {
  return parts.includes('consumer')
    ? ['key part "consumer" needs the consumers: section, which this gateway does not have yet']
    : []
}

export type KeyFn = (ctx: RequestContext) => string

/**
 * The counter name of a request. Each value is percent-encoded where it could
 * hold the separator, so two different requests never collide ("a|b" + "c"
 * vs "a" + "b|c"), and the result is safe inside a Redis key.
 */
export function compileKey (parts: readonly string[]): KeyFn {
  const fns = parts.map(partFn)
  switch (fns.length) {
    case 0: return () => ''
    case 1: return fns[0]!
    default: return (ctx) => {
      let s = fns[0]!(ctx)
      for (let i = 1; i < fns.length; i++) s += '|' + fns[i]!(ctx)
      return s
    }
  }
}

function partFn (part: string): KeyFn {
  if (part === 'route') return (ctx) => ctx.route?.id ?? ''
  // An IP literal holds no separator or '%' worth escaping (a zone id is never a client address here).
  if (part === 'ip') return (ctx) => ctx.clientIp
  if (part.startsWith('header:')) {
    const name = part.slice(7).toLowerCase()
    return (ctx) => {
      const v = ctx.headers[name]
      return v === undefined ? '' : escape(Array.isArray(v) ? v.join(', ') : v)
    }
  }
  throw new Error(`key part "${part}" cannot be extracted`)
}

const NEEDS_ESCAPE = /[%|:\s\x00-\x1f\x7f-\uffff]/

/** Route ids are `[A-Za-z0-9._:-]` and IPs need nothing; header values may hold anything. */
function escape (v: string): string {
  return NEEDS_ESCAPE.test(v) ? encodeURIComponent(v) : v
}
