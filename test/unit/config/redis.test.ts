// The top-level `redis:` and `node:` sections, and plugin check()s that need
// to know what the config defines (ConfigRefs): a limit shared through Redis
// is refused, at its route, when there is no `redis:` section.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { formatIssueRelativeTo, loadConfig } from '../../../gateway/config/load-config.js'
import type { GatewayConfig } from '../../../gateway/config/types.js'
import { loadPluginRegistry, type PluginRegistry } from '../../../plugins/registry.js'
import { probePluginModule } from '../../helpers/probe-plugin.js'
import { describeRefusals, EMPTY_ROUTES, load, removeTrees, writeTree, y } from './helpers.js'

after(removeTrees)

function okConfig (files: Record<string, string>, env: NodeJS.ProcessEnv = {}): GatewayConfig {
  const { dir, result } = load(files, env)
  if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
  return result.config
}

describe('redis: accepted forms, normalised', () => {
  it('a URL: split into endpoint, credentials (percent-decoded) and database; defaults filled in', () => {
    const c = okConfig({ 'main.yaml': y('redis:', '  url: redis://app:p%40ss@10.0.0.5:6380/2') + EMPTY_ROUTES })
    assert.deepEqual(c.redis, {
      mode: 'standalone',
      endpoints: [{ host: '10.0.0.5', port: 6380 }],
      tls: false,
      db: 2,
      keyPrefix: 'gw:',
      commandTimeout: 50,
      connectTimeout: 1000,
      reconnect: { min: 50, max: 2000 },
      username: 'app',
      password: 'p@ss'
    })
  })

  it('rediss:// is TLS, the port defaults to 6379; the password from ${ENV}; durations as text', () => {
    const c = okConfig({
      'main.yaml': y(
        'redis:',
        '  url: rediss://cache.internal',
        '  password: ${REDIS_PASSWORD}',
        '  db: 3',
        '  keyPrefix: "edge:"',
        '  commandTimeout: 20ms',
        '  connectTimeout: 2s',
        '  reconnect: {min: 10ms, max: 1s}'
      ) + EMPTY_ROUTES
    }, { REDIS_PASSWORD: 's3cret' })
    assert.deepEqual(c.redis, {
      mode: 'standalone',
      endpoints: [{ host: 'cache.internal', port: 6379 }],
      tls: true,
      db: 3,
      keyPrefix: 'edge:',
      commandTimeout: 20,
      connectTimeout: 2000,
      reconnect: { min: 10, max: 1000 },
      password: 's3cret'
    })
  })

  it('sentinels with the master name; a cluster', () => {
    const s = okConfig({
      'main.yaml': y('redis:', '  sentinels: [{host: 10.0.0.1, port: 26379}, {host: 10.0.0.2, port: 26379}]', '  name: mymaster') + EMPTY_ROUTES
    })
    assert.equal(s.redis?.mode, 'sentinel')
    assert.equal(s.redis?.name, 'mymaster')
    assert.deepEqual(s.redis?.endpoints, [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }])
    const k = okConfig({ 'main.yaml': y('redis:', '  cluster: [{host: 10.0.0.1, port: 7000}]') + EMPTY_ROUTES })
    assert.equal(k.redis?.mode, 'cluster')
    assert.equal(k.redis?.db, 0)
  })

  it('no redis: section: none in the model; node.id is optional', () => {
    const c = okConfig({ 'main.yaml': EMPTY_ROUTES })
    assert.equal(c.redis, undefined)
    assert.deepEqual(c.node, {})
    assert.deepEqual(okConfig({ 'main.yaml': y('node: {id: gw-eu-1}') + EMPTY_ROUTES }).node, { id: 'gw-eu-1' })
  })

  it('the digest of the section is a key of its own, unchanged by edits elsewhere', () => {
    const a = load({ 'main.yaml': y('redis: {url: "redis://127.0.0.1:6379"}') + EMPTY_ROUTES })
    const b = load({ 'main.yaml': y('redis: {url: "redis://127.0.0.1:6379"}', 'listen: {port: 8081}') + EMPTY_ROUTES })
    const c = load({ 'main.yaml': y('redis: {url: "redis://127.0.0.1:6379", commandTimeout: 60}') + EMPTY_ROUTES })
    const none = load({ 'main.yaml': EMPTY_ROUTES })
    assert.ok(a.result.ok && b.result.ok && c.result.ok && none.result.ok)
    assert.equal(a.result.keys.redis, b.result.keys.redis)
    assert.notEqual(a.result.keys.redis, c.result.keys.redis)
    assert.equal(none.result.keys.redis, '')
  })
})

describeRefusals('redis: refused, at file:line', [
  {
    name: 'none of url / sentinels / cluster',
    files: { 'main.yaml': y('routes: []', 'redis:', '  db: 1') },
    expected: ['main.yaml:2:1: redis: give the Redis to use: redis.url, redis.sentinels (with redis.name) or redis.cluster']
  },
  {
    name: 'two forms at once',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://127.0.0.1:6379', '  cluster: [{host: 127.0.0.1, port: 7000}]') },
    expected: ['main.yaml:4:3: redis.cluster: redis.cluster cannot be combined with redis.url: give exactly one of url, sentinels or cluster']
  },
  {
    name: 'sentinels without the master name; a name without sentinels',
    files: { 'main.yaml': y('routes: []', 'redis:', '  sentinels: [{host: 127.0.0.1, port: 26379}]') },
    expected: ['main.yaml:3:3: redis.sentinels: sentinels need redis.name: the name the sentinels know the master by']
  },
  {
    name: 'a name without sentinels',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://127.0.0.1:6379', '  name: mymaster') },
    expected: ['main.yaml:4:3: redis.name: redis.name (the sentinel master name) is only used with redis.sentinels']
  },
  {
    name: 'a URL that is not redis:// (the message does not repeat it: it may hold a password)',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: http://user:hunter2@127.0.0.1:6379') },
    expected: ['main.yaml:3:8: redis.url: scheme must be redis or rediss, got "http"']
  },
  {
    name: 'a URL with a query string or a path that is not a database',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://:hunter2@127.0.0.1:6379/cache') },
    expected: ['main.yaml:3:8: redis.url: the path, if any, must be a database number ("/0")']
  },
  {
    name: 'the password both in the URL and as redis.password; the database twice',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://:a@127.0.0.1:6379/1', '  password: b', '  db: 2') },
    expected: [
      'main.yaml:4:3: redis.password: the password is also in redis.url: give it once',
      'main.yaml:5:3: redis.db: the database is also in redis.url: give it once'
    ]
  },
  {
    name: 'a cluster with a database other than 0',
    files: { 'main.yaml': y('routes: []', 'redis:', '  cluster: [{host: 127.0.0.1, port: 7000}]', '  db: 1') },
    expected: ['main.yaml:4:3: redis.db: Redis Cluster has only database 0']
  },
  {
    name: 'a timeout of 0, a backoff whose min exceeds its max',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://127.0.0.1:6379', '  commandTimeout: 0', '  reconnect: {min: 5s, max: 1s}') },
    expected: [
      'main.yaml:4:19: redis.commandTimeout: must be at least 1ms (0 switches off the command timeout: a slow or frozen Redis would hold requests for good)',
      'main.yaml:5:20: redis.reconnect.min: must not be longer than redis.reconnect.max (1000ms)'
    ]
  },
  {
    name: 'an unknown key, an endpoint without a port',
    files: { 'main.yaml': y('routes: []', 'redis:', '  sentinels: [{host: 127.0.0.1}]', '  name: m', '  comandTimeout: 10') },
    expected: [
      'main.yaml:3:15: redis.sentinels[0]: missing required key "port"',
      'main.yaml:5:3: redis: unknown key "comandTimeout" (did you mean "commandTimeout"?)'
    ]
  },
  {
    name: 'an unset ${VAR} for the password',
    files: { 'main.yaml': y('routes: []', 'redis:', '  url: redis://127.0.0.1:6379', '  password: ${REDIS_PASSWORD}') },
    expected: ['main.yaml:4:13: redis.password: environment variable REDIS_PASSWORD is not set (use ${REDIS_PASSWORD:-default} to give a default)']
  },
  {
    name: 'a node id that is not an id',
    files: { 'main.yaml': y('routes: []', 'node:', '  id: gw 1') },
    expected: ['main.yaml:3:7: node.id: must be letters, digits, ".", "_", ":" or "-", got string "gw 1"']
  }
])

describe('plugin check() sees what the config defines (ConfigRefs)', () => {
  let plugins: PluginRegistry
  before(async () => { plugins = await loadPluginRegistry([probePluginModule]) })

  const route = (scope: string): string => y(
    'upstreams: {app: {nodes: [{url: "http://127.0.0.1:3000"}]}}',
    'routes:',
    '  - id: limited',
    '    match: {paths: [/a]}',
    '    upstream: app',
    '    plugins:',
    `      probe: {tag: t, scope: ${scope}}`
  )
  const issues = (main: string): string[] => {
    const dir = writeTree({ 'main.yaml': main })
    const result = loadConfig(join(dir, 'main.yaml'), {}, plugins)
    return result.ok ? ['OK'] : result.issues.map((i) => formatIssueRelativeTo(i, dir))
  }

  it('a cluster scope without a redis: section is refused at the plugin entry', () => {
    assert.deepEqual(issues(route('cluster')), [
      'main.yaml:7:14: routes[0].plugins.probe: scope "cluster" needs a top-level redis: section (the shared counters live there)'
    ])
  })

  it('with a redis: section, or a local scope, it is accepted', () => {
    assert.deepEqual(issues(route('cluster') + y('redis: {url: "redis://127.0.0.1:6379"}')), ['OK'])
    assert.deepEqual(issues(route('local')), ['OK'])
  })

  it('a redis: section with errors of its own counts as present (only its own errors are shown)', () => {
    assert.deepEqual(issues(route('cluster') + y('redis: {url: "http://127.0.0.1:6379"}')), [
      'main.yaml:8:14: redis.url: scheme must be redis or rediss, got "http"'
    ])
  })
})
