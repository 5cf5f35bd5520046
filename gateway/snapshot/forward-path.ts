// Compiles a route's `rewrite:` into the function that turns the normalised
// request path into the path sent upstream. Done once per route per config.
import type { RouteConfig } from '../config/types.js'
import { normalizePath } from '../routing/normalize-path.js'
import type { RouteHit } from '../routing/types.js'

type ForwardPath = (path: string, hit: RouteHit<unknown>) => string

const identity: ForwardPath = (path) => path

/**
 * Length of a prefix pattern's literal part in canonical form (what request
 * paths are compared in): `/api/*` -> 4, `/%7Euser/*` -> 6 (`/~user`), `/*` -> 0.
 */
function canonicalPrefixLength (pattern: string): number {
  const literal = pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern
  return literal === '' ? 0 : (normalizePath(literal) ?? literal).length
}

export function compileForwardPath (route: RouteConfig): ForwardPath {
  const { stripPrefix, prefix, path } = route.rewrite
  if (path !== undefined) return compileTemplate(path)
  if (!stripPrefix && prefix === undefined) return identity
  const replacement = (prefix ?? '').replace(/\/+$/, '')
  const prefixLength = new Map(route.match.paths.map((p) => [p, canonicalPrefixLength(p)]))
  return (reqPath, hit) => {
    const rest = reqPath.slice(prefixLength.get(hit.pattern) ?? 0)
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
