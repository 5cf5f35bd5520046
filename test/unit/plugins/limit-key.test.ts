// The key of a limit: which requests share a counter.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkKey, compileKey } from '../../../plugins/limit-common/key.js'
import type { RequestContext } from '../../../gateway/proxy/request-context.js'

function ctx (headers: Record<string, string | string[]>, clientIp = '10.0.0.1', route = 'orders'): RequestContext {
  return { headers, clientIp, route: { id: route } } as unknown as RequestContext
}

test('no part: one counter for everything', () => {
  const k = compileKey([])
  assert.equal(k(ctx({})), '')
  assert.equal(k(ctx({ 'x-user': 'a' }, '10.9.9.9', 'other')), '')
})

test('route, ip and header parts, alone and combined', () => {
  assert.equal(compileKey(['route'])(ctx({})), 'orders')
  assert.equal(compileKey(['ip'])(ctx({})), '10.0.0.1')
  assert.equal(compileKey(['header:X-User'])(ctx({ 'x-user': 'u-17' })), 'u-17')
  assert.equal(compileKey(['route', 'ip', 'header:x-user'])(ctx({ 'x-user': 'u-17' })), 'orders|10.0.0.1|u-17')
})

test('a missing header counts under the empty value; a repeated one is joined', () => {
  const k = compileKey(['header:x-user', 'ip'])
  assert.equal(k(ctx({})), '|10.0.0.1')
  assert.equal(compileKey(['header:x-tag'])(ctx({ 'x-tag': ['a', 'b'] })), 'a%2C%20b')
})

test('values that hold the separator cannot collide with other combinations', () => {
  const k = compileKey(['header:a', 'header:b'])
  const one = k(ctx({ a: 'x|y', b: 'z' }))
  const two = k(ctx({ a: 'x', b: 'y|z' }))
  assert.notEqual(one, two)
  assert.equal(one, 'x%7Cy|z')
  // and a Redis key built from it has no spaces, newlines or ':' from the client
  assert.doesNotMatch(compileKey(['header:a'])(ctx({ a: 'p:q r\nnä' })), /[:\s]|ä/)
})

test('consumer is refused until consumers exist', () => {
  assert.deepEqual(checkKey(['route', 'ip']), [])
  assert.equal(checkKey(['consumer']).length, 1)
  assert.throws(() => compileKey(['consumer']), /cannot be extracted/)
})
