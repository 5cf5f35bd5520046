// Which answer each upstream failure gets, and which failures may be retried.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { errors } from 'undici'
import { classifyUpstreamError, isRetryable } from '../../../gateway/proxy/upstream-errors.js'

const withCode = (code: string): Error => Object.assign(new Error(code), { code })

test('timeouts are 504, refusals and resets 502, a streaming body over the limit 413', () => {
  const cases: Array<[Error, number, string]> = [
    [new errors.ConnectTimeoutError(), 504, 'GW_UPSTREAM_CONNECT_TIMEOUT'],
    [new errors.HeadersTimeoutError(), 504, 'GW_UPSTREAM_TIMEOUT'],
    [new errors.BodyTimeoutError(), 504, 'GW_UPSTREAM_TIMEOUT'],
    [withCode('ECONNREFUSED'), 502, 'GW_UPSTREAM_REFUSED'],
    [withCode('ENOTFOUND'), 502, 'GW_UPSTREAM_REFUSED'],
    [withCode('ECONNRESET'), 502, 'GW_UPSTREAM_RESET'],
    [new errors.SocketError('other side closed'), 502, 'GW_UPSTREAM_RESET'],
    [new errors.SocketError('bad response'), 502, 'GW_UPSTREAM_BAD_RESPONSE'],
    [new errors.SocketError('bad upgrade'), 502, 'GW_UPSTREAM_BAD_RESPONSE'],
    [withCode('HPE_INVALID_CONSTANT'), 502, 'GW_UPSTREAM_BAD_RESPONSE'],
    [new errors.ResponseContentLengthMismatchError(), 502, 'GW_UPSTREAM_BAD_RESPONSE'],
    [withCode('GW_BODY_TOO_LARGE'), 413, 'GW_BODY_TOO_LARGE'],
    [new Error('something unexpected'), 502, 'GW_UPSTREAM_RESET']
  ]
  for (const [err, status, code] of cases) {
    const r = classifyUpstreamError(err)
    assert.equal(r.status, status, `${err.message}`)
    assert.equal(r.code, code, `${err.message}`)
  }
})

test('only failures before any response are retryable', () => {
  assert.equal(isRetryable(withCode('ECONNREFUSED')), true)
  assert.equal(isRetryable(new errors.SocketError('other side closed')), true)
  assert.equal(isRetryable(new errors.ConnectTimeoutError()), true)
  assert.equal(isRetryable(new errors.HeadersTimeoutError()), false, 'the upstream may be processing it')
  assert.equal(isRetryable(withCode('GW_BODY_TOO_LARGE')), false)
  assert.equal(isRetryable(new errors.SocketError('bad response')), false, 'the upstream answered (a 100 undici refuses)')
})
