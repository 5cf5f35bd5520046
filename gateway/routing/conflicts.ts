// Routes that no request can tell apart.
//
// Two routes conflict when they have the same priority, the same host set
// (compared case-insensitively, as a set; empty = any host), at least one
// identical path pattern (parameter names do not count: `/a/:id` = `/a/:x`),
// the same method set (empty = any) and identical header and query conditions
// (a regex is compared by its source text). On that path the later route can
// never be chosen: the earlier one always wins by declaration order.
//
// Each later route is reported once against the first route it collides with
// (per shared path pattern key). O(n) on average: routes are bucketed by a
// canonical key. Invalid patterns are compared by their raw text (validation
// reports them separately).

import type { RouteMatch, ValueMatcher } from '../config/types.js'
import { parseHostPattern, parsePathPattern } from './pattern.js'
import type { RouteConflict, RouteEntry } from './types.js'

function canonHost(h: string): string {
  try {
    const p = parseHostPattern(h)
    return p.kind === 'exact' ? p.host : '*.' + p.suffix
  } catch {
    return String(h).trim().toLowerCase()
  }
}

function canonPath(p: string): string {
  try {
    return parsePathPattern(p).canonical
  } catch {
    return p
  }
}

function canonMatcher(m: ValueMatcher): string {
  if (typeof m === 'string') return 's' + JSON.stringify(m)
  if (m !== null && typeof m === 'object') {
    if ('regex' in m) return 'r' + JSON.stringify(m.regex)
    if ('present' in m) return 'p' + String(m.present)
  }
  return 'x' + JSON.stringify(m)
}

function canonConditions(conds: Record<string, ValueMatcher> | undefined, lowerNames: boolean): string {
  const items = Object.entries(conds ?? {}).map(([k, v]) => JSON.stringify(lowerNames ? k.toLowerCase() : k) + '=' + canonMatcher(v))
  items.sort()
  return items.join('&')
}

function baseKey(priority: number, m: RouteMatch): string {
  const hosts = [...new Set((m.hosts ?? []).map(canonHost))].sort()
  const methods = [...new Set((m.methods ?? []).map((x) => x.toUpperCase()))].sort()
  return [
    String(priority),
    JSON.stringify(hosts),
    JSON.stringify(methods),
    canonConditions(m.headers, true),
    canonConditions(m.query, false),
  ].join('\n')
}

function describe(m: RouteMatch): string {
  const parts: string[] = []
  parts.push(m.hosts?.length ? `hosts [${m.hosts.join(', ')}]` : 'any host')
  parts.push(m.methods?.length ? `methods [${m.methods.join(', ')}]` : 'any method')
  const nh = Object.keys(m.headers ?? {}).length
  const nq = Object.keys(m.query ?? {}).length
  if (nh || nq) parts.push(`the same ${nh} header and ${nq} query condition(s)`)
  return parts.join(', ')
}

/** Pairs of routes no request can tell apart; `second` is the one that can never be chosen. */
export function findRouteConflicts<T>(entries: RouteEntry<T>[]): RouteConflict[] {
  const firstByKey = new Map<string, { index: number; path: string }>()
  const reported = new Set<string>()
  const conflicts: RouteConflict[] = []
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    const base = baseKey(e.priority, e.match)
    const seenInRoute = new Set<string>()
    for (const path of e.match.paths ?? []) {
      const key = base + '\n' + canonPath(path)
      if (seenInRoute.has(key)) continue
      seenInRoute.add(key)
      const first = firstByKey.get(key)
      if (first === undefined) {
        firstByKey.set(key, { index: i, path })
        continue
      }
      const pair = first.index + ':' + i
      if (reported.has(pair)) continue
      reported.add(pair)
      const f = entries[first.index]!
      const samePath = first.path === path ? `path ${path}` : `paths ${first.path} and ${path}`
      conflicts.push({
        first: f.id,
        second: e.id,
        reason:
          `routes ${JSON.stringify(f.id)} and ${JSON.stringify(e.id)} have the same priority (${e.priority}), ` +
          `${samePath}, ${describe(e.match)}: ${JSON.stringify(e.id)} can never be chosen there`,
      })
    }
  }
  return conflicts
}
