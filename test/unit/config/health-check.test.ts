// `upstreams.<name>.healthCheck`: defaults (some derived from the interval),
// the checks across its keys, and one health check per node address.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { formatIssueRelativeTo } from '../../../gateway/config/load-config.js'
import type { GatewayConfig } from '../../../gateway/config/types.js'
import { describeRefusals, EMPTY_ROUTES, load, removeTrees, y } from './helpers.js'

after(removeTrees)

function okConfig (files: Record<string, string>): GatewayConfig {
  const { dir, result } = load(files)
  if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
  return result.config
}

/** One upstream `u` on node http://127.0.0.1:9001 with these healthCheck lines (already indented by 6). */
function upstreamWith (...check: string[]): string {
  return y('upstreams:', '  u:', '    nodes: [{url: http://127.0.0.1:9001}]', '    healthCheck:', ...check.map((l) => '      ' + l)) + EMPTY_ROUTES
}

describe('healthCheck: accepted forms, normalised', () => {
  it('absent: no healthCheck in the model', () => {
    const c = okConfig({ 'main.yaml': y('upstreams:', '  u:', '    nodes: [{url: http://127.0.0.1:9001}]') + EMPTY_ROUTES })
    assert.equal(c.upstreams.u!.healthCheck, undefined)
  })

  it('only a path: every default, timeout and jitter derived from the default interval', () => {
    const c = okConfig({ 'main.yaml': upstreamWith('path: /healthz') })
    assert.deepEqual(c.upstreams.u!.healthCheck, {
      path: '/healthz', interval: 5000, jitter: 500, timeout: 1000, healthyThreshold: 2, unhealthyThreshold: 3, statuses: [200]
    })
  })

  it('a short interval: the default timeout is half of it, the default jitter a tenth', () => {
    const c = okConfig({ 'main.yaml': upstreamWith('path: /ready?deep=1', 'interval: 100ms') })
    const hc = c.upstreams.u!.healthCheck!
    assert.equal(hc.path, '/ready?deep=1')
    assert.equal(hc.timeout, 50)
    assert.equal(hc.jitter, 10)
  })

  it('every key written; statuses sorted without repeats; host lower-cased', () => {
    const c = okConfig({
      'main.yaml': upstreamWith('path: /h', 'interval: 2s', 'jitter: 0', 'timeout: 300ms', 'healthyThreshold: 1',
        'unhealthyThreshold: 5', 'statuses: [204, 200, 204]', 'host: Health.Internal:8080')
    })
    assert.deepEqual(c.upstreams.u!.healthCheck, {
      path: '/h', interval: 2000, jitter: 0, timeout: 300, healthyThreshold: 1, unhealthyThreshold: 5, statuses: [200, 204], host: 'health.internal:8080'
    })
  })

  it('two upstreams listing one node with the same check (spelt differently) are accepted', () => {
    const c = okConfig({
      'main.yaml': y(
        'upstreams:',
        '  a:',
        '    nodes: [{url: http://127.0.0.1:9001}]',
        '    healthCheck: {path: /healthz, interval: 1s}',
        '  b:',
        '    nodes: [{url: "http://127.0.0.1:9001/v2", weight: 3}]',
        '    healthCheck: {path: /healthz, interval: 1000, timeout: 500ms, jitter: 100ms, statuses: [200, 200]}'
      ) + EMPTY_ROUTES
    })
    assert.deepEqual(c.upstreams.a!.healthCheck, c.upstreams.b!.healthCheck)
  })

  it('an upstream without a check may list a node another upstream checks (either order): the check is the node\'s', () => {
    const c = okConfig({
      'main.yaml': y(
        'upstreams:',
        '  checked:',
        '    nodes: [{url: http://127.0.0.1:9001}]',
        '    healthCheck: {path: /healthz}',
        '  plain:',
        '    nodes: [{url: http://127.0.0.1:9001}, {url: http://127.0.0.1:9003}]',
        '  checked2:',
        '    nodes: [{url: http://127.0.0.1:9003}]',
        '    healthCheck: {path: /healthz}'
      ) + EMPTY_ROUTES
    })
    assert.equal(c.upstreams.plain!.healthCheck, undefined)
  })
})

describeRefusals('healthCheck: refused values, each at its file:line', [
  {
    name: 'path missing; bad values of each key',
    files: {
      'main.yaml': upstreamWith('interval: 0', 'jitter: soon', 'timeout: 0', 'healthyThreshold: 0', 'unhealthyThreshold: 101',
        'statuses: []', 'host: "a b"', 'probe: yes')
    },
    expected: [
      'main.yaml:5:7: upstreams.u.healthCheck: missing required key "path"',
      'main.yaml:5:17: upstreams.u.healthCheck.interval: must be at least 1ms (0 would probe the node in a tight loop)',
      'main.yaml:6:15: upstreams.u.healthCheck.jitter: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "soon"',
      'main.yaml:7:16: upstreams.u.healthCheck.timeout: must be at least 1ms (0 switches off the probe timeout: a node that accepts the connection and never answers would never be judged)',
      'main.yaml:8:25: upstreams.u.healthCheck.healthyThreshold: must be >= 1, got 0',
      'main.yaml:9:27: upstreams.u.healthCheck.unhealthyThreshold: must be <= 100, got 101',
      'main.yaml:10:17: upstreams.u.healthCheck.statuses: must have at least 1 item',
      'main.yaml:11:13: upstreams.u.healthCheck.host: must be a host name or IP, with an optional port, e.g. "orders.internal" or "10.0.0.1:8080", got string "a b"',
      'main.yaml:12:7: upstreams.u.healthCheck: unknown key "probe" (allowed: path, interval, jitter, timeout, healthyThreshold, unhealthyThreshold, statuses, host)'
    ]
  },
  {
    name: 'a path not starting with "/"; a status out of range',
    files: { 'main.yaml': upstreamWith('path: healthz', 'statuses: [200, 600]') },
    expected: [
      'main.yaml:5:13: upstreams.u.healthCheck.path: must be a path starting with "/", without spaces, e.g. "/healthz", got string "healthz"',
      'main.yaml:6:23: upstreams.u.healthCheck.statuses[1]: must be <= 599, got 600'
    ]
  },
  {
    name: 'timeout not shorter than the interval; jitter longer than the interval',
    files: { 'main.yaml': upstreamWith('path: /healthz', 'interval: 1s', 'timeout: 1s', 'jitter: 2s') },
    expected: [
      'main.yaml:7:16: upstreams.u.healthCheck.timeout: must be shorter than healthCheck.interval (1000ms): a probe would still be waiting when the next one is due',
      'main.yaml:8:15: upstreams.u.healthCheck.jitter: must not be longer than healthCheck.interval (1000ms)'
    ]
  },
  {
    name: 'two upstreams listing one node with different checks: at the second, naming the first',
    files: {
      'main.yaml': y(
        'include: [more.yaml]',
        'upstreams:',
        '  orders:',
        '    nodes: [{url: http://127.0.0.1:9001}, {url: http://127.0.0.1:9002}]',
        '    healthCheck: {path: /healthz, interval: 1s}',
        '  agreeing:',
        '    nodes: [{url: http://127.0.0.1:9002}]',
        '    healthCheck: {path: /healthz, interval: 1s}'
      ) + EMPTY_ROUTES,
      'more.yaml': y(
        'upstreams:',
        '  billing:',
        '    nodes: [{url: http://127.0.0.1:9002}, {url: http://127.0.0.1:9001}]',
        '    healthCheck: {path: /healthz, interval: 2s}'
      )
    },
    expected: [
      'more.yaml:4:5: upstreams.billing.healthCheck: node http://127.0.0.1:9002 is also checked by upstream "orders" with a different healthCheck; ' +
        'a node has one health check, so the upstreams that give it one must give it the same (its healthCheck at main.yaml:5)'
    ]
  }
])
