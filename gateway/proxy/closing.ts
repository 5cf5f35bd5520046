// Answers after which the connection closes. A server that sends
// `Connection: close` must not process any further request received on that
// connection (RFC 9112 9.6), but Node's server hands over requests pipelined
// behind it as soon as they are parsed: the socket is marked, and the runtime
// drops such requests unanswered (the connection ends before their turn).
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

const kLastRequest = Symbol('gateway.lastRequest')
type MarkedSocket = Socket & { [kLastRequest]?: IncomingMessage }

/** Makes `req` the last request served on its connection. */
export function refuseFurtherRequests (req: IncomingMessage, socket: Socket | null = req.socket): void {
  if (socket !== null) (socket as MarkedSocket)[kLastRequest] ??= req
}

/** A request that arrived behind an answer closing its connection. */
export function arrivedAfterClose (req: IncomingMessage): boolean {
  const last = (req.socket as MarkedSocket)[kLastRequest]
  return last !== undefined && last !== req
}

/** Makes this answer the connection's last one. */
export function closeAfter (req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders): void {
  headers.connection = 'close'
  // Node detaches `req.socket` from a request body that was destroyed (a body over the limit).
  refuseFurtherRequests(req, req.socket ?? res.socket)
}

/**
 * The request declares a body that has not been fully received. Answering it
 * now leaves the rest on the wire, where it would be read as the next request
 * (or drained at the client's pace): such answers close the connection.
 */
export function bodyUnread (req: IncomingMessage): boolean {
  if (req.complete) return false
  const cl = req.headers['content-length']
  return cl !== undefined ? Number(cl) !== 0 : req.headers['transfer-encoding'] !== undefined
}
