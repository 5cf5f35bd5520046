// The split key: what makes a split sticky. `header:NAME` (the first value when
// repeated), `cookie:NAME`, or `ip` (the client IP, trusted-proxy aware).
// undefined when the request does not carry it (it then gets a random bucket).
import type { MatchView } from '../types.js'

export type SplitKeyFn = (view: MatchView) => string | undefined

export function compileSplitKey (key: string): SplitKeyFn {
  if (key === 'ip') return (view) => view.clientIp === '' ? undefined : view.clientIp
  const colon = key.indexOf(':')
  const kind = key.slice(0, colon)
  const name = key.slice(colon + 1)
  if (kind === 'header') {
    const lower = name.toLowerCase()
    return (view) => {
      const v = view.headers[lower]
      const s = Array.isArray(v) ? v[0] : v
      return s === undefined || s === '' ? undefined : s
    }
  }
  if (kind === 'cookie') {
    return (view) => {
      const v = cookieValue(view.headers.cookie, name)
      return v === '' ? undefined : v
    }
  }
  throw new Error(`split key ${JSON.stringify(key)} cannot be extracted`)
}

/** The value of cookie `name` in a Cookie header (`a=1; b=2`), as sent (no decoding); undefined when absent. */
export function cookieValue (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let from = 0
  for (;;) {
    const i = header.indexOf(name, from)
    if (i < 0) return undefined
    const after = i + name.length
    // A whole name: at the start or after ';' (and spaces), and followed by '='.
    let j = i - 1
    while (j >= 0 && (header.charCodeAt(j) === 32 || header.charCodeAt(j) === 9)) j--
    if ((j < 0 || header.charCodeAt(j) === 59 /* ; */) && header.charCodeAt(after) === 61 /* = */) {
      const end = header.indexOf(';', after + 1)
      const v = (end < 0 ? header.slice(after + 1) : header.slice(after + 1, end)).trim()
      return v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34 ? v.slice(1, -1) : v
    }
    from = i + 1
  }
}
