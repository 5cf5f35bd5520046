import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePath, pathToForward } from '../../../gateway/routing/normalize-path.js'

describe('normalizePath', () => {
  const table: Array<[string, string | null]> = [
    // plain
    ['/', '/'],
    ['/api/orders/123', '/api/orders/123'],
    ['/a-b_c~d/e.f', '/a-b_c~d/e.f'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a..b/c', '/a..b/c'],
    ['/api/:x@y!$&\'()*+,;=', '/api/:x@y!$&\'()*+,;='],
    // trailing slash kept
    ['/api/', '/api/'],
    ['/api/orders/', '/api/orders/'],
    // duplicate slashes
    ['//', '/'],
    ['//api//orders///1', '/api/orders/1'],
    ['/api//', '/api/'],
    // dot segments (RFC 3986 5.2.4)
    ['/a/./b/../c', '/a/c'],
    ['/..', '/'],
    ['/../../x', '/x'],
    ['/.', '/'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/..', '/'],
    ['/api/../admin', '/admin'],
    ['/api/./admin/', '/api/admin/'],
    ['/a/.b/..c/', '/a/.b/..c/'],
    // encoded dots and slashes
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/%2E%2E/admin', '/admin'],
    ['/api/.%2e/admin', '/admin'],
    ['/api/..%2fadmin', '/admin'],
    ['/api/..%2Fadmin', '/admin'],
    ['/a%2fb', '/a/b'],
    ['/a%2F%2Fb', '/a/b'],
    ['/a/%2e/b', '/a/b'],
    // unreserved decoded, everything else canonical upper-case hex
    ['/%41%62%7e%2d%5f%30', '/Ab~-_0'],
    ['/a%20b', '/a%20b'],
    ['/a%3ab', '/a%3Ab'],
    ['/a%3Ab', '/a%3Ab'],
    ['/%c3%a9', '/%C3%A9'],
    ['/a%25b', '/a%25b'],
    ['/a%3fb', '/a%3Fb'],
    ['/a%0a', '/a%0A'],
    ['/%c3%a9/%3a%40x/%E2%82%ac', '/%C3%A9/%3A%40x/%E2%82%AC'],
    ['/%c3%a9/./x', '/%C3%A9/x'],
    ['/%c3%a9//%41', '/%C3%A9/A'],
    ['/%3a/%2e%2e/%c3%a9', '/%C3%A9'],
    ['/%3a/%2f', '/%3A/'],
    // decoded once only: double encoding stays literal text
    ['/a/%252e%252e/admin', '/a/%252e%252e/admin'],
    ['/a/%252E', '/a/%252E'],
    ['/a/%252fb', '/a/%252fb'],
    // refused
    ['', null],
    ['api', null],
    ['*', null],
    ['%2fapi', null],
    ['/x/..;/admin', null], // servlet path parameter on a dot-segment
    ['/x/.;jsessionid=1/admin', null],
    ['/x/%2e%2e;/admin', null],
    ['/x/..a/b', '/x/..a/b'], // not a dot-segment at all
    ['/a;b/c', '/a;b/c'], // a semicolon elsewhere is ordinary
    ['/a%zz', null],
    ['/a%4', null],
    ['/a%', null],
    ['/a%g0', null],
    ['/a%00b', null],
    ['/a\u0000b', null],
    ['/a\\b', null],
    ['/a%5cb', null],
    ['/a%5Cb', null],
    ['/a\\..\\b', null],
    ['/a\nb', null],
    ['/a\rb', null],
    ['/a\tb', null],
    ['/a\u007fb', null],
    ['/a b', null],
    ['/caf\u00e9', null],
    ['/a/%2e%2e/\u0001', null],
    // bytes RFC 3986 allows nowhere in a URI, raw; escaped they are ordinary data
    ['/a"b', null],
    ['/a<b', null],
    ['/a>b', null],
    ['/a`b', null],
    ['/a{b', null],
    ['/a}b', null],
    ['/a|b', null],
    ['/a^b', null],
    // '#', '[' and ']' are delimiters of other URI parts, never path data when raw
    ['/a#b', null],
    ['/a[b', null],
    ['/a]b', null],
    ['/{id}', null],
    ['/a/../{', null],
    ['/a%2f|', null],
    ['/%22%3c%3e%60%7b%7d%7c%5e', '/%22%3C%3E%60%7B%7D%7C%5E'],
    ['/%23%5b%5d', '/%23%5B%5D'],
  ]
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(input), expected)
    })
  }

  it('returns the very same string on the fast path', () => {
    const s = ['/api', 'orders', '123'].join('/')
    assert.equal(normalizePath(s), s)
  })

  it('is idempotent on everything it accepts', () => {
    for (const [input, expected] of table) {
      if (expected === null) continue
      assert.equal(normalizePath(expected), expected, `normalising ${JSON.stringify(expected)} again (from ${input})`)
    }
  })
})

describe('pathToForward', () => {
  // [raw path, what is forwarded]: the raw bytes when only the hex case of escapes differs, else the canonical form.
  const table: Array<[string, string]> = [
    ['/api/orders/1', '/api/orders/1'],
    ['/na%c3%afve', '/na%c3%afve'],
    ['/na%C3%AFve', '/na%C3%AFve'],
    ['/%C3%a9/%3a%3A/', '/%C3%a9/%3a%3A/'],
    ['/a%252e', '/a%252e'],
    ['/%7c%5e', '/%7c%5e'],
    // meaning-bearing changes: canonical, hex case and all
    ['/%41%c3%a9', '/A%C3%A9'],
    ['/%7euser/%c3%a9', '/~user/%C3%A9'],
    ['/a//%c3%a9', '/a/%C3%A9'],
    ['/a/./%c3%a9', '/a/%C3%A9'],
    ['/a/b/../%c3%a9', '/a/%C3%A9'],
    ['/a%2f%c3%a9', '/a/%C3%A9'],
    ['/a/%2e%2e/%c3%a9', '/%C3%A9'],
    ['/a/.', '/a/']
  ]
  for (const [raw, expected] of table) {
    it(`${raw} -> ${expected}`, () => {
      const canonical = normalizePath(raw)
      assert.notEqual(canonical, null)
      assert.equal(pathToForward(raw, canonical!), expected)
    })
  }

  it('what is forwarded always normalises to the path the route was chosen on', () => {
    for (const [raw] of table) {
      const canonical = normalizePath(raw)!
      assert.equal(normalizePath(pathToForward(raw, canonical)), canonical, raw)
    }
  })

  it('returns the very same string when nothing changed', () => {
    const s = ['/api', 'orders', '123'].join('/')
    assert.equal(pathToForward(s, normalizePath(s)!), s)
  })
})
