// Interim (1xx) responses from an upstream, relayed to the client ahead of the
// final response (RFC 9110 15.2: a proxy forwards them). Node writes two kinds:
// 103 Early Hints with its headers, and a bare 102 Processing; any other 1xx is
// dropped, and so is every one for an HTTP/1.0 client, which must never get a
// 1xx. A 100 never arrives here (undici refuses it on HTTP/1.1; the gateway
// answers `Expect: 100-continue` itself) and a 101 is an upgrade.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { copyResponseHeaders } from './hop-by-hop.js'

export function relayInterim (req: IncomingMessage, res: ServerResponse, status: number, raw: Buffer[]): void {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return
  if (status === 102) return res.writeProcessing()
  if (status !== 103) return
  const hints = copyResponseHeaders(raw)
  // RFC 9110 8.6: no Content-Length in a 1xx.
  delete hints['content-length']
  for (const name in hints) {
    const value = hints[name]
    if (Array.isArray(value) && name !== 'link') hints[name] = value.join(', ')
  }
  try {
    // Writes nothing without a Link header.
    res.writeEarlyHints(hints as Record<string, string | string[]>)
  } catch {
    // A Link value Node's stricter syntax check refuses: the hints are only an optimisation, drop them.
  }
}
