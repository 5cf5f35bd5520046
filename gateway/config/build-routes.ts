// The route part of build-model.ts: checks a route's rewrite rules, header
// names and plugin options (each plugin's check(), also for the top-level
// `plugins:`, given what the config defines: ConfigRefs), then across routes the
// upstream references, duplicate ids and routes no request can tell apart;
// and builds each route's output form (the normalised `match:`).
import type { PluginMap } from '../../plugins/registry.js'
import type { CheckProblem, ConfigRefs } from '../../plugins/types.js'
import { findRouteConflicts } from '../routing/conflicts.js'
import { buildRouteResilience } from './build-breaker.js'
import { paramNames } from './checks.js'
import type { CheckContext } from './issue-sink.js'
import { defineValue, isObj, sortedCopy, type Obj } from './plain-object.js'
import type { RouteConfig, RouteMatch, ValueMatcher } from './types.js'
import { suggest } from './validate.js'
import type { PathSegment } from './yaml-source.js'

/** Checks route `i` (the parts that passed the schema); returns its output form when it is entirely valid. */
export function buildRoute (i: number, r: Obj, bad: Set<string>, ctx: CheckContext, pluginDefs: PluginMap, refs: ConfigRefs): RouteConfig | undefined {
  const { issues, at } = ctx
  const path = ['routes', i]
  const p = `routes/${i}`
  const before = issues.count
  const m = r.match as Obj
  const paths = isObj(m) ? m.paths as string[] : undefined
  const pathsOk = paths !== undefined && !bad.has(`${p}/match`) // match.*: also needed for conflicts
  const rw = r.rewrite as Obj
  if (isObj(rw) && Array.isArray(paths) && !bad.has(`${p}/match/paths`) && !bad.has(`${p}/rewrite`)) {
    checkRewrite(path, paths, rw, ctx)
  }
  const headersIn = (isObj(m) ? m.headers : undefined) as Record<string, ValueMatcher> | undefined
  if (isObj(headersIn) && !bad.has(`${p}/match/headers`)) {
    const seen = new Set<string>()
    for (const name of Object.keys(headersIn)) {
      const lower = name.toLowerCase()
      if (seen.has(lower)) {
        issues.add(at([...path, 'match', 'headers', name], true), [...path, 'match', 'headers'],
          `header ${JSON.stringify(name)} is given twice (header names are case-insensitive)`)
      }
      seen.add(lower)
    }
  }
  const plugins = r.plugins as Obj
  checkPlugins([...path, 'plugins'], plugins, bad, ctx, pluginDefs, refs)
  const resilience = buildRouteResilience(path, r, bad, ctx)
  if (issues.count > before || bad.has(p) || !pathsOk) return undefined

  const stripPrefix = rw.stripPrefix as boolean
  const prefix = rw.prefix as string | undefined
  const template = rw.path as string | undefined
  const match = normalMatch(m)
  const rewrite: RouteConfig['rewrite'] = { stripPrefix }
  if (prefix !== undefined) rewrite.prefix = prefix
  if (template !== undefined) rewrite.path = template
  const out: RouteConfig = {
    id: r.id as string,
    match,
    priority: r.priority as number,
    upstream: r.upstream as string,
    rewrite,
    websocket: r.websocket as boolean,
    plugins: sortedCopy(plugins),
    ...resilience
  }
  if (r.bodyLimit !== undefined) out.bodyLimit = r.bodyLimit as number
  return out
}

/** Runs each plugin's check() on its options in a `plugins:` map at `path` (a route's, or the top-level one). */
export function checkPlugins (path: PathSegment[], plugins: unknown, bad: Set<string>, { issues, at }: CheckContext, pluginDefs: PluginMap, refs: ConfigRefs): void {
  if (!isObj(plugins)) return
  const p = path.join('/')
  for (const name of Object.keys(plugins)) {
    const def = pluginDefs.get(name)
    if (def?.routeOnly === true && path.length === 1) {
      issues.add(at([...path, name], true), [...path, name], `${name} works on a route only (routes[].plugins), not in the top-level plugins:`)
      continue
    }
    if (def?.check === undefined || bad.has(`${p}/${name}`)) continue
    let problems: CheckProblem[]
    try {
      problems = def.check(plugins[name], refs)
    } catch (err) {
      problems = [`check failed: ${(err as Error).message}`]
    }
    for (const problem of problems) {
      // A located problem: at that key inside the options (or its nearest written ancestor).
      const where = typeof problem === 'string' ? [...path, name] : [...path, name, ...problem.path]
      issues.add(at(where), where, typeof problem === 'string' ? problem : problem.message)
    }
  }
}

/** stripPrefix / prefix need `/*` paths; at most one way to rewrite; template parameters must exist. */
function checkRewrite (path: PathSegment[], paths: string[], rw: Obj, { issues, at }: CheckContext): void {
  const stripPrefix = rw.stripPrefix === true
  const prefix = rw.prefix as string | undefined
  const template = rw.path as string | undefined
  const rwPath = [...path, 'rewrite']
  const notPrefixPath = paths.find((x) => !x.endsWith('/*'))
  if (stripPrefix && notPrefixPath !== undefined) {
    issues.add(at([...rwPath, 'stripPrefix']), [...rwPath, 'stripPrefix'],
      `stripPrefix needs every path of the route to end in "/*" (${JSON.stringify(notPrefixPath)} does not)`)
  }
  if (prefix !== undefined && notPrefixPath !== undefined) {
    issues.add(at([...rwPath, 'prefix']), [...rwPath, 'prefix'],
      `prefix needs every path of the route to end in "/*" (${JSON.stringify(notPrefixPath)} does not)`)
  }
  if (prefix !== undefined && template !== undefined) {
    issues.add(at(rwPath), rwPath, 'use either rewrite.prefix or rewrite.path, not both')
  } else if (stripPrefix && (prefix !== undefined || template !== undefined)) {
    const other = prefix !== undefined ? 'prefix' : 'path'
    issues.add(at([...rwPath, 'stripPrefix']), [...rwPath, 'stripPrefix'],
      `stripPrefix cannot be combined with rewrite.${other} (which already replaces the ${other === 'prefix' ? 'prefix' : 'whole path'})`)
  }
  if (template !== undefined) {
    for (const name of paramNames(template)) {
      const missing = paths.find((x) => !paramNames(x).includes(name))
      if (missing !== undefined) {
        issues.add(at([...rwPath, 'path']), [...rwPath, 'path'],
          `uses parameter ":${name}" which path ${JSON.stringify(missing)} does not have`)
        break
      }
    }
  }
}

/** Upstream references, duplicate ids, and routes no request can tell apart. */
export function crossCheckRoutes (routesIn: unknown[], upstreams: Obj, bad: Set<string>, { issues, at }: CheckContext): void {
  const names = Object.keys(upstreams)
  const firstById = new Map<string, number>()
  const entries: Array<{ id: string; match: RouteMatch; priority: number; value: number }> = []
  for (let i = 0; i < routesIn.length; i++) {
    const r = routesIn[i]
    if (!isObj(r)) continue
    const up = r.upstream
    if (typeof up === 'string' && up !== '' && !bad.has(`routes/${i}/upstream`) && !Object.prototype.hasOwnProperty.call(upstreams, up)) {
      const guess = suggest(up, names)
      issues.add(at(['routes', i, 'upstream']), ['routes', i, 'upstream'],
        `unknown upstream ${JSON.stringify(up)}` +
        (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
        (names.length === 0 ? '; no upstreams are defined' : `; defined: ${names.join(', ')}`))
    }
    let unique = true
    if (typeof r.id === 'string' && !bad.has(`routes/${i}/id`)) {
      const first = firstById.get(r.id)
      if (first === undefined) {
        firstById.set(r.id, i)
      } else {
        unique = false
        issues.add(at(['routes', i, 'id']), ['routes', i, 'id'], `duplicate route id ${JSON.stringify(r.id)}`,
          { text: 'first defined at', location: at(['routes', first, 'id']) })
      }
    }
    // Conflicts only need the id, match and priority to be valid.
    const p = `routes/${i}`
    if (unique && typeof r.id === 'string' && isObj(r.match) && !bad.has(p + '/id') && !bad.has(p + '/match') && !bad.has(p + '/priority')) {
      entries.push({ id: r.id, match: normalMatch(r.match), priority: r.priority as number, value: i })
    }
  }
  const indexById = new Map(entries.map((e) => [e.id, e.value]))
  for (const c of findRouteConflicts(entries)) {
    const second = indexById.get(c.second)
    const first = indexById.get(c.first)
    if (second === undefined) continue
    issues.add(at(['routes', second, 'match']), ['routes', second, 'match'], c.reason,
      { text: `route ${JSON.stringify(c.first)} is at`, location: first === undefined ? undefined : at(['routes', first]) })
  }
}

/** The output form of a schema-valid `match:` (hosts lower-cased, methods upper-cased, header names lower-cased). */
function normalMatch (m: Obj): RouteMatch {
  const headers: Record<string, ValueMatcher> = {}
  const headersIn = m.headers as Record<string, ValueMatcher>
  for (const k of Object.keys(headersIn).sort((a, b) => cmp(a.toLowerCase(), b.toLowerCase()))) {
    defineValue(headers, k.toLowerCase(), copyMatcher(headersIn[k]!))
  }
  const query: Record<string, ValueMatcher> = {}
  const queryIn = m.query as Record<string, ValueMatcher>
  for (const k of Object.keys(queryIn).sort()) defineValue(query, k, copyMatcher(queryIn[k]!))
  return {
    hosts: [...new Set((m.hosts as string[]).map((h) => h.trim().toLowerCase()))],
    paths: [...(m.paths as string[])],
    methods: [...new Set((m.methods as string[]).map((x) => x.toUpperCase()))],
    headers,
    query
  }
}

function cmp (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function copyMatcher (m: ValueMatcher): ValueMatcher {
  if (typeof m === 'string') return m
  return 'regex' in m ? { regex: m.regex } : { present: m.present }
}
