// Compiles a route's `rewrite:` into the function that turns the request path
// into the path sent upstream. Done once per route per config.
//
// The path given is what `pathToForward` (normalize-path.ts) chose: the
// canonical path the route was matched on, or the client's own bytes when they
// differ from it only in the hex case of escapes. The two then have the same
// length and the same segments at the same places, so a prefix is cut at its
// canonical length and a template takes each parameter from its segment of the
// given path: the client's bytes survive every rewrite.
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
  if (path !== undefined) return compileTemplate(path, route.match.paths)
  if (!stripPrefix && prefix === undefined) return identity
  const replacement = (prefix ?? '').replace(/\/+$/, '')
  const prefixLength = new Map(route.match.paths.map((p) => [p, canonicalPrefixLength(p)]))
  return (reqPath, hit) => {
    const rest = reqPath.slice(prefixLength.get(hit.pattern) ?? 0)
    const out = replacement + rest
    return out === '' ? '/' : out.charCodeAt(0) === 47 ? out : '/' + out
  }
}

/**
 * `/users/:id/profile` -> parts joined with the parameters, each read from the
 * segment of the request path where the matched pattern has it.
 */
function compileTemplate (template: string, patterns: string[]): ForwardPath {
  const parts = template.split('/').map((seg) => seg.startsWith(':') ? { param: seg.slice(1) } : { literal: seg })
  if (parts.every((p) => 'literal' in p)) return () => template
  // Per pattern, the segment index (in `path.split('/')`) of each template part that
  // is a parameter, -1 for a literal. Validation insists every pattern has them all.
  const indexes = new Map(patterns.map((pattern) => {
    const segs = pattern.split('/')
    return [pattern, parts.map((p) => 'param' in p ? segs.indexOf(':' + p.param) : -1)]
  }))
  return (reqPath, hit) => {
    const at = indexes.get(hit.pattern)
    let out = ''
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (i > 0) out += '/'
      if ('literal' in p) out += p.literal
      else out += at === undefined || at[i]! < 0 ? (hit.params[p.param] ?? '') : segment(reqPath, at[i]!)
    }
    return out
  }
}

/** Segment `n` of a path (`/a/b` has '' at 0, 'a' at 1, 'b' at 2). */
function segment (path: string, n: number): string {
  let start = 0
  for (let k = 0; k < n; k++) start = path.indexOf('/', start) + 1
  const end = path.indexOf('/', start)
  return end < 0 ? path.slice(start) : path.slice(start, end)
}
