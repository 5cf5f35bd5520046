// Route path patterns and host patterns: parsing and validation, shared by the
// router and the conflict finder.
//
//   /a/b        exact (a trailing slash is significant: `/a/` matches only `/a/`)
//   /a/:id      named parameter: exactly one non-empty segment
//   /a/*        prefix: `/a`, `/a/` and everything below `/a/` (never `/ab`)
//   /*          everything
//
// `*` must be a whole segment and the last one; `:name` must be a whole segment
// (name: PARAM_NAME_RE, a letter or '_' followed by letters, digits or '_';
// unique within the pattern). Literal
// segments are put in the same canonical form as request paths (see
// normalize-path.ts), so `/%7euser` is the same pattern as `/~user`.

import { normalizePath, refusedRaw } from './normalize-path.js'

export class RoutePatternError extends Error {
  override name = 'RoutePatternError'
}

/** Path specificity class: exact > parameters > prefix. */
export const PatternKind = { Exact: 0, Param: 1, Prefix: 2 } as const
export type PatternKind = (typeof PatternKind)[keyof typeof PatternKind]

export interface ParsedPattern {
  /** The pattern as written. */
  source: string
  /**
   * Segments after the leading '/', without the final `*` of a prefix pattern:
   * the canonical literal text, or the parameter name (see literalMask). A
   * trailing slash is a final empty literal segment.
   */
  segments: string[]
  kind: PatternKind
  /** Number of literal segments. */
  literalCount: number
  /** One char per segment, '1' literal / '0' parameter; compared as a string, earliest literal wins. */
  literalMask: string
  /** Number of parameter segments. */
  paramCount: number
  /** Parameter names replaced by ':' — equal for patterns no request can tell apart. */
  canonical: string
}

/**
 * A parameter name (`:name`): a letter or '_' followed by letters, digits or '_'.
 * The one rule for the router and config validation (gateway/config/checks.ts).
 */
export const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

function patternError(source: string, why: string): RoutePatternError {
  return new RoutePatternError(`path pattern ${JSON.stringify(source)}: ${why}`)
}

/** A literal pattern segment in canonical form; throws when it cannot match a canonical path. */
function literalSegment(source: string, p: string): string {
  if (p === '.' || p === '..') throw patternError(source, 'dot-segments are not allowed')
  const canon = normalizePath('/' + p)
  if (canon === null) {
    const hint = p.startsWith('{') && p.endsWith('}') ? ' (a parameter is written :name)' : ''
    throw patternError(source, `segment ${JSON.stringify(p)} has invalid characters or escapes${hint}`)
  }
  if (canon.length < 2 || canon.indexOf('/', 1) !== -1) {
    throw patternError(source, `segment ${JSON.stringify(p)} encodes '/' or a dot-segment`)
  }
  return canon.slice(1)
}

const maskCache = new Map<string, string>()

/** Interns literal masks: few distinct values, one per pattern otherwise. */
function internMask(mask: string): string {
  const hit = maskCache.get(mask)
  if (hit !== undefined) return hit
  if (maskCache.size < 4096) maskCache.set(mask, mask)
  return mask
}

/** Parses a path pattern; throws RoutePatternError when it is not valid. */
export function parsePathPattern(source: string): ParsedPattern {
  if (typeof source !== 'string' || source.charCodeAt(0) !== 0x2f) {
    throw new RoutePatternError(`path pattern ${JSON.stringify(source)} must start with '/'`)
  }
  const segments = source.split('/')
  segments.shift() // the '' before the leading '/'
  let n = segments.length
  const last = n - 1
  let prefix = false
  let paramCount = 0
  let literalMask = ''
  let canonicalDiffers = false
  for (let i = 0; i < n; i++) {
    const p = segments[i]!
    const c0 = p.charCodeAt(0)
    if (c0 === 0x3a /* : */) {
      const name = p.slice(1)
      if (!PARAM_NAME_RE.test(name)) {
        throw patternError(source, `parameter name ${JSON.stringify(name)} must be a letter or '_' followed by letters, digits or '_'`)
      }
      if (name === '__proto__') throw patternError(source, 'parameter name __proto__ is reserved')
      for (let j = 0; j < i; j++) {
        if (literalMask.charCodeAt(j) === 0x30 && segments[j] === name) {
          throw patternError(source, `parameter :${name} appears twice`)
        }
      }
      segments[i] = name
      literalMask += '0'
      paramCount++
      canonicalDiffers = true
      continue
    }
    if (p === '*') {
      if (i !== last) throw patternError(source, `'*' is only allowed as the last segment`)
      prefix = true
      segments.pop()
      n--
      break
    }
    if (p === '') {
      if (i !== last) throw patternError(source, "empty segment ('//')")
      // trailing slash: a literal empty last segment
    } else {
      let plain = c0 !== 0x2e /* . */
      for (let j = 0; j < p.length && plain; j++) {
        const c = p.charCodeAt(j)
        if (refusedRaw(c) || c === 0x25 /* % */ || c === 0x2a /* * */) plain = false
      }
      if (!plain) {
        if (p.includes('*')) throw patternError(source, "'*' must be a whole segment")
        const lit = literalSegment(source, p)
        if (lit !== p) {
          segments[i] = lit
          canonicalDiffers = true
        }
      }
    }
    literalMask += '1'
  }
  const kind: PatternKind = prefix ? PatternKind.Prefix : paramCount > 0 ? PatternKind.Param : PatternKind.Exact
  let canonical = source
  if (canonicalDiffers) {
    canonical = ''
    for (let j = 0; j < n; j++) {
      canonical += '/' + (literalMask.charCodeAt(j) === 0x31 ? segments[j] : ':')
    }
    if (prefix) canonical += '/*'
  }
  return {
    source,
    segments,
    kind,
    literalCount: n - paramCount,
    literalMask: internMask(literalMask),
    paramCount,
    canonical,
  }
}

/** True when segment `i` of a parsed pattern is a literal (false: a parameter). */
export function isLiteralSegment(p: ParsedPattern, i: number): boolean {
  return p.literalMask.charCodeAt(i) === 0x31
}

/** Why a path pattern is invalid, or undefined when it is valid (for config validation). */
export function pathPatternError(source: string): string | undefined {
  try {
    parsePathPattern(source)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

export type ParsedHost = { kind: 'exact'; host: string } | { kind: 'wildcard'; suffix: string }

/**
 * Parses a host pattern: an exact host (compared case-insensitively) or a
 * leading wildcard `*.example.com` (any host ending in `.example.com`, not
 * `example.com` itself). Throws RoutePatternError when invalid.
 */
export function parseHostPattern(source: string): ParsedHost {
  const h = typeof source === 'string' ? source.trim().toLowerCase() : ''
  if (h === '') throw new RoutePatternError(`host pattern ${JSON.stringify(source)} is empty`)
  if (h.startsWith('*.')) {
    const suffix = h.slice(2)
    if (suffix === '' || suffix.includes('*') || suffix.startsWith('.')) {
      throw new RoutePatternError(`host pattern ${JSON.stringify(source)}: wildcard must be '*.domain'`)
    }
    return { kind: 'wildcard', suffix }
  }
  if (h.includes('*')) {
    throw new RoutePatternError(
      `host pattern ${JSON.stringify(source)}: only a leading '*.' wildcard is allowed (no hosts means any host)`,
    )
  }
  return { kind: 'exact', host: h }
}

/** Why a host pattern is invalid, or undefined when it is valid. */
export function hostPatternError(source: string): string | undefined {
  try {
    parseHostPattern(source)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
