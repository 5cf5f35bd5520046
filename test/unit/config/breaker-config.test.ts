// upstreams.*.breaker, routes[].breaker and routes[].fallback: defaults, the
// model, and every refusal at file:line:column.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { describeRefusals, load, removeTrees, y } from './helpers.js'

after(removeTrees)

const ROUTE = ['routes:', '  - id: r', '    match: {paths: [/a]}', '    upstream: u']

function upstreamWith (...breaker: string[]): Record<string, string> {
  return { 'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: "http://127.0.0.1:1"}]', '    breaker:', ...breaker.map((l) => '      ' + l), ...ROUTE) }
}

function routeWith (...lines: string[]): Record<string, string> {
  return { 'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: "http://127.0.0.1:1"}]', ...ROUTE, ...lines.map((l) => '    ' + l)) }
}

describe('breaker config', () => {
  it('fills the defaults of an empty upstream breaker', () => {
    const { result } = load(upstreamWith('consecutiveFailures: 5'))
    assert.ok(result.ok)
    assert.deepEqual(result.config.upstreams.u!.breaker, {
      consecutiveFailures: 5,
      window: 10_000,
      minCalls: 10,
      failureStatuses: [500, 502, 503, 504],
      openTime: 30_000,
      maxOpenTime: 300_000,
      halfOpenRequests: 3,
      maxEjectionPercent: 50
    })
    assert.equal(result.config.routes[0]!.breaker, undefined)
    assert.equal(result.config.upstreams.u!.breaker !== undefined, true)
  })

  it('reads every option, durations as text, and a route breaker and fallback', () => {
    const { result } = load({
      'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: "http://127.0.0.1:1"}]',
        '    breaker: {consecutiveFailures: 0, errorRatio: 0.5, slowCallRatio: 0.25, slowCallThreshold: 200ms, window: 30s,',
        '              minCalls: 20, failureStatuses: [503, 500], openTime: 5s, maxOpenTime: 1m, halfOpenRequests: 1, maxEjectionPercent: 100}',
        ...ROUTE,
        '    breaker: {consecutiveFailures: 2}',
        '    fallback:',
        '      status: 200',
        '      headers: {Content-Type: application/json}',
        '      body: \'{"degraded":true}\'')
    })
    assert.ok(result.ok, JSON.stringify(!result.ok && result.issues))
    assert.deepEqual(result.config.upstreams.u!.breaker, {
      consecutiveFailures: 0,
      window: 30_000,
      minCalls: 20,
      failureStatuses: [500, 503],
      openTime: 5_000,
      maxOpenTime: 60_000,
      halfOpenRequests: 1,
      errorRatio: 0.5,
      slowCallRatio: 0.25,
      slowCallThreshold: 200,
      maxEjectionPercent: 100
    })
    const r = result.config.routes[0]!
    assert.equal(r.breaker?.consecutiveFailures, 2)
    assert.equal('maxEjectionPercent' in r.breaker!, false)
    assert.deepEqual(r.fallback, { status: 200, headers: { 'content-type': 'application/json' }, body: '{"degraded":true}' })
  })

  it('a fallback alone (no breaker) is accepted: it answers when no node is left', () => {
    const { result } = load(routeWith('fallback: {status: 503}'))
    assert.ok(result.ok)
    assert.deepEqual(result.config.routes[0]!.fallback, { status: 503, headers: {}, body: '' })
  })
})

describeRefusals('breaker config refusals', [
  {
    name: 'maxOpenTime shorter than openTime',
    files: upstreamWith('openTime: 1m', 'maxOpenTime: 30s'),
    expected: ['main.yaml:6:20: upstreams.u.breaker.maxOpenTime: must not be shorter than openTime (60000ms)']
  },
  {
    name: 'slowCallRatio without slowCallThreshold, and the reverse on a route',
    files: {
      'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: "http://127.0.0.1:1"}]', '    breaker: {slowCallRatio: 0.5}',
        ...ROUTE, '    breaker: {slowCallThreshold: 1s}')
    },
    expected: [
      'main.yaml:4:30: upstreams.u.breaker.slowCallRatio: needs slowCallThreshold (how long a call may wait for its response headers before it counts as slow)',
      'main.yaml:9:34: routes[0].breaker.slowCallThreshold: has no effect without slowCallRatio'
    ]
  },
  {
    name: 'a breaker that can never open',
    files: routeWith('breaker: {consecutiveFailures: 0}'),
    expected: ['main.yaml:8:14: routes[0].breaker: this breaker can never open: set consecutiveFailures above 0, errorRatio or slowCallRatio']
  },
  {
    name: 'out-of-range and mistyped options',
    files: upstreamWith('errorRatio: 0', 'slowCallRatio: 1.5', 'slowCallThreshold: 0', 'window: soon', 'minCalls: 0',
      'failureStatuses: [503, 503, 99]', 'openTime: 0', 'halfOpenRequests: 0', 'maxEjectionPercent: 101', 'consecutiveFailures: -1', 'typo: 1'),
    expected: [
      'main.yaml:5:19: upstreams.u.breaker.errorRatio: must be > 0, got 0',
      'main.yaml:6:22: upstreams.u.breaker.slowCallRatio: must be <= 1, got 1.5',
      'main.yaml:7:26: upstreams.u.breaker.slowCallThreshold: must be at least 1ms (every call would count as slow)',
      'main.yaml:8:15: upstreams.u.breaker.window: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "soon"',
      'main.yaml:9:17: upstreams.u.breaker.minCalls: must be >= 1, got 0',
      'main.yaml:10:24: upstreams.u.breaker.failureStatuses: must NOT have duplicate items (items ## 1 and 0 are identical)',
      'main.yaml:10:35: upstreams.u.breaker.failureStatuses[2]: must be >= 100, got 99',
      'main.yaml:11:17: upstreams.u.breaker.openTime: must be at least 1ms (an open breaker would let traffic through again at once)',
      'main.yaml:12:25: upstreams.u.breaker.halfOpenRequests: must be >= 1, got 0',
      'main.yaml:13:27: upstreams.u.breaker.maxEjectionPercent: must be <= 100, got 101',
      'main.yaml:14:28: upstreams.u.breaker.consecutiveFailures: must be >= 0, got -1',
      'main.yaml:15:7: upstreams.u.breaker: unknown key "typo" (allowed: consecutiveFailures, errorRatio, slowCallRatio, slowCallThreshold, window, minCalls, failureStatuses, openTime, maxOpenTime, halfOpenRequests, maxEjectionPercent)'
    ]
  },
  {
    name: 'maxEjectionPercent on a route breaker',
    files: routeWith('breaker: {maxEjectionPercent: 50}'),
    expected: ['main.yaml:8:15: routes[0].breaker: unknown key "maxEjectionPercent" (allowed: consecutiveFailures, errorRatio, slowCallRatio, slowCallThreshold, window, minCalls, failureStatuses, openTime, maxOpenTime, halfOpenRequests)']
  },
  {
    name: 'fallback: status, framing headers, repeated headers, body on a 204, no status',
    files: {
      'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: "http://127.0.0.1:1"}]', ...ROUTE,
        '    fallback:',
        '      status: 204',
        '      headers: {Content-Length: "3", X-A: "1", x-a: "2", X-B: "a\\nb"}',
        '      body: abc',
        '  - id: r2',
        '    match: {paths: [/b]}',
        '    upstream: u',
        '    fallback: {status: 700, body: x}',
        '  - id: r3',
        '    match: {paths: [/c]}',
        '    upstream: u',
        '    fallback: {body: x}',
        '  - id: r4',
        '    match: {paths: [/d]}',
        '    upstream: u',
        '    fallback: {status: 200, headers: {Bad Name: x}}')
    },
    expected: [
      'main.yaml:10:17: routes[0].fallback.headers.Content-Length: header "Content-Length" cannot be set: the gateway frames the response itself',
      'main.yaml:10:48: routes[0].fallback.headers.x-a: header "x-a" is given twice (header names are case-insensitive)',
      'main.yaml:10:63: routes[0].fallback.headers.X-B: must not contain CR, LF or NUL',
      'main.yaml:11:13: routes[0].fallback.body: a 204 response has no body',
      'main.yaml:15:24: routes[1].fallback.status: must be <= 599, got 700',
      'main.yaml:19:15: routes[2].fallback: missing required key "status"',
      'main.yaml:23:39: routes[3].fallback.headers: invalid key "Bad Name": must be a valid header name'
    ]
  }
])
