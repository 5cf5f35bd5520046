// The admin API's own errors, in the gateway's one envelope (see errors.ts),
// and the mapping of what Fastify raises by itself on the admin port (bad JSON,
// unknown content type, body too large, a bug in a handler) onto it.
import type { FastifyReply } from 'fastify'
import { envelopeBody, GatewayErrors } from '../errors.js'

export interface AdminError { readonly status: number; readonly code: string; readonly message: string }

export const AdminErrors = {
  BAD_REQUEST: { status: 400, code: 'GW_ADMIN_BAD_REQUEST', message: 'Malformed admin request' },
  UNAUTHORIZED: { status: 401, code: 'GW_ADMIN_UNAUTHORIZED', message: 'Missing or wrong admin bearer token' },
  NOT_FOUND: { status: 404, code: 'GW_ADMIN_NOT_FOUND', message: 'No admin endpoint at this path' },
  METHOD_NOT_ALLOWED: { status: 405, code: 'GW_ADMIN_METHOD_NOT_ALLOWED', message: 'Method not allowed on this admin endpoint' },
  BODY_TOO_LARGE: { status: 413, code: 'GW_ADMIN_BODY_TOO_LARGE', message: 'Admin request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 'GW_ADMIN_UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported content type for this admin endpoint' },
  INTERNAL: GatewayErrors.INTERNAL
} as const satisfies Record<string, AdminError>

/** Sends `e` as the envelope, with the request's id (also in `x-request-id`); `message` overrides the stock one. */
export function sendAdminError (reply: FastifyReply, e: AdminError, message = e.message): FastifyReply {
  const id = reply.request.id
  return reply.code(e.status).header('content-type', 'application/json; charset=utf-8').header('x-request-id', id)
    .send(envelopeBody(e.status, e.code, message, id))
}

/**
 * The admin error for an error Fastify raised (its `statusCode`), and whether its
 * message can be shown: client errors say what was wrong; anything else is a
 * bug, answered 500 with the stock message (and logged by the caller).
 */
export function adminErrorFor (err: { statusCode?: number }): { e: AdminError; showMessage: boolean } {
  switch (err.statusCode) {
    case 400: return { e: AdminErrors.BAD_REQUEST, showMessage: true }
    case 404: return { e: AdminErrors.NOT_FOUND, showMessage: false }
    case 405: return { e: AdminErrors.METHOD_NOT_ALLOWED, showMessage: false }
    case 413: return { e: AdminErrors.BODY_TOO_LARGE, showMessage: false }
    case 415: return { e: AdminErrors.UNSUPPORTED_MEDIA_TYPE, showMessage: false }
    default: {
      const s = err.statusCode
      // Any other client error keeps its status; its code says the request was at fault.
      if (s !== undefined && s >= 400 && s < 500) return { e: { ...AdminErrors.BAD_REQUEST, status: s }, showMessage: true }
      return { e: AdminErrors.INTERNAL, showMessage: false }
    }
  }
}
