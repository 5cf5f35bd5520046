// How an upstream failure becomes an answer: 504 for timeouts, 502 for refused,
// reset or invalid responses (never a bare 500), 413 when the request body grew
// past the limit while streaming.
import { coreReplies } from '../errors.js'
import type { ErrorReply, OutcomeKind } from '../../plugins/types.js'

export function classifyUpstreamError (err: Error): ErrorReply {
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'GW_BODY_TOO_LARGE':
      return coreReplies.BODY_TOO_LARGE
    case 'UND_ERR_CONNECT_TIMEOUT':
      return coreReplies.UPSTREAM_CONNECT_TIMEOUT
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return coreReplies.UPSTREAM_TIMEOUT
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return coreReplies.UPSTREAM_REFUSED
    case 'UND_ERR_SOCKET':
      return badResponse(err) ? coreReplies.UPSTREAM_BAD_RESPONSE : coreReplies.UPSTREAM_RESET
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      return coreReplies.UPSTREAM_RESET
    default:
      if (code !== undefined && code.startsWith('HPE_')) return coreReplies.UPSTREAM_BAD_RESPONSE
      if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') return coreReplies.UPSTREAM_BAD_RESPONSE
      return coreReplies.UPSTREAM_RESET
  }
}

/**
 * Failures after which an idempotent, body-less request may go to another node:
 * the connection was refused or unreachable, or the socket was reset before any
 * response byte (typically a kept-alive socket the upstream had just closed).
 */
export function isRetryable (err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ||
    code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CONNECT_TIMEOUT' ||
    (code === 'UND_ERR_SOCKET' && !badResponse(err))
}

/**
 * undici's socket errors for a response it will not parse on HTTP/1.1: a
 * `100 Continue` (it never sends Expect, and drops the connection rather than
 * skip the 100) or a 101 to a request that asked for no upgrade. The upstream
 * did answer, so this is an invalid response, not a reset, and not worth a retry.
 */
function badResponse (err: Error): boolean {
  return err.message === 'bad response' || err.message === 'bad upgrade'
}

/** What an attempt's failure says about the node (see OutcomeKind). */
export function outcomeKind (err: Error): OutcomeKind {
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect'
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout'
    case 'GW_BODY_TOO_LARGE':
      // The client's body outgrew the limit: nothing to do with the node.
      return 'cancelled'
    default:
      return classifyUpstreamError(err) === coreReplies.UPSTREAM_BAD_RESPONSE ? 'bad-response' : 'reset'
  }
}
