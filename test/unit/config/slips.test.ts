// Configs that parse and fit the schema but would switch a protection off, or
// are almost surely a slip: refused by the shared loader (so `gateway validate`
// and a reload agree). Also: one YAML slip gives one error, at the place the
// broken scalar or collection was opened.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { formatIssueRelativeTo } from '../../../gateway/config/load-config.js'
import { describeRefusals, load, removeTrees, UPSTREAM, y, type Case } from './helpers.js'

after(removeTrees)

const ROUTE = y(
  'routes:',
  '  - id: a',
  '    match: {paths: [/a]}',
  '    upstream: users'
)

const NO_ROUTES = 'no routes in this file or the files it includes: every request would be answered 404; ' +
  'write "routes: []" to run without routes on purpose'

function accepted (files: Record<string, string>): void {
  const { dir, result } = load(files)
  if (!result.ok) assert.fail(`expected OK, got:\n${result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n')}`)
}

describeRefusals('no routes unless the config says so', [
  { name: 'an empty file (0 bytes)', files: { 'main.yaml': '' }, expected: ['main.yaml:1:1: config file is empty'] },
  {
    name: 'a file of blank lines and comments only',
    files: { 'main.yaml': y('# gateway config', '', '#routes:', '#  - id: a') },
    expected: ['main.yaml:1:1: config file is empty']
  },
  {
    name: 'a file cut off before its routes',
    files: { 'main.yaml': y('# head', 'listen:', '  port: 8080') + UPSTREAM },
    expected: [`main.yaml:2:1: ${NO_ROUTES}`]
  },
  {
    name: 'includes that bring no routes either (an empty directory, a file with only upstreams)',
    files: {
      'main.yaml': y('include: [conf.d, more.yaml]'),
      'conf.d/readme.txt': 'not yaml',
      'more.yaml': UPSTREAM
    },
    expected: [`main.yaml:1:1: ${NO_ROUTES}`]
  }
])

describe('no routes: the explicit forms are accepted', () => {
  it('"routes: []" in the main file', () => accepted({ 'main.yaml': UPSTREAM + y('routes: []') }))
  it('"routes:" with every entry commented out', () => accepted({ 'main.yaml': y('routes:', '#  - id: a') }))
  it('"routes: []" in an included file', () => accepted({ 'main.yaml': y('include: [r.yaml]'), 'r.yaml': y('routes: []') }))
  it('routes only in an included file', () => accepted({ 'main.yaml': UPSTREAM + y('include: [r.yaml]'), 'r.yaml': ROUTE }))
})

/** An upstream with `lines` (at the upstream's indentation) before its nodes. */
function upstreamWith (...lines: string[]): string {
  return y('upstreams:', '  users:', ...lines.map((l) => '    ' + l), '    nodes:', '      - url: http://127.0.0.1:3000') + ROUTE
}

const durationCases: Case[] = [
  {
    name: 'server.headersTimeout: 0',
    files: { 'main.yaml': UPSTREAM + ROUTE + y('server:', '  headersTimeout: 0') },
    expected: ['main.yaml:10:19: server.headersTimeout: must be at least 1ms ' +
      '(0 switches off the time limit for receiving request headers, the guard against clients that send them slowly)']
  },
  {
    name: 'server.requestTimeout: 0s',
    files: { 'main.yaml': UPSTREAM + ROUTE + y('server:', '  requestTimeout: 0s') },
    expected: ['main.yaml:10:19: server.requestTimeout: must be at least 1ms ' +
      '(0 switches off the time limit for receiving a whole request, the guard against clients that send it slowly)']
  },
  {
    name: 'server.keepAliveTimeout: 0ms',
    files: { 'main.yaml': UPSTREAM + ROUTE + y('server:', '  keepAliveTimeout: 0ms') },
    expected: ['main.yaml:10:21: server.keepAliveTimeout: must be at least 1ms ' +
      '(0 switches off the closing of idle client connections: they would stay open for good)']
  },
  {
    name: 'server.pluginTimeout: 0',
    files: { 'main.yaml': UPSTREAM + ROUTE + y('server:', '  pluginTimeout: 0') },
    expected: ['main.yaml:10:18: server.pluginTimeout: must be at least 1ms ' +
      '(0 switches off the deadline on plugins\' asynchronous access phases: a plugin whose promise never settles would hold its request for good)']
  },
  {
    name: 'server.headersTimeout above server.requestTimeout (Node refuses to start the server)',
    files: { 'main.yaml': UPSTREAM + ROUTE + y('server:', '  headersTimeout: 2m', '  requestTimeout: 1m') },
    expected: ['main.yaml:10:19: server.headersTimeout: must not be longer than server.requestTimeout (60000ms)']
  },
  {
    name: 'timeouts.connect: 0',
    files: { 'main.yaml': upstreamWith('timeouts: {connect: 0}') },
    expected: ['main.yaml:3:25: upstreams.users.timeouts.connect: must be at least 1ms ' +
      '(0 switches off the connect timeout: a node that does not answer would hold requests until the OS gives up)']
  },
  {
    name: 'timeouts.header: 0',
    files: { 'main.yaml': upstreamWith('timeouts: {header: "0s"}') },
    expected: ['main.yaml:3:24: upstreams.users.timeouts.header: must be at least 1ms ' +
      '(0 switches off the wait limit for a node\'s response headers: a hung node would hold requests for good)']
  },
  {
    name: 'timeouts.idle: 0',
    files: { 'main.yaml': upstreamWith('timeouts:', '  idle: 0') },
    expected: ['main.yaml:4:13: upstreams.users.timeouts.idle: must be at least 1ms ' +
      '(0 switches off the limit on silence between response body chunks: a stalled body would hold requests for good)']
  },
  {
    name: 'pool.keepAliveTimeout: 0',
    files: { 'main.yaml': upstreamWith('pool: {keepAliveTimeout: 0}') },
    expected: ['main.yaml:3:30: upstreams.users.pool.keepAliveTimeout: must be at least 1ms ' +
      '(the connection pool to the nodes cannot be created with 0)']
  }
]

describeRefusals('a duration of 0 that would switch a timeout off', durationCases)

describe('durations: 0 where it switches nothing off', () => {
  it('server.drainTimeout: 0 (stop without waiting for requests in flight)', () => {
    accepted({ 'main.yaml': UPSTREAM + ROUTE + y('server: {drainTimeout: 0}') })
  })
  it('headersTimeout equal to requestTimeout', () => {
    accepted({ 'main.yaml': UPSTREAM + ROUTE + y('server: {headersTimeout: 30s, requestTimeout: 30000}') })
  })
})

describeRefusals('the same node listed twice in one upstream', [
  {
    name: 'the same URL twice',
    files: {
      'main.yaml': y('upstreams:', '  users:', '    nodes:', '      - url: http://127.0.0.1:3000', '      - url: http://127.0.0.1:3000') + ROUTE
    },
    expected: ['main.yaml:5:14: upstreams.users.nodes[1].url: node http://127.0.0.1:3000 listed twice; use weight: 2 instead ' +
      '(first listed at main.yaml:4)']
  },
  {
    name: 'the same node spelled differently (host case, trailing slash), weights added up; in an included file',
    files: {
      'main.yaml': y('include: [up.yaml]') + ROUTE,
      'up.yaml': y(
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - {url: "http://API.internal:8080/", weight: 3}',
        '      - {url: "http://other:8080"}',
        '      - {url: "http://api.internal:8080", weight: 2}'
      )
    },
    expected: ['up.yaml:6:15: upstreams.users.nodes[2].url: node http://api.internal:8080 listed twice; use weight: 5 instead ' +
      '(first listed at up.yaml:4)']
  },
  {
    name: 'an explicit default port (https :443) and the same base path',
    files: {
      'main.yaml': y('upstreams:', '  users:', '    nodes:', '      - url: https://a.example:443/v1', '      - url: https://A.example:443/v1/') + ROUTE
    },
    expected: ['main.yaml:5:14: upstreams.users.nodes[1].url: node https://a.example:443/v1 listed twice; use weight: 2 instead ' +
      '(first listed at main.yaml:4)']
  },
  {
    name: 'also reported when another key of the upstream is wrong; a node missing its URL is no duplicate',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    retries: many',
        '    nodes:',
        '      - url: http://a:1',
        '      - url: http://a:1',
        '  others:',
        '    nodes:',
        '      - weight: 2',
        '      - weight: 2',
        '  none:',
        '    balancer: random'
      ) + ROUTE
    },
    expected: [
      'main.yaml:3:14: upstreams.users.retries: must be an integer, got string "many"',
      'main.yaml:6:14: upstreams.users.nodes[1].url: node http://a:1 listed twice; use weight: 2 instead (first listed at main.yaml:5)',
      'main.yaml:9:9: upstreams.others.nodes[0]: missing required key "url"',
      'main.yaml:10:9: upstreams.others.nodes[1]: missing required key "url"',
      'main.yaml:12:5: upstreams.none: missing required key "nodes"'
    ]
  }
])

describe('the same node: what is not a duplicate', () => {
  it('other port, other scheme, other base path, or another upstream', () => {
    accepted({
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - url: http://a:3000',
        '      - url: http://a:3001',
        '      - url: https://a:3000',
        '      - url: http://a:3000/v2',
        '  others:',
        '    nodes:',
        '      - url: http://a:3000'
      ) + ROUTE
    })
  })
})

describeRefusals('a YAML slip: one error, where the broken construct was opened', [
  {
    name: 'an unclosed double quote (at the end of the file)',
    files: { 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: "users') },
    expected: ['main.yaml:8:15: YAML: unclosed double quote (") opened here']
  },
  {
    name: 'an unclosed single quote (mid-file)',
    files: { 'main.yaml': y('listen:', "  host: '0.0.0.0", '  port: 8080') + UPSTREAM + ROUTE },
    expected: ['main.yaml:2:9: YAML: unclosed single quote (\') opened here']
  },
  {
    name: 'an unclosed "["',
    files: { 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a}', '    upstream: users') },
    expected: ['main.yaml:7:20: YAML: unclosed "[" opened here (no matching "]")']
  },
  {
    name: 'an unclosed "{"',
    files: { 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a]', '    upstream: users') },
    expected: ['main.yaml:7:12: YAML: unclosed "{" opened here (no matching "}")']
  },
  {
    name: 'an unclosed quote inside a flow collection, with routes after it (no follow-on errors)',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes:',
        '  - id: a',
        '    match: {paths: ["/a], methods: [GET]}',
        '    upstream: users',
        '  - id: b',
        '    match: {paths: ["/b"], methods: [GET]}',
        '    upstream: users'
      )
    },
    expected: ['main.yaml:7:21: YAML: unclosed double quote (") opened here']
  },
  {
    name: 'a quote closed only by the next string\'s opening quote, in a flow list',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes: [',
        '  {id: a, match: {paths: ["/a]}, upstream: users},',
        '  {id: b, match: {paths: ["/b"]}, upstream: users}',
        ']'
      )
    },
    expected: ['main.yaml:6:27: YAML: the double-quoted string opened here runs on to line 7 (a missing closing quote?)']
  },
  {
    name: 'a line indented deeper than its key',
    files: { 'main.yaml': y('listen:', '  host: 0.0.0.0', '   port: 8080') + UPSTREAM + ROUTE },
    expected: ['main.yaml:2:9: YAML: bad indentation: the value that starts here runs on to line 3, which is indented deeper than its key']
  },
  {
    name: 'a line indented less than the mapping it belongs to',
    files: {
      'main.yaml': y('upstreams:', '  users:', '    nodes:', '      - url: http://127.0.0.1:3000', '     weight: 2') + ROUTE
    },
    expected: ['main.yaml:5:6: YAML: All mapping items must start at the same column']
  },
  {
    name: 'an independent error before the slip is kept',
    files: {
      'main.yaml': y('listen: {port: 1, port: 2}', 'admin:', '  host: "127.0.0.1') + UPSTREAM + ROUTE
    },
    expected: ['main.yaml:1:19: YAML: duplicate key "port"', 'main.yaml:3:9: YAML: unclosed double quote (") opened here']
  }
])
