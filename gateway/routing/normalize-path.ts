// Canonical request paths.
//
// `normalizePath` turns the path part of a request target (no query string)
// into the single canonical form used both for route matching and for the
// path forwarded upstream, so that the router and the upstream can never
// disagree about what a path means.
//
// Rules, in order:
//  1. The path must start with '/'.
//  2. Percent-escapes are decoded exactly once, and only for the unreserved
//     set (A-Z a-z 0-9 - . _ ~) and '/'. Every other escape is kept, with its
//     hex digits upper-cased (`%3a` -> `%3A`). A double-encoded `%252e` thus
//     stays `%252e` (`%25` is kept; the `2e` after it is literal text), never a dot.
//  3. Runs of '/' are merged into one.
//  4. Dot-segments are resolved as in RFC 3986 section 5.2.4 (`/a/./b/../c` ->
//     `/a/c`, `/..` -> `/`, `/a/b/..` -> `/a/`). A trailing slash is kept.
//
// Refused (null, answer 400): a path not starting with '/'; a segment `..;...`
// or `.;...` (servlet path parameters on a dot-segment); a malformed escape
// (`%zz`, `%4`); NUL, raw or encoded (`%00`); a backslash, raw or encoded
// (`%5C`), by policy, because some upstreams treat it as '/'; raw control
// characters, raw space, and raw bytes above 0x7e (Node's parser already
// refuses most of these; they are checked again here).
//
// Fast path: a path with no '%', no '//' and no '/.' is returned unchanged
// (the very same string) after one scan that allocates nothing.

const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const BACKSLASH = 0x5c
const SEMICOLON = 0x3b

/** Returns the canonical path, or null when the request must be refused with 400. */
export function normalizePath(rawPath: string): string | null {
  const len = rawPath.length
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) return null
  let prev = SLASH
  for (let i = 1; i < len; i++) {
    const c = rawPath.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === BACKSLASH) return null
    if (c === PERCENT || (prev === SLASH && (c === SLASH || c === DOT))) return slowPath(rawPath)
    prev = c
  }
  return rawPath
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const l = c | 0x20
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10
  return -1
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === DOT ||
    c === 0x5f || // _
    c === 0x7e // ~
  )
}

const HEX = '0123456789ABCDEF'

function slowPath(rawPath: string): string | null {
  // Pass 1: validate, decode escapes once, canonicalise the ones kept.
  const len = rawPath.length
  let decoded = ''
  let runStart = 0
  for (let i = 0; i < len; i++) {
    const c = rawPath.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === BACKSLASH) return null
    if (c !== PERCENT) continue
    if (i + 2 >= len) return null
    const hi = hexValue(rawPath.charCodeAt(i + 1))
    const lo = hexValue(rawPath.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) return null
    const v = hi * 16 + lo
    if (v === 0 || v === BACKSLASH) return null
    decoded += rawPath.slice(runStart, i)
    decoded += isUnreserved(v) || v === SLASH ? String.fromCharCode(v) : '%' + HEX[hi] + HEX[lo]
    i += 2
    runStart = i + 1
  }
  decoded += rawPath.slice(runStart)

  // Pass 2: merge slashes and resolve dot-segments.
  const parts = decoded.split('/') // parts[0] is '' (the path starts with '/')
  const out: string[] = []
  const last = parts.length - 1
  let trailingSlash = false
  for (let i = 1; i <= last; i++) {
    const p = parts[i]!
    if (p === '' || p === '.') {
      if (i === last) trailingSlash = true
    } else if (p === '..') {
      out.pop()
      if (i === last) trailingSlash = true
    } else if (p.charCodeAt(0) === DOT && (p.charCodeAt(1) === SEMICOLON || (p.charCodeAt(1) === DOT && p.charCodeAt(2) === SEMICOLON))) {
      // `..;x` / `.;x`: servlet containers strip `;params` and then see a dot-segment
      // that was never resolved here (the Envoy/Tomcat ACL bypass); refused.
      return null
    } else {
      out.push(p)
    }
  }
  if (out.length === 0) return '/'
  return '/' + out.join('/') + (trailingSlash ? '/' : '')
}
