// Requests Node's HTTP parser refuses before a request exists (malformed head,
// head too large, head or request not received in time): answered with the
// envelope, written straight to the socket, and the connection closed.
import http from 'node:http'
import type { Socket } from 'node:net'
import { envelopeBody, GatewayErrors } from './errors.js'

export type ClientErrorAnswer = (typeof GatewayErrors)[keyof typeof GatewayErrors]

/** Maps Node's client errors to the envelope: 431, 408, 413, else 400; always closes. Returns the error answered, if one could be. */
export function answerClientError (err: NodeJS.ErrnoException, socket: Socket): ClientErrorAnswer | undefined {
  const e = err.code === 'HPE_HEADER_OVERFLOW'
    ? GatewayErrors.HEADERS_TOO_LARGE
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? GatewayErrors.REQUEST_TIMEOUT
      : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? GatewayErrors.BODY_TOO_LARGE
        : GatewayErrors.BAD_REQUEST
  // A parse error can come after the head was handed to the handler (an unknown
  // Transfer-Encoding, a bad chunk size): a response then exists but has sent
  // nothing yet, and the client must still get the 400 (as Node's default does).
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  let answered: ClientErrorAnswer | undefined
  if (socket.writable && (pending == null || pending.headersSent !== true)) {
    const body = envelopeBody(e.status, e.code, e.message, undefined)
    socket.end(`HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    answered = e
  }
  socket.destroySoon()
  return answered
}
