import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { RouteMatch } from '../../../gateway/config/types.js'
import { findRouteConflicts } from '../../../gateway/routing/conflicts.js'
import { compileRouter } from '../../../gateway/routing/router.js'
import type { RouteEntry } from '../../../gateway/routing/types.js'

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

function pairs(entries: RouteEntry<string>[]): Array<[string, string]> {
  return findRouteConflicts(entries).map((c) => [c.first, c.second])
}

describe('findRouteConflicts', () => {
  it('reports identical routes, the later one as second', () => {
    const entries = [route('a', { paths: ['/x'] }), route('b', { paths: ['/x'] })]
    const conflicts = findRouteConflicts(entries)
    assert.equal(conflicts.length, 1)
    assert.equal(conflicts[0]!.first, 'a')
    assert.equal(conflicts[0]!.second, 'b')
    assert.match(conflicts[0]!.reason, /"b" can never be chosen/)
    assert.match(conflicts[0]!.reason, /path \/x/)
    // and the router indeed never picks b
    assert.equal(compileRouter(entries).find({ method: 'GET', host: 'h', path: '/x', headers: {}, rawQuery: '' })?.value, 'a')
  })

  it('treats params with different names as identical', () => {
    assert.deepEqual(pairs([route('a', { paths: ['/o/:id'] }), route('b', { paths: ['/o/:x'] })]), [['a', 'b']])
    assert.deepEqual(pairs([route('a', { paths: ['/o/:id/*'] }), route('b', { paths: ['/o/:x/*'] })]), [['a', 'b']])
  })

  it('compares host and method sets as sets, case-insensitively', () => {
    assert.deepEqual(
      pairs([
        route('a', { hosts: ['A.com', '*.b.com'], paths: ['/x'], methods: ['GET', 'POST'] }),
        route('b', { hosts: ['*.B.com', 'a.com', 'a.com'], paths: ['/x'], methods: ['post', 'GET'] }),
      ]),
      [['a', 'b']],
    )
  })

  it('reports a shared path even when the routes have other paths too', () => {
    assert.deepEqual(pairs([route('a', { paths: ['/x', '/y'] }), route('b', { paths: ['/z', '/y', '/x'] })]), [['a', 'b']])
  })

  it('compares header and query conditions exactly (order-insensitive)', () => {
    assert.deepEqual(
      pairs([
        route('a', { paths: ['/x'], headers: { 'x-a': '1', 'x-b': { regex: '^v' } }, query: { q: { present: true } } }),
        route('b', { paths: ['/x'], headers: { 'x-b': { regex: '^v' }, 'X-A': '1' }, query: { q: { present: true } } }),
      ]),
      [['a', 'b']],
    )
  })

  it('does not report routes a request can tell apart', () => {
    const cases: Array<[Spec, Spec]> = [
      [{ paths: ['/x'] }, { paths: ['/x'], priority: 1 }],
      [{ paths: ['/x'] }, { paths: ['/x/'] }],
      [{ paths: ['/x'] }, { paths: ['/x/*'] }],
      [{ paths: ['/x/:id'] }, { paths: ['/x/*'] }],
      [{ paths: ['/x/:id'] }, { paths: ['/x/y'] }],
      [{ paths: ['/x'] }, { paths: ['/x'], hosts: ['a.com'] }],
      [{ paths: ['/x'], hosts: ['a.com'] }, { paths: ['/x'], hosts: ['a.com', 'b.com'] }],
      [{ paths: ['/x'], hosts: ['a.com'] }, { paths: ['/x'], hosts: ['*.a.com'] }],
      [{ paths: ['/x'] }, { paths: ['/x'], methods: ['GET'] }],
      [{ paths: ['/x'], methods: ['GET'] }, { paths: ['/x'], methods: ['GET', 'HEAD'] }],
      [{ paths: ['/x'], headers: { a: '1' } }, { paths: ['/x'], headers: { a: '2' } }],
      [{ paths: ['/x'], headers: { a: '1' } }, { paths: ['/x'], headers: { a: { regex: '1' } } }],
      [{ paths: ['/x'], headers: { a: { present: true } } }, { paths: ['/x'], headers: { a: { present: false } } }],
      [{ paths: ['/x'], headers: { a: '1' } }, { paths: ['/x'], query: { a: '1' } }],
    ]
    for (const [a, b] of cases) {
      assert.deepEqual(pairs([route('a', a), route('b', b)]), [], JSON.stringify([a, b]))
    }
  })

  it('reports every later duplicate against the first, once per pair', () => {
    assert.deepEqual(
      pairs([
        route('a', { paths: ['/x', '/y'] }),
        route('b', { paths: ['/x', '/y'] }),
        route('c', { paths: ['/y'] }),
        route('d', { paths: ['/q'] }),
      ]),
      [
        ['a', 'b'],
        ['a', 'c'],
      ],
    )
  })

  it('handles 10,000 routes', () => {
    const entries: RouteEntry<string>[] = []
    for (let i = 0; i < 10_000; i++) entries.push(route(`r${i}`, { paths: [`/s${i}/:id`], methods: i % 2 ? ['GET'] : [] }))
    entries.push(route('dup', { paths: ['/s5000/:other'] }))
    entries.push(route('dup2', { paths: ['/s5001/:other'], methods: ['GET'] }))
    entries.push(route('not-dup', { paths: ['/s5003/:other'] })) // r5003 is GET-only
    assert.deepEqual(pairs(entries), [
      ['r5000', 'dup'],
      ['r5001', 'dup2'],
    ])
  })
})
