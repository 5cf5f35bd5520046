// Hop-by-hop headers (RFC 9110 7.6.1) apply to one connection only and are never
// forwarded, in either direction; neither is any header the Connection header
// names. Stripping happens BEFORE the gateway adds its own headers, so a client
// cannot use `Connection: x-forwarded-for` to remove what the gateway sets.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { util } from 'undici'

// Lower-cased header name from undici's raw buffer; well-known names come from a lookup tree, not a string copy.
const { headerNameToString } = util

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
  // Goes with an h2c Upgrade, which the gateway ignores; connection-specific (RFC 7540 3.2.1).
  'http2-settings',
  // undici refuses `expect`; the gateway itself answers 100-continue to the client.
  'expect'
])

/** Names listed in a Connection header, lower-cased ('' entries dropped). */
function connectionTokens (value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined
  const joined = Array.isArray(value) ? value.join(',') : value
  let tokens: Set<string> | undefined
  for (const raw of joined.split(',')) {
    const t = raw.trim().toLowerCase()
    if (t !== '' && t !== 'close' && t !== 'keep-alive') (tokens ??= new Set()).add(t)
  }
  return tokens
}

/** Copies request headers for the upstream, minus hop-by-hop ones. */
export function copyRequestHeaders (headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const listed = connectionTokens(headers.connection)
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name))) continue
    out[name] = headers[name]
  }
  return out
}

/**
 * Turns undici's raw response headers (alternating name/value buffers) into an
 * object for the client, minus hop-by-hop ones. Repeated headers become arrays
 * (set-cookie must never be joined).
 */
export function copyResponseHeaders (raw: Buffer[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  let listed: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = headerNameToString(raw[i]!)
    const value = raw[i + 1]!.toString('latin1')
    if (name === 'connection') {
      listed = connectionTokens(value)
      continue
    }
    if (HOP_BY_HOP.has(name)) continue
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [String(prev), value]
  }
  if (listed !== undefined) for (const name of listed) delete out[name]
  return out
}
