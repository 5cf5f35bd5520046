// cors: answers CORS preflights at the edge and adds the CORS response headers
// to actual requests, for an allow-list of origins. Runs before everything else
// (preflights carry no credentials, so auth plugins must not see them).
import type { OutgoingHttpHeaders } from 'node:http'
import { errorReply } from '../../gateway/errors.js'
import type { DirectReply, PluginDefinition } from '../types.js'

export interface CorsOptions {
  /** Exact origins (`https://app.example.com`) or `*` for any. */
  allowOrigins: string[]
  allowMethods: string[]
  /** Request headers a preflight may ask for; empty: echo what the browser asks for. */
  allowHeaders: string[]
  exposeHeaders: string[]
  allowCredentials: boolean
  /** Seconds a browser may cache a preflight answer. */
  maxAge: number
}

const ORIGIN = '^(\\*|https?://[^/\\s]+)$'

export const corsPlugin: PluginDefinition<CorsOptions> = {
  name: 'cors',
  priority: 4000,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allowOrigins: { type: 'array', minItems: 1, items: { type: 'string', pattern: ORIGIN }, default: ['*'] },
      allowMethods: {
        type: 'array',
        items: { type: 'string', pattern: '^[A-Z]+$' },
        default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']
      },
      allowHeaders: { type: 'array', items: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }, default: [] },
      exposeHeaders: { type: 'array', items: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }, default: [] },
      allowCredentials: { type: 'boolean', default: false },
      maxAge: { type: 'integer', minimum: 0, maximum: 86400, default: 600 }
    }
  },
  check (o) {
    return o.allowCredentials && o.allowOrigins.includes('*')
      ? ['allowCredentials cannot be combined with allowOrigins "*" (browsers refuse it): list the origins']
      : []
  },
  create (o) {
    const any = o.allowOrigins.includes('*')
    const allowed = new Set(o.allowOrigins)
    const methods = o.allowMethods.join(', ')
    const fixedHeaders = o.allowHeaders.length > 0 ? o.allowHeaders.join(', ') : undefined
    const expose = o.exposeHeaders.length > 0 ? o.exposeHeaders.join(', ') : undefined
    const maxAge = String(o.maxAge)
    const denied = errorReply(403, 'GW_CORS_ORIGIN_DENIED', 'Origin is not allowed by this route\'s CORS policy')
    const isAllowed = (origin: string): boolean => any || allowed.has(origin)
    /** With credentials or a list, the origin is echoed (and caches must vary on it). */
    const allowOriginValue = (origin: string): string => (any && !o.allowCredentials ? '*' : origin)

    return {
      access (ctx) {
        const origin = ctx.headers.origin
        if (ctx.method !== 'OPTIONS' || origin === undefined || ctx.headers['access-control-request-method'] === undefined) return
        if (!isAllowed(origin)) return denied
        const headers: OutgoingHttpHeaders = {
          'access-control-allow-origin': allowOriginValue(origin),
          'access-control-allow-methods': methods,
          'access-control-max-age': maxAge,
          vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'
        }
        const asked = ctx.headers['access-control-request-headers']
        const allowHeaders = fixedHeaders ?? asked
        if (allowHeaders !== undefined) headers['access-control-allow-headers'] = allowHeaders
        if (o.allowCredentials) headers['access-control-allow-credentials'] = 'true'
        const reply: DirectReply = { kind: 'reply', status: 204, headers }
        return reply
      },
      response (ctx, _status, headers) {
        const origin = ctx.headers.origin
        if (origin === undefined || !isAllowed(origin) || headers['access-control-allow-origin'] !== undefined) return
        headers['access-control-allow-origin'] = allowOriginValue(origin)
        if (o.allowCredentials) headers['access-control-allow-credentials'] = 'true'
        if (expose !== undefined) headers['access-control-expose-headers'] = expose
        if (!any || o.allowCredentials) {
          const vary = headers.vary
          headers.vary = vary === undefined ? 'Origin' : `${String(vary)}, Origin`
        }
      }
    }
  }
}
