// The route table: compiled once per config, then `find` per request.
//
// Matching (a route matches when ALL of these hold):
//  - Path (the request path must already be normalised, see normalize-path.ts):
//      /a/b     exact. A trailing slash is significant as written: `/a/` matches only `/a/`.
//      /a/:id   `:id` matches exactly one non-empty segment.
//      /a/*     prefix: matches `/a`, `/a/` and anything below `/a/`, never `/ab`.
//               `*` must be the last segment; `/*` matches every path.
//    A route with several paths matches when any of them does.
//  - Host: exact (case-insensitive) or a leading wildcard `*.example.com`, which
//    matches `a.example.com` and `a.b.example.com` but not `example.com`.
//    No hosts: any host. The request host is lower-case, without port.
//  - Methods: the request method is one of the list (exact, upper-case); empty: any.
//  - Headers / query: every condition holds. A condition is an exact string,
//    `{regex}` (a RegExp search, not anchored — write ^...$ for a full match) or
//    `{present: true|false}`. A header sent several times matches when any of its
//    values does. For query conditions the first value of a repeated key is used
//    (URLSearchParams decoding: `+` is a space, escapes are decoded); the query
//    string is parsed at most once per lookup and only if a candidate route has
//    query conditions.
//
// Choosing among matching routes, first difference wins:
//  1. higher `priority`;
//  2. host specificity: exact host > wildcard (longer suffix first) > no host;
//  3. path specificity: exact > pattern with parameters > prefix. Among prefixes,
//     more segments before the `*` first; then (prefixes and parameter
//     patterns alike) more literal segments, then the earliest literal segment;
//  4. more conditions first (a non-empty method list counts one, each header and
//     each query condition one);
//  5. declaration order (then the order of hosts and paths within a route).
// This order is folded into one integer rank per (route, host, path) at compile
// time; a lookup keeps the best-ranked match seen so far. If the best candidate's
// method/header/query conditions fail, the next best is used (e.g. `/api/orders/*`
// with a failing header condition falls back to `/api/*`).
//
// Result: `params` holds the named parameters and, for a prefix pattern, `*` =
// the rest of the path after the prefix and its '/' (`/a/*` on `/a/x/y` gives
// `x/y`; on `/a` or `/a/` it gives ''). Values are taken from the normalised path,
// so they are still percent-encoded where the path is (`%20` stays `%20`).
// `find` returns undefined when nothing matches.
//
// Refused at compile time (RouteCompileError, naming the route): a route without
// paths; a path not starting with '/'; `*` that is not a whole last segment;
// `:` without a name or a repeated name; `//` inside a pattern; `.`/`..` or an
// encoded '/' in a literal segment; an invalid escape or a byte no request path
// may carry raw (`/files/{id}`: see normalize-path.ts); a host with `*` other than
// a leading `*.`; an invalid regex. `pathPatternError`/`hostPatternError`
// (pattern.ts) give the same messages for config validation.
//
// Cost: path matching walks a segment trie (static children in a Map, one
// parameter child, exact and prefix route lists per node), so it does not grow
// with the number of routes. Hosts are indexed: exact host -> trie, wildcard
// suffix -> trie (one Map lookup per dot-suffix of the request host), plus one
// trie for host-less routes. Each trie node knows the best rank below it, so
// subtrees that cannot beat the best match so far are skipped.

import type { IncomingHttpHeaders } from 'node:http'
import type { ValueMatcher } from '../config/types.js'
import { isLiteralSegment, parseHostPattern, parsePathPattern, PatternKind, RoutePatternError } from './pattern.js'
import type { ParsedPattern } from './pattern.js'
import type { RequestView, RouteEntry, RouteHit, Router } from './types.js'

export { RoutePatternError } from './pattern.js'

/** Thrown by compileRouter for an invalid route (bad pattern, host or regex). */
export class RouteCompileError extends Error {
  override name = 'RouteCompileError'
  constructor(
    readonly routeId: string,
    message: string,
  ) {
    super(`route ${JSON.stringify(routeId)}: ${message}`)
  }
}

export const CondKind = { Exact: 0, Regex: 1, Present: 2 } as const

/** A compiled header / query / cookie condition (ValueMatcher); also used by plugins (traffic-split rules). */
export interface ValueCond {
  name: string
  kind: 0 | 1 | 2
  value: string
  regex: RegExp | null
  present: boolean
}

interface Conditions {
  methods: string[] | null
  headers: ValueCond[] | null
  query: ValueCond[] | null
}

interface Leaf<T> {
  rank: number
  entry: RouteEntry<T>
  pattern: ParsedPattern
  /** null: no method/header/query conditions. */
  cond: Conditions | null
  // ranking inputs
  order: number
  priority: number
  hostClass: number // 2 exact, 1 wildcard, 0 none
  hostLen: number
  condCount: number
  /** The exact host or the wildcard suffix ('' when hostClass is 0). */
  host: string
}

/** Larger than any rank; a small integer so V8 keeps it unboxed. */
const NO_RANK = 0x3fffffff

class TrieNode<T> {
  /** A single static child is kept inline; a Map is made from the second one on. */
  oneKey: string | null = null
  oneChild: TrieNode<T> | null = null
  statics: Map<string, TrieNode<T>> | null = null
  param: TrieNode<T> | null = null
  exact: Leaf<T>[] | null = null
  prefix: Leaf<T>[] | null = null
  /** Best (lowest) rank of any route in this subtree (NO_RANK: none yet). */
  minRank = NO_RANK
}

interface LookupState<T> {
  req: RequestView
  segs: string[]
  best: Leaf<T> | null
  bestRank: number
  query: URLSearchParams | null
}

export function compileValueCond(routeId: string, where: string, name: string, m: ValueMatcher): ValueCond {
  if (typeof m === 'string') return { name, kind: CondKind.Exact, value: m, regex: null, present: true }
  if (m !== null && typeof m === 'object') {
    if ('regex' in m && typeof m.regex === 'string') {
      let regex: RegExp
      try {
        regex = new RegExp(m.regex)
      } catch (err) {
        throw new RouteCompileError(routeId, `${where} ${name}: invalid regex: ${(err as Error).message}`)
      }
      return { name, kind: CondKind.Regex, value: '', regex, present: true }
    }
    if ('present' in m && typeof m.present === 'boolean') {
      return { name, kind: CondKind.Present, value: '', regex: null, present: m.present }
    }
  }
  throw new RouteCompileError(routeId, `${where} ${name}: condition must be a string, {regex} or {present}`)
}

/** `v` (undefined or null: absent) meets the condition. */
export function testValue(c: ValueCond, v: string | null | undefined): boolean {
  if (v === undefined || v === null) return c.kind === CondKind.Present && !c.present
  if (c.kind === CondKind.Present) return c.present
  if (c.kind === CondKind.Exact) return v === c.value
  return c.regex!.test(v)
}

/** The header `c.name` of `headers` meets the condition (any value of a repeated header). */
export function headerOk(c: ValueCond, headers: IncomingHttpHeaders): boolean {
  const v = headers[c.name]
  if (typeof v === 'string' || v === undefined) return testValue(c, v)
  if (Array.isArray(v)) {
    if (c.kind === CondKind.Present) return c.present
    for (const one of v) if (testValue(c, one)) return true
    return false
  }
  return testValue(c, undefined) // not a header value (e.g. an inherited property)
}

function conditionsOk<T>(cond: Conditions, st: LookupState<T>): boolean {
  const req = st.req
  if (cond.methods !== null && !cond.methods.includes(req.method)) return false
  if (cond.headers !== null) {
    for (const c of cond.headers) if (!headerOk(c, req.headers)) return false
  }
  if (cond.query !== null) {
    const q = (st.query ??= new URLSearchParams(req.rawQuery))
    for (const c of cond.query) if (!testValue(c, q.get(c.name))) return false
  }
  return true
}

function compareLeaves<T>(a: Leaf<T>, b: Leaf<T>): number {
  if (a.priority !== b.priority) return a.priority > b.priority ? -1 : 1
  if (a.hostClass !== b.hostClass) return b.hostClass - a.hostClass
  if (a.hostLen !== b.hostLen) return b.hostLen - a.hostLen
  const pa = a.pattern
  const pb = b.pattern
  if (pa.kind !== pb.kind) return pa.kind - pb.kind
  if (pa.kind === PatternKind.Prefix && pa.segments.length !== pb.segments.length) {
    return pb.segments.length - pa.segments.length
  }
  if (pa.literalCount !== pb.literalCount) return pb.literalCount - pa.literalCount
  if (pa.literalMask !== pb.literalMask) return pa.literalMask > pb.literalMask ? -1 : 1
  if (a.condCount !== b.condCount) return b.condCount - a.condCount
  return a.order - b.order
}

function staticChild<T>(node: TrieNode<T>, key: string): TrieNode<T> {
  if (node.oneKey === key) return node.oneChild!
  if (node.statics !== null) {
    let child = node.statics.get(key)
    if (child === undefined) {
      child = new TrieNode<T>()
      node.statics.set(key, child)
    }
    return child
  }
  const child = new TrieNode<T>()
  if (node.oneChild === null) {
    node.oneKey = key
    node.oneChild = child
  } else {
    node.statics = new Map([
      [node.oneKey!, node.oneChild],
      [key, child],
    ])
    node.oneKey = null
    node.oneChild = null
  }
  return child
}

function insert<T>(root: TrieNode<T>, leaf: Leaf<T>): void {
  let node = root
  if (leaf.rank < node.minRank) node.minRank = leaf.rank
  const pattern = leaf.pattern
  const segments = pattern.segments
  for (let i = 0; i < segments.length; i++) {
    node = isLiteralSegment(pattern, i) ? staticChild(node, segments[i]!) : (node.param ??= new TrieNode<T>())
    if (leaf.rank < node.minRank) node.minRank = leaf.rank
  }
  // Leaves are inserted in rank order, so every list stays sorted by rank.
  if (leaf.pattern.kind === PatternKind.Prefix) {
    if (node.prefix === null) node.prefix = [leaf]
    else node.prefix.push(leaf)
  } else if (node.exact === null) node.exact = [leaf]
  else node.exact.push(leaf)
}

function pickFrom<T>(list: Leaf<T>[], st: LookupState<T>): void {
  for (let i = 0; i < list.length; i++) {
    const leaf = list[i]!
    if (leaf.rank >= st.bestRank) return
    if (leaf.cond === null || conditionsOk(leaf.cond, st)) {
      st.best = leaf
      st.bestRank = leaf.rank
      return
    }
  }
}

function visit<T>(node: TrieNode<T>, i: number, st: LookupState<T>): void {
  if (node.minRank >= st.bestRank) return
  if (node.prefix !== null) pickFrom(node.prefix, st)
  const segs = st.segs
  if (i === segs.length) {
    if (node.exact !== null) pickFrom(node.exact, st)
    return
  }
  const seg = segs[i]!
  if (node.oneKey === seg) {
    visit(node.oneChild!, i + 1, st)
  } else if (node.statics !== null) {
    const child = node.statics.get(seg)
    if (child !== undefined) visit(child, i + 1, st)
  }
  if (node.param !== null && seg !== '') visit(node.param, i + 1, st)
}

function extractParams(pattern: ParsedPattern, segs: string[]): Record<string, string> {
  const params: Record<string, string> = {}
  const ps = pattern.segments
  if (pattern.paramCount > 0) {
    for (let j = 0; j < ps.length; j++) {
      if (!isLiteralSegment(pattern, j)) params[ps[j]!] = segs[j + 1]!
    }
  }
  if (pattern.kind === PatternKind.Prefix) {
    const from = ps.length + 1
    params['*'] = from >= segs.length ? '' : from === segs.length - 1 ? segs[from]! : segs.slice(from).join('/')
  }
  return params
}

/** A lookup result; params are only extracted when someone reads them (rewrites, plugins). */
class Hit<T> implements RouteHit<T> {
  #params: Record<string, string> | undefined
  constructor(readonly value: T, readonly parsed: ParsedPattern, readonly segs: string[]) {}
  get pattern(): string {
    return this.parsed.source
  }
  get params(): Record<string, string> {
    return (this.#params ??= extractParams(this.parsed, this.segs))
  }
}

function hasKeys(o: object | undefined): boolean {
  if (o === undefined || o === null) return false
  for (const _ in o) return true
  return false
}

const NO_CONDITIONS = { cond: null, count: 0 } as const

function compileConditions(entry: RouteEntry<unknown>): { cond: Conditions | null; count: number } {
  const m = entry.match
  const hasMethods = m.methods !== undefined && m.methods.length > 0
  if (!hasMethods && !hasKeys(m.headers) && !hasKeys(m.query)) return NO_CONDITIONS
  const methods = hasMethods ? [...new Set(m.methods.map((x) => x.toUpperCase()))] : []
  const headers = Object.entries(m.headers ?? {}).map(([name, v]) =>
    compileValueCond(entry.id, 'header', name.toLowerCase(), v),
  )
  const query = Object.entries(m.query ?? {}).map(([name, v]) => compileValueCond(entry.id, 'query', name, v))
  const count = (methods.length > 0 ? 1 : 0) + headers.length + query.length
  return {
    cond: {
      methods: methods.length > 0 ? methods : null,
      headers: headers.length > 0 ? headers : null,
      query: query.length > 0 ? query : null,
    },
    count,
  }
}

interface HostSpec {
  /** 2 exact, 1 wildcard, 0 any host. */
  hostClass: number
  /** Wildcard suffix length (longer is more specific); 0 otherwise. */
  hostLen: number
  /** Exact host, or wildcard suffix without the '*.'. */
  host: string
}

const ANY_HOST: HostSpec[] = [{ hostClass: 0, hostLen: 0, host: '' }]

function compileHosts(entry: RouteEntry<unknown>): HostSpec[] {
  const hosts = entry.match.hosts
  if (hosts === undefined || hosts.length === 0) return ANY_HOST
  const specs: HostSpec[] = []
  for (const h of hosts) {
    let parsed
    try {
      parsed = parseHostPattern(h)
    } catch (err) {
      if (err instanceof RoutePatternError) throw new RouteCompileError(entry.id, err.message)
      throw err
    }
    const spec =
      parsed.kind === 'exact'
        ? { hostClass: 2, hostLen: 0, host: parsed.host }
        : { hostClass: 1, hostLen: parsed.suffix.length, host: parsed.suffix }
    if (!specs.some((x) => x.hostClass === spec.hostClass && x.host === spec.host)) specs.push(spec)
  }
  return specs
}

function compilePattern(entry: RouteEntry<unknown>, source: string): ParsedPattern {
  try {
    return parsePathPattern(source)
  } catch (err) {
    if (err instanceof RoutePatternError) throw new RouteCompileError(entry.id, err.message)
    throw err
  }
}

/** Compiles a route table. Throws RouteCompileError for an invalid route. */
/** Compiles the route table in one go. */
export function compileRouter<T>(entries: RouteEntry<T>[]): Router<T> {
  const steps = compileSteps(entries)
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

/**
 * Compiles the route table in slices, yielding to the event loop between them,
 * so that building a 10,000-route table never stalls request handling for long.
 */
export async function compileRouterAsync<T>(entries: RouteEntry<T>[]): Promise<Router<T>> {
  const steps = compileSteps(entries)
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** Work items between two yields of compileSteps. */
const SLICE = 1000

function* compileSteps<T>(entries: RouteEntry<T>[]): Generator<void, Router<T>> {
  const leaves: Leaf<T>[] = []
  let order = 0
  for (let ei = 0; ei < entries.length; ei++) {
    if (ei > 0 && ei % SLICE === 0) yield
    const entry = entries[ei]!
    const { cond, count } = compileConditions(entry)
    const paths = entry.match.paths
    if (paths === undefined || paths.length === 0) {
      throw new RouteCompileError(entry.id, 'a route needs at least one path')
    }
    const hostSpecs = compileHosts(entry)
    const priority = Number.isFinite(entry.priority) ? entry.priority : 0
    const patterns: ParsedPattern[] = []
    for (let pi = 0; pi < paths.length; pi++) {
      const source = paths[pi]!
      if (pi > 0 && paths.indexOf(source) < pi) continue // duplicate path in one route
      patterns.push(compilePattern(entry, source))
    }
    // declaration order: route, then host, then path
    for (const hs of hostSpecs) {
      for (const pattern of patterns) {
        leaves.push({
          rank: 0,
          entry,
          pattern,
          cond,
          order: order++,
          priority,
          hostClass: hs.hostClass,
          hostLen: hs.hostLen,
          condCount: count,
          host: hs.host,
        })
      }
    }
  }

  yield
  leaves.sort(compareLeaves)
  yield

  const exactHosts = new Map<string, TrieNode<T>>()
  const wildcardHosts = new Map<string, TrieNode<T>>()
  let anyHost: TrieNode<T> | null = null
  for (let r = 0; r < leaves.length; r++) {
    if (r > 0 && r % SLICE === 0) yield
    const leaf = leaves[r]!
    leaf.rank = r
    let root: TrieNode<T> | undefined
    if (leaf.hostClass === 0) {
      root = anyHost ??= new TrieNode<T>()
    } else {
      const map = leaf.hostClass === 2 ? exactHosts : wildcardHosts
      root = map.get(leaf.host)
      if (root === undefined) {
        root = new TrieNode<T>()
        map.set(leaf.host, root)
      }
    }
    insert(root, leaf)
  }

  const size = entries.length
  const hasExact = exactHosts.size > 0
  const hasWildcard = wildcardHosts.size > 0

  return {
    size,
    find(req: RequestView): RouteHit<T> | undefined {
      const path = req.path
      if (path.charCodeAt(0) !== 0x2f) return undefined
      const st: LookupState<T> = { req, segs: path.split('/'), best: null, bestRank: NO_RANK, query: null }
      const host = req.host
      if (hasExact) {
        const t = exactHosts.get(host)
        if (t !== undefined) visit(t, 1, st)
      }
      if (hasWildcard) {
        for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
          const t = wildcardHosts.get(host.slice(dot + 1))
          if (t !== undefined) visit(t, 1, st)
        }
      }
      if (anyHost !== null) visit(anyHost, 1, st)
      const best = st.best
      if (best === null) return undefined
      return new Hit(best.entry.value, best.pattern, st.segs)
    },
  }
}
