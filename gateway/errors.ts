// The gateway's one error envelope. Every answer the gateway produces itself
// (not relayed from an upstream) is JSON of this shape, with a stable code:
//   {"error":{"status":404,"code":"GW_ROUTE_NOT_FOUND","message":"...","requestId":"..."}}
import type { ErrorReply } from '../plugins/types.js'

export const GatewayErrors = {
  BAD_REQUEST: { status: 400, code: 'GW_BAD_REQUEST', message: 'Malformed request' },
  MISSING_HOST: { status: 400, code: 'GW_BAD_REQUEST', message: 'HTTP/1.1 request without a Host header' },
  BAD_HOST: { status: 400, code: 'GW_BAD_REQUEST', message: 'Host header is invalid or repeated' },
  TRANSFER_ENCODING_HTTP10: { status: 400, code: 'GW_BAD_REQUEST', message: 'Transfer-Encoding is not allowed in an HTTP/1.0 request' },
  BAD_PATH: { status: 400, code: 'GW_BAD_PATH', message: 'Request path is not acceptable (bad escape, NUL, backslash, control character or a character not allowed in a path)' },
  WEBSOCKET_NOT_ALLOWED: { status: 400, code: 'GW_WEBSOCKET_NOT_ALLOWED', message: 'WebSocket upgrade is not enabled on this route' },
  ROUTE_NOT_FOUND: { status: 404, code: 'GW_ROUTE_NOT_FOUND', message: 'No route matches this request' },
  REQUEST_TIMEOUT: { status: 408, code: 'GW_REQUEST_TIMEOUT', message: 'Request was not received in time' },
  BODY_TOO_LARGE: { status: 413, code: 'GW_BODY_TOO_LARGE', message: 'Request body exceeds the limit' },
  URI_TOO_LONG: { status: 414, code: 'GW_URI_TOO_LONG', message: 'Request URI is too long' },
  HEADERS_TOO_LARGE: { status: 431, code: 'GW_HEADERS_TOO_LARGE', message: 'Request header fields are too large' },
  INTERNAL: { status: 500, code: 'GW_INTERNAL', message: 'Internal gateway error' },
  UPSTREAM_REFUSED: { status: 502, code: 'GW_UPSTREAM_REFUSED', message: 'Upstream refused the connection' },
  UPSTREAM_RESET: { status: 502, code: 'GW_UPSTREAM_RESET', message: 'Upstream closed the connection before answering' },
  UPSTREAM_BAD_RESPONSE: { status: 502, code: 'GW_UPSTREAM_BAD_RESPONSE', message: 'Upstream sent an invalid response' },
  UPSTREAM_UNAVAILABLE: { status: 503, code: 'GW_UPSTREAM_UNAVAILABLE', message: 'No upstream node is available' },
  CIRCUIT_OPEN: { status: 503, code: 'GW_CIRCUIT_OPEN', message: 'The route\'s circuit breaker is open: the upstream is not called for now' },
  UPSTREAM_BUSY: { status: 503, code: 'GW_UPSTREAM_BUSY', message: 'The upstream has as many requests as its limits allow', headers: { 'retry-after': '1' } },
  PLUGIN_TIMEOUT: { status: 503, code: 'GW_PLUGIN_TIMEOUT', message: 'A plugin did not decide on this request in time', headers: { 'retry-after': '1' } },
  UPSTREAM_TIMEOUT: { status: 504, code: 'GW_UPSTREAM_TIMEOUT', message: 'Upstream did not answer in time' },
  UPSTREAM_CONNECT_TIMEOUT: { status: 504, code: 'GW_UPSTREAM_CONNECT_TIMEOUT', message: 'Connecting to the upstream timed out' }
} as const satisfies Record<string, Omit<ErrorReply, 'kind'>>

export type GatewayErrorName = keyof typeof GatewayErrors

/** Builds an error reply a plugin or the core can return. */
export function errorReply (status: number, code: string, message: string, headers?: ErrorReply['headers']): ErrorReply {
  return headers === undefined
    ? { kind: 'error', status, code, message }
    : { kind: 'error', status, code, message, headers }
}

/** Replies for the core's own errors, built once. */
export const coreReplies = Object.fromEntries(
  Object.entries(GatewayErrors).map(([name, e]: [string, Omit<ErrorReply, 'kind'>]) =>
    [name, Object.freeze(errorReply(e.status, e.code, e.message, e.headers))])
) as Record<GatewayErrorName, ErrorReply>

export function envelopeBody (status: number, code: string, message: string, requestId: string | undefined): string {
  return JSON.stringify({ error: { status, code, message, requestId: requestId ?? null } })
}
