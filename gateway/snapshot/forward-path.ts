// Compiles a route's `rewrite:` into the function that turns the normalised
// request path into the path sent upstream. Done once per route per config.
import type { RouteConfig } from '../config/types.js'
import type { RouteHit } from '../routing/types.js'

type ForwardPath = (path: string, hit: RouteHit<unknown>) => string

const identity: ForwardPath = (path) => path

/** Literal part of a prefix pattern: `/api/*` -> `/api`, `/*` -> ''. */
function literalPrefix (pattern: string): string {
  return pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern
}

export function compileForwardPath (route: RouteConfig): ForwardPath {
  const { stripPrefix, prefix, path } = route.rewrite
  if (path !== undefined) return compileTemplate(path)
  if (!stripPrefix && prefix === undefined) return identity
  const replacement = (prefix ?? '').replace(/\/+$/, '')
  return (reqPath, hit) => {
    const rest = reqPath.slice(literalPrefix(hit.pattern).length)
    const out = replacement + rest
    return out === '' ? '/' : out.charCodeAt(0) === 47 ? out : '/' + out
  }
}

/** `/users/:id/profile` -> parts joined with the hit's params. */
function compileTemplate (template: string): ForwardPath {
  const parts = template.split('/').map((seg) => seg.startsWith(':') ? { param: seg.slice(1) } : { literal: seg })
  if (parts.every((p) => 'literal' in p)) return () => template
  return (_reqPath, hit) => {
    let out = ''
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (i > 0) out += '/'
      out += 'literal' in p ? p.literal : (hit.params[p.param] ?? '')
    }
    return out
  }
}
