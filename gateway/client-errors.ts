// Requests Node's HTTP parser refuses itself, before or while handing them to
// the gateway: malformed framing (400), a head too large (414 when the request
// line alone overflows it, else 431), a head or body not received in time (408),
// oversized chunk extensions (413). The answer is the JSON envelope, in its turn
// after the requests pipelined before the faulty one, and the connection closes.
import http from 'node:http'
import type { Socket } from 'node:net'
import { envelopeBody, GatewayErrors } from './errors.js'

/** Node's client error: the bytes being parsed when it failed, and how far the parser got in them. */
type ClientError = NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: number }

const kRefusing = Symbol('gateway.refusing')

type ServerSocket = Socket & {
  /** The response Node is writing on this socket; the ones behind it wait in Node's queue. */
  _httpMessage?: http.ServerResponse | null
  /** Node's request parser; `incoming` is the last request it handed over. */
  parser?: { incoming?: http.IncomingMessage | null } | null
  [kRefusing]?: true
}

export type GatewayError = (typeof GatewayErrors)[keyof typeof GatewayErrors]

/**
 * Called when the error is written: `res` is the faulty request's own response
 * when its head had reached the handler, undefined when no request existed.
 */
export type OnRefused = (e: GatewayError, res: http.ServerResponse | undefined) => void

export function clientErrorReply (err: ClientError, socket: Socket, onRefused?: OnRefused): void {
  const s = socket as ServerSocket
  // Once in error, the parser reports it again for every later byte: one answer.
  if (s[kRefusing] === true) return
  s[kRefusing] = true
  // A parse error can come after the head was handed to the handler (an unknown
  // Transfer-Encoding, a bad chunk size): that request is the faulty one, and
  // its response, if it has sent nothing yet, is replaced by the error.
  const incoming = s.parser?.incoming
  const faulty = incoming != null && !incoming.complete ? incoming : undefined
  answerInTurn(s, errorFor(err), faulty, onRefused)
}

/**
 * Responses to the requests before the faulty one go out first, in order: waits
 * until the response on the socket is the faulty request's own (or none), then
 * writes the error unless that response has started, and closes.
 */
function answerInTurn (socket: ServerSocket, e: GatewayError, faulty: http.IncomingMessage | undefined, onRefused: OnRefused | undefined): void {
  const pending = socket._httpMessage
  if (pending != null && pending.req !== faulty) {
    // Node's own 'finish' handler runs first and moves the next queued response onto the socket.
    pending.once('finish', () => answerInTurn(socket, e, faulty, onRefused))
    return
  }
  if (socket.writable && (pending == null || !pending.headersSent)) {
    const body = envelopeBody(e.status, e.code, e.message, undefined)
    socket.end(`HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    onRefused?.(e, pending ?? undefined)
  }
  socket.destroySoon()
}

function errorFor (err: ClientError): GatewayError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return inRequestLine(err) ? GatewayErrors.URI_TOO_LONG : GatewayErrors.HEADERS_TOO_LARGE
    case 'ERR_HTTP_REQUEST_TIMEOUT': return GatewayErrors.REQUEST_TIMEOUT
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return GatewayErrors.BODY_TOO_LARGE
    default: return GatewayErrors.BAD_REQUEST
  }
}

// A request line's start: method, one space, a target. A header line (`name:`) never looks like this.
const REQUEST_LINE_START = /^[A-Z]+ (?:\/|\*|[A-Za-z][A-Za-z0-9+.-]*:)/

/**
 * Whether the head overflowed inside its request line: the line the parser
 * stopped in, within the bytes it was parsing, is a request line. Node reports
 * only the current read, so a request line trickled in over several reads whose
 * start is in an earlier one counts as header overflow (431).
 */
function inRequestLine (err: ClientError): boolean {
  const raw = err.rawPacket
  const at = err.bytesParsed
  if (!Buffer.isBuffer(raw) || typeof at !== 'number' || at <= 0) return false
  const start = raw.lastIndexOf(10, Math.min(at, raw.length) - 1) + 1
  return REQUEST_LINE_START.test(raw.toString('latin1', start, Math.min(start + 64, raw.length)))
}
