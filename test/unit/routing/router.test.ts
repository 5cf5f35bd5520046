import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import type { RouteMatch } from '../../../gateway/config/types.js'
import { compileRouter, RouteCompileError } from '../../../gateway/routing/router.js'
import { parsePathPattern, pathPatternError, hostPatternError } from '../../../gateway/routing/pattern.js'
import type { RequestView, RouteEntry, RouteHit, Router } from '../../../gateway/routing/types.js'

/** A hit as plain data (params are computed lazily by a getter on the real object). */
function plain<T>(hit: RouteHit<T> | undefined): { value: T; pattern: string; params: Record<string, string> } | undefined {
  return hit === undefined ? undefined : { value: hit.value, pattern: hit.pattern, params: hit.params }
}

type Spec = Partial<RouteMatch> & { priority?: number }

function route(id: string, spec: Spec): RouteEntry<string> {
  return {
    id,
    priority: spec.priority ?? 0,
    value: id,
    match: {
      hosts: spec.hosts ?? [],
      paths: spec.paths ?? ['/*'],
      methods: spec.methods ?? [],
      headers: spec.headers ?? {},
      query: spec.query ?? {},
    },
  }
}

function req(path: string, opts: Partial<Omit<RequestView, 'path'>> = {}): RequestView {
  return {
    method: opts.method ?? 'GET',
    host: opts.host ?? 'example.org',
    path,
    headers: opts.headers ?? ({} as IncomingHttpHeaders),
    rawQuery: opts.rawQuery ?? '',
  }
}

function find(router: Router<string>, path: string, opts: Partial<Omit<RequestView, 'path'>> = {}): string | undefined {
  return router.find(req(path, opts))?.value
}

describe('compileRouter: path patterns', () => {
  const router = compileRouter([
    route('root', { paths: ['/'] }),
    route('api-prefix', { paths: ['/api/*'] }),
    route('orders-exact', { paths: ['/api/orders'] }),
    route('orders-slash', { paths: ['/api/orders/'] }),
    route('order-param', { paths: ['/api/orders/:id'] }),
    route('order-items', { paths: ['/api/orders/:id/items'] }),
    route('order-export', { paths: ['/api/orders/export'] }),
    route('users-param', { paths: ['/users/:uid/posts/:pid'] }),
    route('files', { paths: ['/files/*'] }),
    route('files-deep', { paths: ['/files/public/*'] }),
    route('static-a', { paths: ['/static/a', '/static/b'] }),
  ])

  const table: Array<[string, string | undefined]> = [
    ['/', 'root'],
    ['/api', 'api-prefix'],
    ['/api/', 'api-prefix'],
    ['/api/x/y/z', 'api-prefix'],
    ['/apix', undefined],
    ['/apix/orders', undefined],
    ['/api/orders', 'orders-exact'],
    ['/api/orders/', 'orders-slash'],
    ['/api/orders/42', 'order-param'],
    ['/api/orders/export', 'order-export'],
    ['/api/orders/42/', 'api-prefix'],
    ['/api/orders/42/items', 'order-items'],
    ['/api/orders/42/items/9', 'api-prefix'],
    ['/users/7/posts/8', 'users-param'],
    ['/users/7/posts', undefined],
    ['/users/7/posts/8/9', undefined],
    ['/files', 'files'],
    ['/files/x', 'files'],
    ['/files/public', 'files-deep'],
    ['/files/public/a/b', 'files-deep'],
    ['/files/publicx', 'files'],
    ['/filesx', undefined],
    ['/static/a', 'static-a'],
    ['/static/b', 'static-a'],
    ['/static/c', undefined],
    ['/nothing', undefined],
  ]
  for (const [path, expected] of table) {
    it(`${path} -> ${String(expected)}`, () => {
      assert.equal(find(router, path), expected)
    })
  }

  it('size is the number of routes', () => {
    assert.equal(router.size, 11)
  })

  it('extracts named params for the winner only', () => {
    assert.deepEqual(plain(router.find(req('/users/alice/posts/p%20q'))), {
      value: 'users-param',
      pattern: '/users/:uid/posts/:pid',
      params: { uid: 'alice', pid: 'p%20q' },
    })
    assert.deepEqual(plain(router.find(req('/api/orders/42/items'))), {
      value: 'order-items',
      pattern: '/api/orders/:id/items',
      params: { id: '42' },
    })
    assert.deepEqual(router.find(req('/api/orders'))?.params, {})
  })

  it('puts the remainder of a prefix match in params["*"]', () => {
    assert.deepEqual(router.find(req('/files/public/a/b/c.txt'))?.params, { '*': 'a/b/c.txt' })
    assert.deepEqual(router.find(req('/files/one'))?.params, { '*': 'one' })
    assert.deepEqual(router.find(req('/files/one/'))?.params, { '*': 'one/' })
    assert.deepEqual(router.find(req('/files'))?.params, { '*': '' })
    assert.deepEqual(router.find(req('/files/'))?.params, { '*': '' })
    assert.equal(router.find(req('/files/x'))?.pattern, '/files/*')
  })

  it('params and * together', () => {
    const r = compileRouter([route('t', { paths: ['/t/:tenant/*'] })])
    assert.deepEqual(plain(r.find(req('/t/acme/a/b'))), { value: 't', pattern: '/t/:tenant/*', params: { tenant: 'acme', '*': 'a/b' } })
    assert.deepEqual(r.find(req('/t/acme'))?.params, { tenant: 'acme', '*': '' })
    assert.equal(r.find(req('/t')), undefined)
    assert.equal(r.find(req('/t/')), undefined)
  })

  it('/* matches everything, including /', () => {
    const r = compileRouter([route('all', { paths: ['/*'] })])
    assert.deepEqual(plain(r.find(req('/'))), { value: 'all', pattern: '/*', params: { '*': '' } })
    assert.deepEqual(r.find(req('/a/b'))?.params, { '*': 'a/b' })
  })

  it('a param never matches an empty segment', () => {
    const r = compileRouter([route('p', { paths: ['/a/:id'] }), route('p2', { paths: ['/b/:id/'] })])
    assert.equal(find(r, '/a/'), undefined)
    assert.equal(find(r, '/a/1'), 'p')
    assert.equal(find(r, '/b/1/'), 'p2')
    assert.equal(find(r, '/b/1'), undefined)
  })

  it('matches literal segments in canonical form', () => {
    const r = compileRouter([route('tilde', { paths: ['/%7euser/%3a'] })])
    assert.equal(find(r, '/~user/%3A'), 'tilde')
  })

  it('returns undefined for a path that is not normalised to start with /', () => {
    const r = compileRouter([route('all', { paths: ['/*'] })])
    assert.equal(find(r, 'x'), undefined)
  })
})

describe('compileRouter: precedence', () => {
  it('exact > param > prefix', () => {
    const r = compileRouter([
      route('prefix', { paths: ['/a/*'] }),
      route('param', { paths: ['/a/:x'] }),
      route('exact', { paths: ['/a/b'] }),
    ])
    assert.equal(find(r, '/a/b'), 'exact')
    assert.equal(find(r, '/a/c'), 'param')
    assert.equal(find(r, '/a/c/d'), 'prefix')
  })

  it('among params: more literal segments, then the earliest literal wins', () => {
    const r = compileRouter([
      route('p0', { paths: ['/:a/:b/:c'] }),
      route('p-late', { paths: ['/:a/:b/c'] }),
      route('p-mid', { paths: ['/:a/b/:c'] }),
      route('p-early', { paths: ['/a/:b/:c'] }),
      route('p-two', { paths: ['/:a/b/c'] }),
    ])
    assert.equal(find(r, '/a/b/c'), 'p-two')
    assert.equal(find(r, '/a/b/x'), 'p-early')
    assert.equal(find(r, '/x/b/x'), 'p-mid')
    assert.equal(find(r, '/x/x/c'), 'p-late')
    assert.equal(find(r, '/x/x/x'), 'p0')
    assert.deepEqual(r.find(req('/x/b/c'))?.params, { a: 'x' })
  })

  it('among prefixes the longer one wins', () => {
    const r = compileRouter([
      route('all', { paths: ['/*'] }),
      route('api', { paths: ['/api/*'] }),
      route('v1', { paths: ['/api/v1/*'] }),
      route('v1-param', { paths: ['/api/:ver/*'] }),
    ])
    assert.equal(find(r, '/api/v1/x'), 'v1')
    assert.equal(find(r, '/api/v1'), 'v1')
    assert.equal(find(r, '/api/v2/x'), 'v1-param')
    assert.equal(find(r, '/api'), 'api')
    assert.equal(find(r, '/apiv1'), 'all')
  })

  it('priority overrides specificity', () => {
    const r = compileRouter([
      route('exact', { paths: ['/a/b'] }),
      route('catch-all', { paths: ['/*'], priority: 10 }),
      route('low', { paths: ['/z'], priority: -1 }),
      route('low-prefix', { paths: ['/z/*'] }),
    ])
    assert.equal(find(r, '/a/b'), 'catch-all')
    assert.equal(find(r, '/z'), 'catch-all')
    const r2 = compileRouter([route('low', { paths: ['/z'], priority: -1 }), route('low-prefix', { paths: ['/z/*'] })])
    assert.equal(find(r2, '/z'), 'low-prefix')
  })

  it('host: exact > longer wildcard > shorter wildcard > none, before path specificity', () => {
    const r = compileRouter([
      route('none', { paths: ['/api/orders/1'] }),
      route('wild-short', { hosts: ['*.example.com'], paths: ['/api/*'] }),
      route('wild-long', { hosts: ['*.eu.example.com'], paths: ['/*'] }),
      route('exact', { hosts: ['Shop.Example.com'], paths: ['/*'] }),
    ])
    assert.equal(find(r, '/api/orders/1', { host: 'shop.example.com' }), 'exact')
    assert.equal(find(r, '/api/orders/1', { host: 'a.eu.example.com' }), 'wild-long')
    assert.equal(find(r, '/api/orders/1', { host: 'x.y.eu.example.com' }), 'wild-long')
    assert.equal(find(r, '/api/orders/1', { host: 'eu.example.com' }), 'wild-short')
    assert.equal(find(r, '/api/orders/1', { host: 'a.example.com' }), 'wild-short')
    assert.equal(find(r, '/other', { host: 'a.example.com' }), undefined)
    assert.equal(find(r, '/api/orders/1', { host: 'example.com' }), 'none')
    assert.equal(find(r, '/api/orders/1', { host: 'example.org' }), 'none')
    assert.equal(find(r, '/api/orders/2', { host: 'example.com' }), undefined)
  })

  it('a route with hosts does not match other hosts', () => {
    const r = compileRouter([route('h', { hosts: ['a.com', '*.b.com'], paths: ['/x'] })])
    assert.equal(find(r, '/x', { host: 'a.com' }), 'h')
    assert.equal(find(r, '/x', { host: 'q.b.com' }), 'h')
    assert.equal(find(r, '/x', { host: 'b.com' }), undefined)
    assert.equal(find(r, '/x', { host: 'xa.com' }), undefined)
    assert.equal(find(r, '/x', { host: 'c.com' }), undefined)
  })

  it('more conditions beat fewer; declaration order breaks the last tie', () => {
    const r = compileRouter([
      route('first', { paths: ['/a'] }),
      route('second', { paths: ['/a'] }),
      route('get', { paths: ['/a'], methods: ['GET'] }),
      route('get-json', { paths: ['/a'], methods: ['GET'], headers: { accept: 'application/json' } }),
    ])
    assert.equal(find(r, '/a', { headers: { accept: 'application/json' } }), 'get-json')
    assert.equal(find(r, '/a', { headers: { accept: 'text/html' } }), 'get')
    assert.equal(find(r, '/a', { method: 'POST' }), 'first')
  })
})

describe('compileRouter: conditions and fallback', () => {
  it('method lists; empty means any', () => {
    const r = compileRouter([
      route('write', { paths: ['/r'], methods: ['post', 'PUT'] }),
      route('read', { paths: ['/r'], methods: ['GET', 'HEAD'] }),
    ])
    assert.equal(find(r, '/r', { method: 'POST' }), 'write')
    assert.equal(find(r, '/r', { method: 'PUT' }), 'write')
    assert.equal(find(r, '/r', { method: 'HEAD' }), 'read')
    assert.equal(find(r, '/r', { method: 'DELETE' }), undefined)
  })

  it('a failing header condition falls back to the next best route', () => {
    const r = compileRouter([
      route('api', { paths: ['/api/*'] }),
      route('orders-beta', { paths: ['/api/orders/*'], headers: { 'x-beta': '1' } }),
      route('order-v2', { paths: ['/api/orders/:id'], headers: { 'x-version': { regex: '^v2' } } }),
    ])
    assert.equal(find(r, '/api/orders/5', { headers: { 'x-version': 'v2.1' } }), 'order-v2')
    assert.equal(find(r, '/api/orders/5', { headers: { 'x-version': 'v1', 'x-beta': '1' } }), 'orders-beta')
    assert.equal(find(r, '/api/orders/5', { headers: { 'x-version': 'v1' } }), 'api')
    assert.equal(find(r, '/api/orders/5/x', { headers: { 'x-beta': '1' } }), 'orders-beta')
    assert.equal(find(r, '/api/orders/5/x', { headers: { 'x-beta': '2' } }), 'api')
  })

  it('a failing condition on a higher-priority route falls back to a lower one', () => {
    const r = compileRouter([
      route('canary', { paths: ['/*'], priority: 5, headers: { 'x-canary': { present: true } } }),
      route('normal', { paths: ['/shop/*'] }),
    ])
    assert.equal(find(r, '/shop/1', { headers: { 'x-canary': '' } }), 'canary')
    assert.equal(find(r, '/shop/1'), 'normal')
  })

  it('header regex is an unanchored search, compiled once', () => {
    const r = compileRouter([route('ua', { paths: ['/'], headers: { 'User-Agent': { regex: 'bot|crawler' } } })])
    assert.equal(find(r, '/', { headers: { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1)' } }), 'ua')
    assert.equal(find(r, '/', { headers: { 'user-agent': 'curl/8' } }), undefined)
    assert.equal(find(r, '/'), undefined)
  })

  it('header presence and absence; repeated headers match on any value', () => {
    const r = compileRouter([
      route('no-auth', { paths: ['/p'], headers: { authorization: { present: false } } }),
      route('auth', { paths: ['/p'], headers: { authorization: { present: true } }, priority: 1 }),
      route('cookie', { paths: ['/c'], headers: { 'set-cookie': 'b=2' } }),
    ])
    assert.equal(find(r, '/p', { headers: { authorization: 'Bearer x' } }), 'auth')
    assert.equal(find(r, '/p'), 'no-auth')
    assert.equal(find(r, '/c', { headers: { 'set-cookie': ['a=1', 'b=2'] } }), 'cookie')
    assert.equal(find(r, '/c', { headers: { 'set-cookie': ['a=1'] } }), undefined)
  })

  it('query conditions: exact, regex, presence, first of repeated keys', () => {
    const r = compileRouter([
      route('any', { paths: ['/q'] }),
      route('v2', { paths: ['/q'], query: { version: '2' } }),
      route('debug', { paths: ['/q'], query: { debug: { present: true } }, priority: 1 }),
      route('id', { paths: ['/q'], query: { id: { regex: '^[0-9]+$' } } }),
    ])
    assert.equal(find(r, '/q', { rawQuery: 'version=2' }), 'v2')
    assert.equal(find(r, '/q', { rawQuery: 'version=2&version=3' }), 'v2')
    assert.equal(find(r, '/q', { rawQuery: 'version=3&version=2' }), 'any')
    assert.equal(find(r, '/q', { rawQuery: 'a=1&debug' }), 'debug')
    assert.equal(find(r, '/q', { rawQuery: 'id=123' }), 'id')
    assert.equal(find(r, '/q', { rawQuery: 'id=12a' }), 'any')
    assert.equal(find(r, '/q', { rawQuery: '' }), 'any')
    assert.equal(find(r, '/q', { rawQuery: 'version=%32' }), 'v2')
  })
})

describe('compileRouter: errors and validation helpers', () => {
  it('rejects invalid patterns with the route id', () => {
    const bad = ['api', '/a/*/b', '/a*', '/a/:', '/a/:x/:x', '/a//b', '/a/../b', '/a%zz', '/a%2fb', '/a/:__proto__',
      // bytes a request path may not carry raw: a pattern with them could never match
      '/files/{id}', '/a"b', '/a<b', '/a>b', '/a`b', '/a|b', '/a^b', '/a}']
    for (const p of bad) {
      assert.throws(
        () => compileRouter([route('bad', { paths: [p] })]),
        (err: unknown) => err instanceof RouteCompileError && err.routeId === 'bad',
        p,
      )
      assert.equal(typeof pathPatternError(p), 'string', p)
    }
    assert.equal(pathPatternError('/a/:id/*'), undefined)
    assert.equal(pathPatternError('/files/%7Bid%7D'), undefined, 'escaped, they are ordinary text')
    assert.match(pathPatternError('/files/{id}') ?? '', /:name/, 'a brace parameter gets a hint')
  })

  it('rejects bad hosts, bad regexes and routes without paths', () => {
    assert.throws(() => compileRouter([route('h', { hosts: ['a.*.com'] })]), RouteCompileError)
    assert.throws(() => compileRouter([route('h', { hosts: ['*'] })]), RouteCompileError)
    assert.throws(() => compileRouter([route('r', { headers: { x: { regex: '(' } } })]), RouteCompileError)
    assert.throws(() => compileRouter([route('p', { paths: [] })]), /at least one path/)
    assert.equal(hostPatternError('*.example.com'), undefined)
    assert.equal(typeof hostPatternError('*example.com'), 'string')
  })

  it('parsePathPattern canonical form ignores parameter names', () => {
    assert.equal(parsePathPattern('/a/:id/b').canonical, '/a/:/b')
    assert.equal(parsePathPattern('/a/:x/b').canonical, '/a/:/b')
    assert.equal(parsePathPattern('/a/:x/*').canonical, '/a/:/*')
    assert.equal(parsePathPattern('/%7Ea/').canonical, '/~a/')
    assert.equal(parsePathPattern('/*').canonical, '/*')
    assert.equal(parsePathPattern('/').canonical, '/')
  })
})

describe('compileRouter: 10,000 routes', () => {
  const N = 10_000
  const entries: RouteEntry<string>[] = []
  for (let i = 0; i < N; i++) {
    const k = i % 4
    const hosts = i % 100 === 0 ? [`h${i}.example.com`] : i % 250 === 1 ? [`*.w${i}.example.com`] : []
    const path = k === 0 ? `/s${i}/list` : k === 1 ? `/s${i}/items/:id` : k === 2 ? `/s${i}/*` : `/shared/${i}/:a/:b`
    entries.push(route(`r${i}`, { hosts, paths: [path], methods: i % 7 === 0 ? ['POST'] : [] }))
  }
  entries.push(route('api', { paths: ['/api/*'] }))
  entries.push(route('order', { paths: ['/api/orders/:id'] }))
  const router = compileRouter(entries)

  it('has all routes', () => {
    assert.equal(router.size, N + 2)
  })

  it('finds the right route in a big table', () => {
    assert.equal(find(router, '/s4/list'), 'r4')
    assert.equal(find(router, '/s9992/list'), 'r9992')
    assert.equal(find(router, '/s9996/list', { method: 'POST' }), 'r9996') // r9996 is POST-only
    assert.equal(find(router, '/s9996/list'), undefined)
    assert.equal(find(router, '/s4/list/x'), undefined)
    assert.deepEqual(plain(router.find(req('/s9997/items/abc'))), { value: 'r9997', pattern: '/s9997/items/:id', params: { id: 'abc' } })
    assert.deepEqual(plain(router.find(req('/s9998/deep/er'))), { value: 'r9998', pattern: '/s9998/*', params: { '*': 'deep/er' } })
    assert.deepEqual(router.find(req('/shared/9999/x/y'))?.params, { a: 'x', b: 'y' })
    assert.equal(find(router, '/shared/9999/x'), undefined)
    assert.equal(find(router, '/api/orders/7'), 'order')
    assert.equal(find(router, '/api/orders/7/x'), 'api')
    assert.equal(find(router, '/nope'), undefined)
  })

  it('honours hosts and methods in a big table', () => {
    // r100: host h100.example.com, /s100/list
    assert.equal(find(router, '/s100/list', { host: 'h100.example.com' }), 'r100')
    assert.equal(find(router, '/s100/list', { host: 'h200.example.com' }), undefined)
    assert.equal(find(router, '/s100/list'), undefined)
    // r251: *.w251.example.com, /s251/* ... 251 % 4 === 3 -> /shared/251/:a/:b
    assert.equal(find(router, '/shared/251/p/q', { host: 'x.w251.example.com' }), 'r251')
    assert.equal(find(router, '/shared/251/p/q', { host: 'w251.example.com' }), undefined)
    // r7: POST only, /shared/7/:a/:b
    assert.equal(find(router, '/shared/7/p/q', { method: 'POST' }), 'r7')
    assert.equal(find(router, '/shared/7/p/q', { method: 'GET' }), undefined)
  })

  it('agrees with a brute-force scan over every route', () => {
    for (let i = 0; i < N; i += 37) {
      const e = entries[i]!
      const p = e.match.paths[0]!
      const concrete = p.replace(/:[a-z]+/g, 'v').replace('/*', '/rest/of/it')
      const host = e.match.hosts[0]?.replace('*.', 'z.') ?? 'example.org'
      const method = e.match.methods[0] ?? 'GET'
      assert.equal(find(router, concrete, { host, method }), e.id, `${concrete} on ${host}`)
    }
  })
})
