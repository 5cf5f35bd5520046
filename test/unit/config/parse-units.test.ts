import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { substitute } from '../../../gateway/config/env.js'
import { parseDuration } from '../../../gateway/config/parse-duration.js'
import { parseSize } from '../../../gateway/config/parse-size.js'
import { editDistance, suggest } from '../../../gateway/config/validate.js'

describe('parseSize', () => {
  const table: Array<[unknown, number | undefined]> = [
    [0, 0],
    [1024, 1024],
    ['1024', 1024],
    ['512kb', 512 * 1024],
    ['512KB', 512 * 1024],
    ['512k', 512 * 1024],
    ['1mb', 1048576],
    ['10m', 10 * 1048576],
    ['10 MiB', 10 * 1048576],
    ['1gb', 1024 ** 3],
    ['1.5mb', 1.5 * 1048576],
    ['100b', 100],
    [' 2kb ', 2048],
    [-1, undefined],
    [1.5, undefined],
    ['', undefined],
    ['1tb', undefined],
    ['kb', undefined],
    ['-1kb', undefined],
    ['1e3', undefined],
    [true, undefined],
    [null, undefined]
  ]
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} -> ${String(expected)}`, () => assert.equal(parseSize(input), expected))
  }
})

describe('parseDuration', () => {
  const table: Array<[unknown, number | undefined]> = [
    [0, 0],
    [250, 250],
    ['250', 250],
    ['250ms', 250],
    ['30s', 30000],
    ['30S', 30000],
    ['1.5s', 1500],
    ['5m', 300000],
    ['1h', 3600000],
    ['0.1s', 100],
    ['0.5ms', undefined],
    ['10 sec', undefined],
    ['1d', undefined],
    ['-5s', undefined],
    [-1, undefined],
    [2.5, undefined],
    ['', undefined],
    [false, undefined]
  ]
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} -> ${String(expected)}`, () => assert.equal(parseDuration(input), expected))
  }
})

describe('substitute', () => {
  const env = { A: 'alpha', N: '42', EMPTY: '' }
  const table: Array<[string, ReturnType<typeof substitute>]> = [
    ['plain', { ok: true, value: 'plain', whole: false }],
    ['${A}', { ok: true, value: 'alpha', whole: true }],
    ['${N}', { ok: true, value: '42', whole: true }],
    ['x-${A}-${N}', { ok: true, value: 'x-alpha-42', whole: false }],
    ['${MISSING:-dflt}', { ok: true, value: 'dflt', whole: true }],
    ['${EMPTY:-dflt}', { ok: true, value: 'dflt', whole: true }],
    ['${EMPTY}', { ok: true, value: '', whole: true }],
    ['${MISSING:-}', { ok: true, value: '', whole: true }],
    ['$${A}', { ok: true, value: '${A}', whole: false }],
    ['cost: $5', { ok: true, value: 'cost: $5', whole: false }],
    ['${MISSING}', { ok: false, message: 'environment variable MISSING is not set (use ${MISSING:-default} to give a default)' }],
    ['${A', { ok: false, message: 'unterminated "${" (write "$${" for a literal "${")' }],
    ['${A B}', { ok: false, message: 'invalid variable reference "${A B}" (expected ${NAME} or ${NAME:-default})' }]
  ]
  for (const [input, expected] of table) {
    it(JSON.stringify(input), () => assert.deepEqual(substitute(input, env), expected))
  }
})

describe('suggestions', () => {
  it('edit distance counts a transposition as one edit', () => {
    assert.equal(editDistance('weigth', 'weight'), 1)
    assert.equal(editDistance('', 'abc'), 3)
    assert.equal(editDistance('kitten', 'sitting'), 3)
  })
  it('suggests only plausible typos', () => {
    assert.equal(suggest('weigth', ['url', 'weight', 'zone', 'metadata']), 'weight')
    assert.equal(suggest('bodylimit', ['bodyLimit', 'trustedProxies']), 'bodyLimit')
    assert.equal(suggest('foo', ['url', 'weight']), undefined)
  })
})
