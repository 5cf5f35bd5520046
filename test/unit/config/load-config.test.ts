import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { formatIssue, formatIssueRelativeTo, loadConfig } from '../../../gateway/config/load-config.js'
import type { GatewayConfig } from '../../../gateway/config/types.js'
import { describeRefusals, EMPTY_ROUTES, fixturesDir, issueLines, load, removeTrees, UPSTREAM, writeTree, y, type Case } from './helpers.js'

after(removeTrees)

function okConfig (files: Record<string, string>, env: NodeJS.ProcessEnv = {}): GatewayConfig {
  const { dir, result } = load(files, env)
  if (!result.ok) assert.fail(`expected OK, got:\n${result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n')}`)
  return result.config
}

const ROUTE_A = y(
  'routes:',
  '  - id: a',
  '    match: {paths: [/a]}',
  '    upstream: users'
)

describe('loadConfig: a good minimal config gets every default', () => {
  it('fills listen, admin, server, accessLog, upstream and route defaults', () => {
    const { dir, result } = load({ 'main.yaml': UPSTREAM + ROUTE_A })
    assert.ok(result.ok)
    assert.deepEqual(result.files, [join(dir, 'main.yaml')])
    assert.match(result.digest, /^[0-9a-f]{64}$/)
    assert.deepEqual(result.config, {
      listen: { host: '0.0.0.0', port: 8080 },
      admin: { host: '127.0.0.1', port: 9180 },
      server: {
        bodyLimit: 1048576,
        trustedProxies: [],
        headersTimeout: 10000,
        requestTimeout: 60000,
        keepAliveTimeout: 72000,
        drainTimeout: 30000,
        maxHeaderSize: 16384,
        maxUriLength: 8192,
        pluginTimeout: 1000
      },
      accessLog: { enabled: true },
      node: {},
      upstreams: {
        users: {
          name: 'users',
          balancer: 'roundrobin',
          nodes: [{ url: 'http://127.0.0.1:3000', weight: 1, metadata: {} }],
          timeouts: { connect: 2000, header: 30000, idle: 60000 },
          pool: { connections: 128, keepAliveTimeout: 4000 },
          retries: 1,
          retryBudget: { ratio: 0.2, minPerSecond: 3 },
          limits: {}
        }
      },
      plugins: {},
      routes: [{
        id: 'a',
        match: { hosts: [], paths: ['/a'], methods: [], headers: {}, query: {} },
        priority: 0,
        upstream: 'users',
        rewrite: { stripPrefix: false },
        websocket: false,
        plugins: {}
      }]
    } satisfies GatewayConfig)
  })

  it('"routes: []" alone is a valid config with no routes', () => {
    const config = okConfig({ 'main.yaml': EMPTY_ROUTES })
    assert.deepEqual(config.routes, [])
    assert.deepEqual(config.upstreams, {})
    assert.equal(config.listen.port, 8080)
  })

  it('the digest ignores key order and comments, and changes with the config', () => {
    const a = load({ 'main.yaml': UPSTREAM + ROUTE_A })
    const b = load({ 'main.yaml': '# comment\n' + y('routes:', '  - upstream: users', '    match: {paths: [/a]}', '    id: a') + UPSTREAM })
    const c = load({ 'main.yaml': UPSTREAM + ROUTE_A + 'listen: {port: 8081}\n' })
    assert.ok(a.result.ok && b.result.ok && c.result.ok)
    assert.equal(a.result.digest, b.result.digest)
    assert.notEqual(a.result.digest, c.result.digest)
  })

  it('normalises methods, hosts, header names, node URLs; keeps matcher forms', () => {
    const config = okConfig({
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - url: http://127.0.0.1:3000/base/',
        '        metadata: {b: "2", a: "1"}',
        'routes:',
        '  - id: a',
        '    match:',
        '      hosts: [API.Example.com, "*.Example.org"]',
        '      paths: [/a/:id]',
        '      methods: [get, Post, GET]',
        '      headers:',
        '        X-Env: prod',
        '        X-Re: {regex: "^v[0-9]+$"}',
        '        X-Has: {present: false}',
        '      query: {debug: {present: true}}',
        '    upstream: users',
        '    rewrite: {path: /b/:id}'
      )
    })
    const r = config.routes[0]!
    assert.deepEqual(r.match, {
      hosts: ['api.example.com', '*.example.org'],
      paths: ['/a/:id'],
      methods: ['GET', 'POST'],
      headers: { 'x-env': 'prod', 'x-re': { regex: '^v[0-9]+$' }, 'x-has': { present: false } },
      query: { debug: { present: true } }
    })
    assert.deepEqual(r.rewrite, { stripPrefix: false, path: '/b/:id' })
    assert.deepEqual(config.upstreams.users!.nodes[0], { url: 'http://127.0.0.1:3000/base', weight: 1, metadata: { a: '1', b: '2' } })
  })

  it('loads the example fixture (directory includes, every section)', () => {
    const main = join(fixturesDir, 'example', 'gateway.yaml')
    const result = loadConfig(main, {})
    if (!result.ok) assert.fail(result.issues.map(formatIssue).join('\n'))
    const { config, files } = result
    assert.deepEqual(files.map((f) => f.slice(fixturesDir.length)), [
      'example/gateway.yaml',
      'example/upstreams',
      'example/routes',
      'example/upstreams/carts.yaml',
      'example/routes/10-carts.yaml',
      'example/routes/20-ws.yaml'
    ])
    assert.deepEqual(config.routes.map((r) => r.id), ['users.get', 'users.list', 'carts', 'live'])
    assert.deepEqual(Object.keys(config.upstreams), ['carts', 'users'])
    assert.deepEqual(config.upstreams.carts!.hashOn, { kind: 'cookie', name: 'session' })
    assert.equal(config.upstreams.users!.balancer, 'least-conn')
    assert.deepEqual(config.upstreams.users!.timeouts, { connect: 500, header: 15000, idle: 30000 })
    assert.equal(config.server.requestTimeout, 60000)
    assert.equal(config.server.bodyLimit, 2 * 1024 * 1024)
    assert.equal(config.routes[2]!.bodyLimit, 512 * 1024)
    assert.deepEqual(config.routes[0]!.match.methods, ['GET', 'HEAD'])
    assert.deepEqual(config.routes[1]!.plugins, {
      headers: { request: { set: { 'X-Gateway': 'edge' }, remove: [] }, response: { set: {}, remove: [] } }
    })
    assert.equal(config.routes[3]!.websocket, true)
    assert.deepEqual(config.routes[3]!.match.headers, { upgrade: { regex: '^websocket$' } })
  })
})

const cases: Case[] = [
  {
    name: 'YAML syntax error, at the construct it left open',
    files: { 'main.yaml': y('listen:', '  port: 8080', 'routes:', '  - id: a', '    match: {paths: [/a]', '    upstream: users') },
    expected: ['main.yaml:5:12: YAML: unclosed "{" opened here (no matching "}")']
  },
  {
    name: 'YAML errors in every included file are reported',
    files: {
      'main.yaml': y('include: [one.yaml, two.yaml]', 'listen: {port: 80}'),
      'one.yaml': y('routes:', '- id: a', '  match: [', ''),
      'two.yaml': y('upstreams:', '  a: {nodes: []}', '  a: {nodes: []}')
    },
    expected: [
      'one.yaml:3:10: YAML: unclosed "[" opened here (no matching "]")',
      'two.yaml:3:3: YAML: duplicate key "a"'
    ]
  },
  {
    name: 'included file with a syntax error',
    files: {
      'main.yaml': y('include: [more.yaml]'),
      'more.yaml': y('routes:', '  - id: a', '    id: b')
    },
    expected: ['more.yaml:3:5: YAML: duplicate key "id"']
  },
  {
    name: 'several documents in one file',
    files: { 'main.yaml': y('listen: {port: 1}', '---', 'listen: {port: 2}') },
    expected: ['main.yaml:2:1: YAML: a config file must hold a single YAML document (found "---" separating several)']
  },
  {
    name: 'typo: unknown key with a suggestion, at the key',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - url: http://127.0.0.1:3000',
        '        weigth: 2'
      ) + ROUTE_A
    },
    expected: ['main.yaml:5:9: upstreams.users.nodes[0]: unknown key "weigth" (did you mean "weight"?)']
  },
  {
    name: 'unknown key without a close match lists the allowed keys',
    files: { 'main.yaml': y('listen:', '  hots: 0.0.0.0', '  backlog: 511') + EMPTY_ROUTES },
    expected: [
      'main.yaml:2:3: listen: unknown key "hots" (did you mean "host"?)',
      'main.yaml:3:3: listen: unknown key "backlog" (allowed: host, port)'
    ]
  },
  {
    name: 'unknown top-level key',
    files: { 'main.yaml': y('listen: {port: 80}', 'rotues: []') + EMPTY_ROUTES },
    expected: ['main.yaml:2:1: unknown key "rotues" (did you mean "routes"?)']
  },
  {
    name: 'wrong types',
    files: {
      'main.yaml': y(
        'listen:',
        '  port: abc',
        'accessLog: {enabled: yes}',
        'server:',
        '  trustedProxies: 10.0.0.1'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:2:9: listen.port: must be an integer, got string "abc"',
      'main.yaml:3:22: accessLog.enabled: must be a boolean, got string "yes"',
      'main.yaml:5:19: server.trustedProxies: must be a list, got string "10.0.0.1"'
    ]
  },
  {
    name: 'empty value where a mapping is needed',
    files: { 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match:', '    upstream: users') },
    expected: ['main.yaml:7:5: routes[0].match: must be a mapping, got null (empty value)']
  },
  {
    name: 'zero, negative and too large weights',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - {url: "http://10.0.0.1:80", weight: 0}',
        '      - {url: "http://10.0.0.2:80", weight: -3}',
        '      - {url: "http://10.0.0.3:80", weight: 1001}',
        '      - {url: "http://10.0.0.4:80", weight: 1.5}'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:4:45: upstreams.users.nodes[0].weight: must be >= 1, got 0',
      'main.yaml:5:45: upstreams.users.nodes[1].weight: must be >= 1, got -3',
      'main.yaml:6:45: upstreams.users.nodes[2].weight: must be <= 1000, got 1001',
      'main.yaml:7:45: upstreams.users.nodes[3].weight: must be an integer, got number 1.5'
    ]
  },
  {
    name: 'missing required keys: at the parent mapping',
    files: { 'main.yaml': y('upstreams:', '  users:', '    balancer: random', 'routes:', '  - id: a', '    match:', '      methods: [GET]') },
    expected: [
      'main.yaml:3:5: upstreams.users: missing required key "nodes"',
      'main.yaml:5:5: routes[0]: missing required key "upstream"',
      'main.yaml:7:7: routes[0].match: missing required key "paths"'
    ]
  },
  {
    name: 'enum lists the allowed values',
    files: { 'main.yaml': y('upstreams:', '  users:', '    balancer: round-robin', '    nodes: [{url: "http://a:1"}]') + EMPTY_ROUTES },
    expected: [
      'main.yaml:3:15: upstreams.users.balancer: must be one of "roundrobin", "random", "least-conn", "chash", got string "round-robin" (did you mean "roundrobin"?)'
    ]
  },
  {
    name: 'unknown upstream names the defined ones',
    files: { 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: user') },
    expected: ['main.yaml:8:15: routes[0].upstream: unknown upstream "user" (did you mean "users"?); defined: users']
  },
  {
    name: 'unknown upstream when none is defined',
    files: { 'main.yaml': ROUTE_A },
    expected: ['main.yaml:4:15: routes[0].upstream: unknown upstream "users"; no upstreams are defined']
  },
  {
    name: 'duplicate route ids across two files: at the second, naming the first',
    files: {
      'main.yaml': UPSTREAM + y('include: [extra.yaml]') + ROUTE_A,
      'extra.yaml': y('routes:', '  - id: b', '    match: {paths: [/b]}', '    upstream: users', '  - id: a', '    match: {paths: [/c]}', '    upstream: users')
    },
    expected: ['extra.yaml:5:9: routes[2].id: duplicate route id "a" (first defined at main.yaml:7)']
  },
  {
    name: 'duplicate upstream across files',
    files: {
      'main.yaml': UPSTREAM + y('include: [extra.yaml]'),
      'extra.yaml': y('upstreams:', '  users:', '    nodes: [{url: "http://b:2"}]')
    },
    expected: ['extra.yaml:2:3: upstreams.users: duplicate upstream "users" (first defined at main.yaml:2)']
  },
  {
    name: 'indistinguishable routes',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes:',
        '  - id: a',
        '    match: {paths: ["/u/:id"], methods: [get]}',
        '    upstream: users',
        '  - id: b',
        '    match: {paths: ["/u/:name"], methods: [GET]}',
        '    upstream: users',
        '  - id: c',
        '    priority: 1',
        '    match: {paths: ["/u/:name"], methods: [GET]}',
        '    upstream: users'
      )
    },
    expected: [
      'main.yaml:10:12: routes[1].match: routes "a" and "b" have the same priority (0), paths /u/:id and /u/:name, any host, methods [GET]: "b" can never be chosen there (route "a" is at main.yaml:6)'
    ]
  },
  {
    name: 'unknown plugin lists the known ones',
    files: { 'main.yaml': UPSTREAM + ROUTE_A + y('    plugins:', '      header: {}', '      limit-req: {}') },
    expected: [
      'main.yaml:10:7: routes[0].plugins: unknown plugin "header" (did you mean "headers"?); known plugins: cors, headers, rate-limit, concurrency-limit, traffic-split',
      'main.yaml:11:7: routes[0].plugins: unknown plugin "limit-req"; known plugins: cors, headers, rate-limit, concurrency-limit, traffic-split'
    ]
  },
  {
    name: 'bad plugin option (headers request.set with a non-string)',
    files: {
      'main.yaml': UPSTREAM + ROUTE_A + y(
        '    plugins:',
        '      headers:',
        '        request:',
        '          set:',
        '            X-Count: 3',
        '            X-Bad Name: x',
        '          delete: [a]'
      )
    },
    expected: [
      'main.yaml:13:22: routes[0].plugins.headers.request.set.X-Count: must be a string, got integer 3',
      'main.yaml:14:13: routes[0].plugins.headers.request.set: invalid key "X-Bad Name": must match pattern "^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$"',
      'main.yaml:15:11: routes[0].plugins.headers.request: unknown key "delete" (allowed: set, remove)'
    ]
  },
  {
    name: 'env: missing variable without default, at the scalar',
    files: { 'main.yaml': y('listen:', '  host: ${HOST}', '  port: ${PORT:-8080}', 'admin:', '  token: "${ADMIN_TOKEN} ${OTHER}"') + EMPTY_ROUTES },
    env: {},
    expected: [
      'main.yaml:2:9: listen.host: environment variable HOST is not set (use ${HOST:-default} to give a default)',
      'main.yaml:5:10: admin.token: environment variable ADMIN_TOKEN is not set (use ${ADMIN_TOKEN:-default} to give a default); environment variable OTHER is not set (use ${OTHER:-default} to give a default)'
    ]
  },
  {
    name: 'env: malformed references',
    files: { 'main.yaml': y('listen:', '  host: ${1X}', 'admin:', '  token: abc${X') + EMPTY_ROUTES },
    env: { X: '1' },
    expected: [
      'main.yaml:2:9: listen.host: invalid variable reference "${1X}" (expected ${NAME} or ${NAME:-default})',
      'main.yaml:4:10: admin.token: unterminated "${" (write "$${" for a literal "${")'
    ]
  },
  {
    name: 'env: a substituted value that is not a number where an integer is needed',
    files: { 'main.yaml': y('listen:', '  port: ${PORT}') + EMPTY_ROUTES },
    env: { PORT: '80a' },
    expected: ['main.yaml:2:9: listen.port: must be an integer, got string "80a"']
  },
  {
    name: 'env: a literal number string is not coerced (only whole ${VAR} values are)',
    files: { 'main.yaml': y('listen:', '  port: "8080"') + EMPTY_ROUTES },
    expected: ['main.yaml:2:9: listen.port: must be an integer, got string "8080"']
  },
  {
    name: 'missing include path, at the include entry',
    files: { 'main.yaml': y('include:', '  - routes/', '  - extra.yaml') },
    expected: [
      'main.yaml:2:5: include[0]: include path not found: "routes/" (resolved to <dir>/routes)',
      'main.yaml:3:5: include[1]: include path not found: "extra.yaml" (resolved to <dir>/extra.yaml)'
    ]
  },
  {
    name: 'a file included twice, or the main file included',
    files: {
      'main.yaml': y('include: [extra.yaml, ./extra.yaml, main.yaml]'),
      'extra.yaml': ''
    },
    expected: [
      'main.yaml:1:23: include[1]: extra.yaml is already loaded (included twice, or the main file)',
      'main.yaml:1:37: include[2]: main.yaml is already loaded (included twice, or the main file)'
    ]
  },
  {
    name: 'upstream names',
    files: { 'main.yaml': y('upstreams:', '  "bad name": {nodes: [{url: "http://a:1"}]}', '  users.v2: {nodes: [{url: "http://a:1", weight: x}]}') + EMPTY_ROUTES },
    expected: [
      'main.yaml:2:3: upstreams: invalid key "bad name": must be letters, digits, ".", "_", ":" or "-"',
      'main.yaml:3:50: upstreams["users.v2"].nodes[0].weight: must be an integer, got string "x"'
    ]
  },
  {
    name: 'included files may hold only upstreams and routes',
    files: {
      'main.yaml': y('include: [extra.yaml]'),
      'extra.yaml': y('listen: {port: 1}', 'route: []')
    },
    expected: [
      'extra.yaml:1:1: listen: unknown key "listen"; an included file may only contain "upstreams" and "routes"',
      'extra.yaml:2:1: route: unknown key "route" (did you mean "routes"?); an included file may only contain "upstreams" and "routes"'
    ]
  },
  {
    name: 'routes and upstreams of the wrong shape in an included file',
    files: {
      'main.yaml': y('include: [extra.yaml]'),
      'extra.yaml': y('routes: {id: a}', 'upstreams: [a]')
    },
    expected: [
      'extra.yaml:1:9: routes: must be a list, got a mapping',
      'extra.yaml:2:12: upstreams: must be a mapping of name -> upstream, got a list'
    ]
  },
  {
    name: 'sizes and durations: bad strings',
    files: {
      'main.yaml': y(
        'server:',
        '  bodyLimit: 1 tb',
        '  maxHeaderSize: -1',
        '  headersTimeout: 10 sec',
        '  drainTimeout: 0.5ms',
        '  requestTimeout: true'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:2:14: server.bodyLimit: must be a size: bytes (integer) or a string like "512kb", "1mb", "1gb", got string "1 tb"',
      'main.yaml:3:18: server.maxHeaderSize: must be a size: bytes (integer) or a string like "512kb", "1mb", "1gb", got integer -1',
      'main.yaml:4:19: server.headersTimeout: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "10 sec"',
      'main.yaml:5:17: server.drainTimeout: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "0.5ms"',
      'main.yaml:6:19: server.requestTimeout: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got boolean true'
    ]
  },
  {
    name: 'chash without hashOn, and hashOn without chash',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  a:',
        '    balancer: chash',
        '    nodes: [{url: "http://a:1"}]',
        '  b:',
        '    hashOn: ip',
        '    nodes: [{url: "http://b:1"}]',
        '  c:',
        '    balancer: chash',
        '    hashOn: header',
        '    nodes: [{url: "http://c:1"}]'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:3:15: upstreams.a.balancer: balancer "chash" needs hashOn ("header:NAME", "cookie:NAME", "ip" or "path")',
      'main.yaml:6:13: upstreams.b.hashOn: hashOn is only used by balancer "chash" (this upstream\'s balancer is "roundrobin")',
      'main.yaml:10:13: upstreams.c.hashOn: must be "header:NAME", "cookie:NAME", "ip" or "path", got string "header"'
    ]
  },
  {
    name: 'admin on 0.0.0.0 without a token',
    files: { 'main.yaml': y('admin:', '  host: 0.0.0.0', '  port: 9180') + EMPTY_ROUTES },
    expected: [
      'main.yaml:2:9: admin.host: admin.token is required when the admin API listens on a non-loopback address ("0.0.0.0"); use 127.0.0.1 / ::1 / localhost, or set a token'
    ]
  },
  {
    name: 'admin and listen on the same port',
    files: { 'main.yaml': y('listen: {port: 9000}', 'admin: {port: 9000}') + EMPTY_ROUTES },
    expected: ['main.yaml:2:15: admin.port: port 9000 is also listen.port']
  },
  {
    name: 'node URLs',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  u:',
        '    nodes:',
        '      - url: http://10.0.0.1',
        '      - url: ftp://10.0.0.1:21',
        '      - url: http://user:pw@10.0.0.1:80',
        '      - url: http://10.0.0.1:80/a?b=1',
        '      - url: not a url'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:4:14: upstreams.u.nodes[0].url: missing port: must look like "http://host:port" or "http://host:port/base-path"',
      'main.yaml:5:14: upstreams.u.nodes[1].url: scheme must be http or https, got "ftp"',
      'main.yaml:6:14: upstreams.u.nodes[2].url: must not contain credentials (user:password@)',
      'main.yaml:7:14: upstreams.u.nodes[3].url: must not contain a query string or fragment',
      'main.yaml:8:14: upstreams.u.nodes[4].url: invalid URL: must look like "http://host:port" or "http://host:port/base-path"'
    ]
  },
  {
    name: 'trusted proxies must be IPs or CIDRs',
    files: { 'main.yaml': y('server:', '  trustedProxies: [10.0.0.1, 10.0.0.0/33, "::1/129", "fd00::/8", proxy.local]') + EMPTY_ROUTES },
    expected: [
      'main.yaml:2:30: server.trustedProxies[1]: "10.0.0.0/33": prefix length must be 0..32',
      'main.yaml:2:43: server.trustedProxies[2]: "::1/129": prefix length must be 0..128',
      'main.yaml:2:66: server.trustedProxies[4]: "proxy.local" is not an IP address or CIDR (e.g. "10.0.0.0/8", "::1")'
    ]
  },
  {
    name: 'route ids, paths, methods, hosts',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes:',
        '  - id: "a b"',
        '    match:',
        '      paths: [/ok, api, "/a/*/b", "/a/:9", "/x?y"]',
        '      methods: ["GE T"]',
        '      hosts: ["api.example.com:8080", "a.*.com"]',
        '    upstream: users',
        '  - id: b',
        '    match: {paths: []}',
        '    upstream: users'
      )
    },
    expected: [
      'main.yaml:6:9: routes[0].id: must be letters, digits, ".", "_", ":" or "-", got string "a b"',
      'main.yaml:8:20: routes[0].match.paths[1]: must start with "/"',
      'main.yaml:8:25: routes[0].match.paths[2]: \'*\' is only allowed as the last segment',
      'main.yaml:8:35: routes[0].match.paths[3]: invalid parameter ":9": a name is a letter or "_" followed by letters, digits or "_"',
      'main.yaml:8:44: routes[0].match.paths[4]: must be a path only (no query string, fragment or spaces)',
      'main.yaml:9:17: routes[0].match.methods[0]: must be an HTTP method name such as GET, got string "GE T"',
      'main.yaml:10:15: routes[0].match.hosts[0]: must be a host name without port, e.g. "api.example.com" or "*.example.com"',
      'main.yaml:10:39: routes[0].match.hosts[1]: host pattern "a.*.com": only a leading \'*.\' wildcard is allowed (no hosts means any host)',
      'main.yaml:13:20: routes[1].match.paths: must have at least 1 item'
    ]
  },
  {
    name: 'header and query conditions',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes:',
        '  - id: a',
        '    match:',
        '      paths: [/a]',
        '      headers:',
        '        X-A: {regex: "(a+)+$"}',
        '        X-B: {regex: "("}',
        '        X-C: {present: yes}',
        '        X-D: {regex: a, present: true}',
        '        X-E: 5',
        '        X-F: {regx: a}',
        '        x-g: a',
        '        X-G: b',
        '      query:',
        '        q: {}',
        '    upstream: users'
      )
    },
    expected: [
      'main.yaml:10:22: routes[0].match.headers.X-A.regex: regular expression may backtrack catastrophically (nested or too many repetitions); simplify it',
      'main.yaml:11:22: routes[0].match.headers.X-B.regex: invalid regular expression: Unterminated group',
      'main.yaml:12:24: routes[0].match.headers.X-C.present: must be a boolean, got string "yes"',
      'main.yaml:13:14: routes[0].match.headers.X-D: must be a string, {regex: "..."} or {present: true|false}',
      'main.yaml:14:14: routes[0].match.headers.X-E: must be a string, {regex: "..."} or {present: true|false}, got integer 5',
      'main.yaml:15:15: routes[0].match.headers.X-F: unknown key "regx" (did you mean "regex"?)',
      'main.yaml:19:12: routes[0].match.query.q: must be a string, {regex: "..."} or {present: true|false}'
    ]
  },
  {
    name: 'header names are case-insensitive: the same header twice',
    files: {
      'main.yaml': UPSTREAM + ROUTE_A.replace('{paths: [/a]}', '{paths: [/a], headers: {x-g: a, X-G: b}}')
    },
    expected: ['main.yaml:7:44: routes[0].match.headers: header "X-G" is given twice (header names are case-insensitive)']
  },
  {
    name: 'rewrite rules',
    files: {
      'main.yaml': UPSTREAM + y(
        'routes:',
        '  - id: a',
        '    match: {paths: [/a, /b/*]}',
        '    upstream: users',
        '    rewrite: {stripPrefix: true}',
        '  - id: b',
        '    match: {paths: [/c/*]}',
        '    upstream: users',
        '    rewrite: {prefix: /x, path: /y}',
        '  - id: c',
        '    match: {paths: ["/d/:id", "/e/:name"]}',
        '    upstream: users',
        '    rewrite: {path: "/v2/:id"}',
        '  - id: d',
        '    match: {paths: ["/f/*"]}',
        '    upstream: users',
        '    rewrite: {stripPrefix: true, prefix: /z, path: "/g/*"}'
      )
    },
    expected: [
      'main.yaml:9:28: routes[0].rewrite.stripPrefix: stripPrefix needs every path of the route to end in "/*" ("/a" does not)',
      'main.yaml:13:14: routes[1].rewrite: use either rewrite.prefix or rewrite.path, not both',
      'main.yaml:17:21: routes[2].rewrite.path: uses parameter ":id" which path "/e/:name" does not have',
      'main.yaml:21:52: routes[3].rewrite.path: "*" is not allowed in a rewrite template (use rewrite.prefix to keep the rest of the path)'
    ]
  },
  {
    name: 'every error of a file is reported, in file order',
    files: {
      'main.yaml': y(
        'listen: {port: 70000}',
        'upstreams:',
        '  u:',
        '    retries: 11',
        '    nodes: [{url: "http://a:1", zone: ""}]',
        'routes:',
        '  - id: a',
        '    match: {paths: [/a]}',
        '    upstream: u',
        '    websocket: 1',
        '    priority: high'
      )
    },
    expected: [
      'main.yaml:1:16: listen.port: must be <= 65535, got 70000',
      'main.yaml:4:14: upstreams.u.retries: must be <= 10, got 11',
      'main.yaml:5:39: upstreams.u.nodes[0].zone: must not be empty',
      'main.yaml:10:16: routes[0].websocket: must be a boolean, got integer 1',
      'main.yaml:11:15: routes[0].priority: must be an integer, got string "high"'
    ]
  },
  {
    name: 'the top level must be a mapping',
    files: { 'main.yaml': y('- a', '- b') },
    expected: ['main.yaml:1:1: the top level must be a mapping (listen:, upstreams:, routes: ...)']
  }
]

// Every issue points into the file its value came from, also when the main file
// has no `routes:` / `upstreams:` of its own (as config/gateway.yaml).
const MAIN_WITHOUT_ROUTES = y(
  '# comment lines first, as in config/gateway.yaml',
  '',
  '',
  'listen:',
  '  port: 8080',
  'include:',
  '  - routes'
) + UPSTREAM

const crossFileCases: Case[] = [
  {
    name: 'main without routes: (directory include): an error inside an included route',
    files: {
      'main.yaml': MAIN_WITHOUT_ROUTES,
      'routes/a.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users', '    priority: high')
    },
    expected: ['routes/a.yaml:5:15: routes[0].priority: must be an integer, got string "high"']
  },
  {
    name: 'main without routes: missing key, unknown key, bad path, unknown upstream in included routes',
    files: {
      'main.yaml': MAIN_WITHOUT_ROUTES,
      'routes/a.yaml': y(
        'routes:',
        '  - id: a',
        '    match: {paths: [/a]}',
        '  - id: b',
        '    match: {paths: ["/b/:x-y"]}',
        '    upstream: users',
        '    upsteam: users',
        '  - id: c',
        '    match: {paths: [/c]}',
        '    upstream: orders'
      )
    },
    expected: [
      'routes/a.yaml:2:5: routes[0]: missing required key "upstream"',
      'routes/a.yaml:5:21: routes[1].match.paths[0]: invalid parameter ":x-y": a name is a letter or "_" followed by letters, digits or "_"',
      'routes/a.yaml:7:5: routes[1]: unknown key "upsteam" (did you mean "upstream"?)',
      'routes/a.yaml:10:15: routes[2].upstream: unknown upstream "orders"; defined: users'
    ]
  },
  {
    name: 'main with an empty routes: key: errors in included routes still point at the included file',
    files: {
      'main.yaml': UPSTREAM + y('include: [extra.yaml]', 'routes:'),
      'extra.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users', '    websocket: 1')
    },
    expected: ['extra.yaml:5:16: routes[0].websocket: must be a boolean, got integer 1']
  },
  {
    name: 'main without upstreams: an error inside an upstream of an included file',
    files: {
      'main.yaml': y('include: [up.yaml]') + ROUTE_A,
      'up.yaml': y('upstreams:', '  users:', '    retries: 11', '    nodes: [{url: "http://a:1", weight: x}]')
    },
    expected: [
      'up.yaml:3:14: upstreams.users.retries: must be <= 10, got 11',
      'up.yaml:4:41: upstreams.users.nodes[0].weight: must be an integer, got string "x"'
    ]
  },
  {
    name: 'main without upstreams: invalid name, chash without hashOn, missing nodes in included upstreams',
    files: {
      'main.yaml': y('include: [up.yaml]') + EMPTY_ROUTES,
      'up.yaml': y(
        'upstreams:',
        '  "bad name": {nodes: [{url: "http://a:1"}]}',
        '  a:',
        '    balancer: chash',
        '    nodes: [{url: "http://a:1"}]',
        '  b:',
        '    retries: 1'
      )
    },
    expected: [
      'up.yaml:2:3: upstreams: invalid key "bad name": must be letters, digits, ".", "_", ":" or "-"',
      'up.yaml:4:15: upstreams.a.balancer: balancer "chash" needs hashOn ("header:NAME", "cookie:NAME", "ip" or "path")',
      'up.yaml:7:5: upstreams.b: missing required key "nodes"'
    ]
  },
  {
    name: 'main without routes: or upstreams: an unset ${VAR} in included files',
    files: {
      'main.yaml': y('include: [up.yaml, routes.yaml]'),
      'up.yaml': y('upstreams:', '  users:', '    nodes: [{url: "http://${USERS_HOST}:1"}]'),
      'routes.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users',
        '    plugins: {headers: {request: {set: {x-v: "${VERSION}"}}}}')
    },
    expected: [
      'up.yaml:3:19: upstreams.users.nodes[0].url: environment variable USERS_HOST is not set (use ${USERS_HOST:-default} to give a default)',
      'routes.yaml:5:46: routes[0].plugins.headers.request.set.x-v: environment variable VERSION is not set (use ${VERSION:-default} to give a default)'
    ]
  },
  {
    name: 'a whole-value ${VAR} in an included file that is not numeric where an integer is expected',
    files: {
      'main.yaml': y('include: [up.yaml]') + EMPTY_ROUTES,
      'up.yaml': y('upstreams:', '  users:', '    retries: ${RETRIES}', '    nodes: [{url: "http://a:1"}]')
    },
    env: { RETRIES: 'three' },
    expected: ['up.yaml:3:14: upstreams.users.retries: must be an integer, got string "three"']
  },
  {
    name: 'an error inside a <<-merged mapping of an included file points at the anchor in that file',
    files: {
      'main.yaml': y('include: [up.yaml]') + EMPTY_ROUTES,
      'up.yaml': y(
        'upstreams:',
        '  a:',
        '    <<: &d {retries: many, nodes: [{url: "http://a:1"}]}',
        '  b:',
        '    <<: *d',
        '    timeouts: {connect: soon}'
      )
    },
    expected: [
      'up.yaml:3:22: upstreams.a.retries: must be an integer, got string "many"',
      'up.yaml:3:22: upstreams.b.retries: must be an integer, got string "many"',
      'up.yaml:6:25: upstreams.b.timeouts.connect: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "soon"'
    ]
  },
  {
    name: 'an error inside an aliased route of an included file points at the anchored route',
    files: {
      'main.yaml': UPSTREAM + y('include: [extra.yaml]'),
      'extra.yaml': y(
        'routes:',
        '  - &r',
        '    id: a',
        '    match: {paths: [/a]}',
        '    upstream: users',
        '    priority: high'
      )
    },
    expected: ['extra.yaml:6:15: routes[0].priority: must be an integer, got string "high"']
  },
  {
    name: 'duplicate upstream across two included files (none in the main file)',
    files: {
      'main.yaml': y('include: [conf.d]'),
      'conf.d/a.yaml': y('upstreams:', '  users: {nodes: [{url: "http://a:1"}]}'),
      'conf.d/b.yaml': y('# b', 'upstreams:', '  other: {nodes: [{url: "http://b:1"}]}', '  users: {nodes: [{url: "http://b:2"}]}')
    },
    expected: ['conf.d/b.yaml:4:3: upstreams.users: duplicate upstream "users" (first defined at conf.d/a.yaml:2)']
  },
  {
    name: 'duplicate route id across two included files (none in the main file)',
    files: {
      'main.yaml': UPSTREAM + y('include: [conf.d]'),
      'conf.d/a.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users'),
      'conf.d/b.yaml': y('routes:', '  - id: b', '    match: {paths: [/b]}', '    upstream: users', '  - id: a', '    match: {paths: [/c]}', '    upstream: users')
    },
    expected: ['conf.d/b.yaml:5:9: routes[2].id: duplicate route id "a" (first defined at conf.d/a.yaml:2)']
  },
  {
    name: 'conflicting routes across two included files (none in the main file)',
    files: {
      'main.yaml': UPSTREAM + y('include: [a.yaml, b.yaml]'),
      'a.yaml': y('routes:', '  - id: a', '    match: {paths: ["/o/:id"]}', '    upstream: users'),
      'b.yaml': y('', 'routes:', '  - id: b', '    match: {paths: ["/o/:x"]}', '    upstream: users')
    },
    expected: [
      'b.yaml:4:12: routes[1].match: routes "a" and "b" have the same priority (0), paths /o/:id and /o/:x, any host, any method: "b" can never be chosen there (route "a" is at a.yaml:2)'
    ]
  },
  {
    name: 'rewrite rules and plugin check() in an included file (none in the main file)',
    files: {
      'main.yaml': UPSTREAM + y('include: [extra.yaml]'),
      'extra.yaml': y(
        'routes:',
        '  - id: a',
        '    match: {paths: [/a]}',
        '    upstream: users',
        '    rewrite: {stripPrefix: true}',
        '    plugins:',
        '      cors: {allowCredentials: true}'
      )
    },
    expected: [
      'extra.yaml:5:28: routes[0].rewrite.stripPrefix: stripPrefix needs every path of the route to end in "/*" ("/a" does not)',
      'extra.yaml:7:13: routes[0].plugins.cors: allowCredentials cannot be combined with allowOrigins "*" (browsers refuse it): list the origins'
    ]
  },
  {
    name: 'a route that is not a mapping, and an included file that is not a mapping (none in the main file)',
    files: {
      'main.yaml': UPSTREAM + y('include: [a.yaml, b.yaml]'),
      'a.yaml': y('# a', 'routes:', '  - /a'),
      'b.yaml': y('# b', '- routes')
    },
    expected: [
      'a.yaml:3:5: routes[0]: must be a mapping, got string "/a"',
      'b.yaml:2:1: an included file must be a mapping with "upstreams:" and/or "routes:"'
    ]
  },
  {
    name: 'a file of an included directory listed again: at the second include entry',
    files: {
      'main.yaml': y('include:', '  - conf.d', '  - conf.d/a.yaml'),
      'conf.d/a.yaml': ''
    },
    expected: ['main.yaml:3:5: include[1]: conf.d/a.yaml is already loaded (included twice, or the main file)']
  },
  {
    name: 'an unset ${VAR} in an include entry: one issue, at that entry of the main file',
    files: { 'main.yaml': y('listen: {port: 80}', 'include:', '  - conf.d', '  - "${EXTRA_DIR}"'), 'conf.d/a.yaml': '' },
    expected: ['main.yaml:4:5: include[1]: environment variable EXTRA_DIR is not set (use ${EXTRA_DIR:-default} to give a default)']
  }
]

describeRefusals('loadConfig: issues point into the file the value came from', crossFileCases)

// The main file below the directory issues are shown relative to (as
// `gateway validate config/gateway.yaml` run from the project root): the files
// named inside a message ("first defined at ...") are shown like the issue's own.
const nestedMainCases: Array<{ name: string; files: Record<string, string>; expected: string[] }> = [
  {
    name: 'duplicate route id: the first definition is shown relative to the same directory',
    files: {
      'etc/main.yaml': UPSTREAM + y('include: [conf.d]'),
      'etc/conf.d/a.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users'),
      'etc/conf.d/b.yaml': y('routes:', '  - id: a', '    match: {paths: [/b]}', '    upstream: users')
    },
    expected: ['etc/conf.d/b.yaml:2:9: routes[1].id: duplicate route id "a" (first defined at etc/conf.d/a.yaml:2)']
  },
  {
    name: 'duplicate upstream: the first definition is shown relative to the same directory',
    files: {
      'etc/main.yaml': UPSTREAM + y('include: [conf.d]'),
      'etc/conf.d/a.yaml': y('upstreams:', '  users: {nodes: [{url: "http://b:2"}]}')
    },
    expected: ['etc/conf.d/a.yaml:2:3: upstreams.users: duplicate upstream "users" (first defined at etc/main.yaml:2)']
  },
  {
    name: 'conflicting routes: the shadowing route is shown relative to the same directory',
    files: {
      'etc/main.yaml': UPSTREAM + y('include: [conf.d]', 'routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users'),
      'etc/conf.d/a.yaml': y('routes:', '  - id: b', '    match: {paths: [/a]}', '    upstream: users')
    },
    expected: [
      'etc/conf.d/a.yaml:3:12: routes[1].match: routes "a" and "b" have the same priority (0), path /a, any host, any method: "b" can never be chosen there (route "a" is at etc/main.yaml:7)'
    ]
  }
]

describe('loadConfig: files named in a message are shown like the issue location', () => {
  for (const c of nestedMainCases) {
      it(c.name, () => {
      const dir = writeTree(c.files)
      const result = loadConfig(join(dir, 'etc', 'main.yaml'), {})
      assert.equal(result.ok, false, 'expected the config to be refused')
      if (result.ok) return
      assert.deepEqual(result.issues.map((i) => formatIssueRelativeTo(i, dir)), c.expected)
      // Relative to the main file's directory, as before.
      assert.deepEqual(result.issues.map((i) => formatIssueRelativeTo(i, join(dir, 'etc'))), c.expected.map((l) => l.split('etc/').join('')))
    })
  }
})

describeRefusals('loadConfig: issues (file:line:column: path: message)', cases)

describe('loadConfig: accepted forms', () => {
  it('env substitution: set, default, whole-value coercion, escapes', () => {
    const config = okConfig({
      'main.yaml': y(
        'listen:',
        '  host: ${HOST}',
        '  port: ${PORT}',
        'admin:',
        '  port: ${ADMIN_PORT:-9999}',
        '  token: "${EMPTY:-fallback}"',
        'accessLog: {enabled: "${ACCESS_LOG}"}',
        'server: {bodyLimit: "${BODY_LIMIT:-4mb}", drainTimeout: "${DRAIN}"}',
        'upstreams:',
        '  users:',
        '    nodes:',
        '      - url: http://${UPSTREAM_HOST}:${UPSTREAM_PORT}',
        '        weight: ${WEIGHT}',
        'routes:',
        '  - id: a',
        '    match: {paths: [/a]}',
        '    upstream: users',
        '    plugins:',
        '      headers:',
        '        request: {set: {x-version: "${VERSION}", x-literal: "$${NOT_A_VAR}"}}'
      )
    }, {
      HOST: '10.1.2.3',
      PORT: '8443',
      EMPTY: '',
      ACCESS_LOG: 'false',
      DRAIN: '5s',
      UPSTREAM_HOST: 'users.internal',
      UPSTREAM_PORT: '9000',
      WEIGHT: '7',
      VERSION: '2'
    })
    assert.deepEqual(config.listen, { host: '10.1.2.3', port: 8443 })
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9999, token: 'fallback' })
    assert.equal(config.accessLog.enabled, false)
    assert.equal(config.server.bodyLimit, 4 * 1024 * 1024)
    assert.equal(config.server.drainTimeout, 5000)
    assert.deepEqual(config.upstreams.users!.nodes[0], { url: 'http://users.internal:9000', weight: 7, metadata: {} })
    // A string position keeps the string, even when it looks like a number.
    assert.deepEqual(config.routes[0]!.plugins.headers, {
      request: { set: { 'x-literal': '${NOT_A_VAR}', 'x-version': '2' }, remove: [] },
      response: { set: {}, remove: [] }
    })
  })

  it('include of a directory: *.yaml and *.yml sorted by name, not recursive, others ignored', () => {
    const { dir, result } = load({
      'main.yaml': UPSTREAM + y('include: [conf.d, single.yml]'),
      'conf.d/b.yml': y('routes:', '  - id: b', '    match: {paths: [/b]}', '    upstream: users'),
      'conf.d/a.yaml': y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users'),
      'conf.d/c.txt': 'not: [yaml',
      'conf.d/nested/d.yaml': 'not: [yaml',
      'conf.d/empty.yaml': '# nothing yet\n',
      'single.yml': y('upstreams:', '  other: {nodes: [{url: "http://o:1"}]}', 'routes:', '  - id: c', '    match: {paths: [/c]}', '    upstream: other')
    })
    if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
    assert.deepEqual(result.config.routes.map((r) => r.id), ['a', 'b', 'c'])
    assert.deepEqual(Object.keys(result.config.upstreams), ['other', 'users'])
    assert.deepEqual(result.files.map((f) => f.slice(dir.length + 1)), [
      'main.yaml', 'conf.d', 'conf.d/a.yaml', 'conf.d/b.yml', 'conf.d/empty.yaml', 'single.yml'
    ])
  })

  it('sizes and durations are normalised to bytes and milliseconds', () => {
    const config = okConfig({
      'main.yaml': UPSTREAM.replace('    nodes:', '    timeouts: {connect: 250ms, header: 1m, idle: 90000}\n    pool: {keepAliveTimeout: 1.5s}\n    nodes:') + ROUTE_A + y(
        '    bodyLimit: 10M',
        'server:',
        '  bodyLimit: 512KB',
        '  maxHeaderSize: 8192',
        '  headersTimeout: 5s',
        '  requestTimeout: 2m',
        '  keepAliveTimeout: 1h',
        '  drainTimeout: 0',
        '  pluginTimeout: 250ms'
      )
    })
    assert.deepEqual(config.server, {
      bodyLimit: 512 * 1024,
      trustedProxies: [],
      headersTimeout: 5000,
      requestTimeout: 120000,
      keepAliveTimeout: 3600000,
      drainTimeout: 0,
      maxHeaderSize: 8192,
      maxUriLength: 8192,
      pluginTimeout: 250
    })
    assert.equal(config.routes[0]!.bodyLimit, 10 * 1024 * 1024)
    assert.deepEqual(config.upstreams.users!.timeouts, { connect: 250, header: 60000, idle: 90000 })
    assert.equal(config.upstreams.users!.pool.keepAliveTimeout, 1500)
  })

  it('chash with hashOn gives a HashOn object', () => {
    for (const [text, expected] of [
      ['header:X-User', { kind: 'header', name: 'x-user' }],
      ['cookie:sid', { kind: 'cookie', name: 'sid' }],
      ['ip', { kind: 'ip' }],
      ['path', { kind: 'path' }]
    ] as const) {
      const config = okConfig({ 'main.yaml': y('upstreams:', '  u:', '    balancer: chash', `    hashOn: "${text}"`, '    nodes: [{url: "http://a:1"}]') + EMPTY_ROUTES })
      assert.deepEqual(config.upstreams.u!.hashOn, expected)
    }
  })

  it('admin on a non-loopback address with a token; loopback forms without', () => {
    assert.equal(okConfig({ 'main.yaml': y('admin: {host: 0.0.0.0, token: s3cret}') + EMPTY_ROUTES }).admin.token, 's3cret')
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) {
      assert.equal(okConfig({ 'main.yaml': y(`admin: {host: "${host}"}`) + EMPTY_ROUTES }).admin.host, host)
    }
  })

  it('plugins given without options get their defaults; YAML anchors and merge keys work', () => {
    const config = okConfig({
      'main.yaml': y(
        'upstreams:',
        '  users:',
        '    timeouts: &t {connect: 1s}',
        '    nodes: [{url: "http://a:1"}]',
        '  orders:',
        '    <<: &base {retries: 3, nodes: [{url: "http://b:1"}]}',
        '    timeouts: *t',
        'routes:',
        '  - id: a',
        '    match: {paths: [/a]}',
        '    upstream: users',
        '    plugins:',
        '      headers:'
      )
    })
    assert.deepEqual(config.routes[0]!.plugins, { headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] } } })
    assert.equal(config.upstreams.orders!.retries, 3)
    assert.equal(config.upstreams.orders!.timeouts.connect, 1000)
  })

  it('an error inside a merged-in (<<) mapping points at the anchor', () => {
    const lines = issueLines({
      'main.yaml': y(
        'x-defaults: &d {retries: many}',
        'upstreams:',
        '  u:',
        '    <<: *d',
        '    nodes: [{url: "http://a:1"}]'
      ) + EMPTY_ROUTES
    })
    assert.deepEqual(lines, [
      'main.yaml:1:1: unknown key "x-defaults" (allowed: listen, admin, server, accessLog, node, redis, include, plugins, upstreams, routes)',
      'main.yaml:1:26: upstreams.u.retries: must be an integer, got string "many"'
    ])
  })
})

describe('formatIssue', () => {
  it('formats with and without a location', () => {
    assert.equal(formatIssue({ path: 'routes[0].id', message: 'boom' }), 'routes[0].id: boom')
    assert.equal(formatIssue({ path: '', message: 'boom' }), 'boom')
    assert.equal(formatIssueRelativeTo({ location: { file: '/etc/gw/main.yaml', line: 3, column: 7 }, path: 'listen.port', message: 'bad' }, '/etc/gw'),
      'main.yaml:3:7: listen.port: bad')
    assert.equal(formatIssueRelativeTo({ location: { file: '/etc/gw/main.yaml', line: 3, column: 7 }, path: '', message: 'bad' }, '/srv'),
      '/etc/gw/main.yaml:3:7: bad')
  })

  it('a missing main file is an issue without location', () => {
    const result = loadConfig('/nonexistent/gateway.yaml', {})
    assert.equal(result.ok, false)
    if (result.ok) return
    assert.deepEqual(result.issues.map(formatIssue), ['cannot read config file "/nonexistent/gateway.yaml": no such file'])
    assert.deepEqual(result.files, [])
  })
})

describe('loadConfig: 10,000 routes', () => {
  it('loads OK', () => {
    let text = 'upstreams:\n'
    for (let u = 0; u < 20; u++) text += `  svc-${u}:\n    nodes:\n      - url: http://10.0.${u}.1:8080\n      - url: http://10.0.${u}.2:8080\n        weight: 2\n`
    text += 'routes:\n'
    for (let i = 0; i < 10_000; i++) {
      text += `  - id: route-${i}\n    match:\n      hosts: [api.example.com]\n      paths: ["/svc/${i}/*", "/v2/svc-${i}/:id"]\n` +
        `      methods: [GET, POST]\n    upstream: svc-${i % 20}\n    plugins:\n      headers:\n        request:\n          set: {x-route: "r${i}"}\n`
    }
    // Correctness at scale only: a time bound loose enough for a loaded CI machine
    // could never fail, so none is asserted here.
    const { result } = load({ 'main.yaml': text })
    assert.ok(result.ok, result.ok ? '' : formatIssue(result.issues[0]!))
    assert.equal(result.config.routes.length, 10_000)
    assert.equal(result.config.routes[9999]!.id, 'route-9999')
  })
})
