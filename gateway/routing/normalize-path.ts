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
// refuses most of these; they are checked again here); the raw bytes RFC 3986
// allows nowhere in a URI: " < > ` { } | ^ , and # [ ] which it allows only
// as delimiters outside a path (Node's parser lets all of them through).
// Escaped (`%22`, `%7B`, `%23`, ...) they are ordinary path data.
//
// Fast path: a path with no '//', no '/.' and no escape that decodes (of an
// unreserved character or '/') is handled in one scan: returned unchanged (the
// very same string; nothing allocated), or with the hex of its escapes
// upper-cased when some were lower-case.
//
// What is forwarded: `pathToForward` gives the client's own bytes when they
// differ from the canonical form at most in the hex case of escapes (the same
// meaning, byte for byte what a signature over the raw path was computed on),
// and the canonical form otherwise.

const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const BACKSLASH = 0x5c
const SEMICOLON = 0x3b

/** 1 for the ASCII bytes never accepted raw in a path (see above); bytes above 0x7e are refused too. */
const REFUSED = new Uint8Array(0x80)
for (let c = 0; c <= 0x20; c++) REFUSED[c] = 1
for (const ch of '\\"<>`{}|^#[]') REFUSED[ch.charCodeAt(0)] = 1

/** True for a byte a path may not carry raw (an escape of it may be fine). */
export function refusedRaw(c: number): boolean {
  return c > 0x7e || REFUSED[c] === 1
}

/** Returns the canonical path, or null when the request must be refused with 400. */
export function normalizePath(rawPath: string): string | null {
  const len = rawPath.length
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) return null
  let prev = SLASH
  let lowerHex = false
  for (let i = 1; i < len; i++) {
    const c = rawPath.charCodeAt(i)
    if (c > 0x7e || REFUSED[c] === 1) return null
    if (c === PERCENT) {
      // An escape that is kept changes nothing but (maybe) its hex case.
      if (i + 2 >= len) return null
      const h = rawPath.charCodeAt(i + 1)
      const l = rawPath.charCodeAt(i + 2)
      const hi = hexValue(h)
      const lo = hexValue(l)
      if (hi < 0 || lo < 0) return null
      const v = hi * 16 + lo
      if (v === 0 || v === BACKSLASH) return null
      if (v === SLASH || isUnreserved(v)) return slowPath(rawPath)
      if (h >= 0x61 || l >= 0x61) lowerHex = true
      i += 2
      prev = l
      continue
    }
    if (prev === SLASH && (c === SLASH || c === DOT)) return slowPath(rawPath)
    prev = c
  }
  return lowerHex ? upperCaseEscapes(rawPath) : rawPath
}

/** `%c3%af` -> `%C3%AF`, for a path whose escapes are all valid. */
function upperCaseEscapes(path: string): string {
  let out = ''
  let runStart = 0
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 3)) {
    out += path.slice(runStart, i + 1) + path.slice(i + 1, i + 3).toUpperCase()
    runStart = i + 3
  }
  return out + path.slice(runStart)
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
    if (c > 0x7e || REFUSED[c] === 1) return null
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

/**
 * The path to forward for a request whose path `rawPath` normalised to `canonical`:
 * `rawPath` itself when the two differ at most in the hex case of escapes
 * (`%c3%af` for `%C3%AF`: the same bytes once decoded, RFC 3986 6.2.2.1), else
 * `canonical` (escapes decoded, dot-segments resolved or slashes merged: the
 * upstream gets the form the route was chosen on, never a path of the client's
 * that its own decoding could resolve differently). A raw path is returned only
 * when it matches the canonical form character for character but for the case
 * of hex digits, so its segments sit where the route matched them: a rewrite
 * cuts it where it would cut the canonical form.
 */
export function pathToForward(rawPath: string, canonical: string): string {
  return rawPath === canonical || sameButHexCase(rawPath, canonical) ? rawPath : canonical
}

function sameButHexCase(rawPath: string, canonical: string): boolean {
  const len = rawPath.length
  if (len !== canonical.length) return false
  for (let i = 0; i < len; i++) {
    const r = rawPath.charCodeAt(i)
    const c = canonical.charCodeAt(i)
    if (r === c) continue
    // Canonical hex digits are upper-case; every '%' in the canonical form starts an escape.
    const inEscape = canonical.charCodeAt(i - 1) === PERCENT || canonical.charCodeAt(i - 2) === PERCENT
    if (!inEscape || c < 0x41 || c > 0x46 || r !== (c | 0x20)) return false
  }
  return true
}
