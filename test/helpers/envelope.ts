// The gateway's error envelope as a raw client sees it, and the refusal that
// ends the connection (see gateway/errors.ts).
import assert from 'node:assert/strict'
import type { RawResponse } from './raw-http.js'

export interface Envelope { error: { status: number; code: string; message: string; requestId: string | null } }

/** Asserts a gateway envelope with this status and code, its Content-Length matching the body; returns it. */
export function assertEnvelope (r: RawResponse, status: number, code: string, what: string): Envelope {
  assert.equal(r.status, status, `${what}: status\n${r.raw.slice(0, 400)}`)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8', what)
  const env = JSON.parse(r.body) as Envelope
  assert.equal(env.error.status, status, what)
  assert.equal(env.error.code, code, what)
  assert.equal(typeof env.error.message, 'string')
  assert.equal(Buffer.byteLength(r.body), Number(r.headers['content-length']), `${what}: content-length matches the body`)
  return env
}

/** A refusal that ends the connection: this envelope, `connection: close`, the socket closed by the gateway, one response only. */
export function assertClosingRefusal (r: RawResponse, status: number, code: string, what: string): void {
  assertEnvelope(r, status, code, what)
  assert.equal(r.headers.connection, 'close', `${what}: connection: close`)
  assert.equal(r.closed, true, `${what}: the gateway closed the connection`)
  assert.equal(r.raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `${what}: exactly one response (no smuggled second one)`)
}
