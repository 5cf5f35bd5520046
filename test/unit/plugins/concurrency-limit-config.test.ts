// The options of concurrency-limit as the config loader sees them: defaults,
// durations, and the refusals (file:line) of a bad limit.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { formatIssueRelativeTo } from '../../../gateway/config/load-config.js'
import { describeRefusals, load, removeTrees, UPSTREAM, y } from '../config/helpers.js'

after(removeTrees)

const REDIS = y('redis:', '  url: redis://127.0.0.1:6390')

/** A config with one route whose concurrency-limit options are `lines` (indented under it). */
function withLimit (lines: string[], extra = ''): Record<string, string> {
  return {
    'main.yaml': extra + UPSTREAM + y(
      'routes:',
      '  - id: pay',
      '    match: {paths: [/pay/*]}',
      '    upstream: users',
      '    plugins:',
      '      concurrency-limit:',
      ...lines.map((l) => '        ' + l)
    )
  }
}

describe('concurrency-limit options: accepted, defaults filled in', () => {
  it('node scope: max only', () => {
    const { dir, result } = load(withLimit(['max: 5']))
    if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
    assert.deepEqual(result.config.routes[0]!.plugins['concurrency-limit'], {
      max: 5, key: [], scope: 'node', lease: 10_000, onRedisFailure: 'local', timeout: 10, name: 'concurrency-limit'
    })
  })

  it('cluster scope with a queue; options as text', () => {
    const { dir, result } = load(withLimit([
      'max: 20', 'key: [route, header:x-merchant]', 'scope: cluster', 'queue: {size: 50, timeout: 2s}',
      'lease: 5s', 'onRedisFailure: closed', 'timeout: 15ms', 'expectedNodes: 3', 'name: payments-inflight'
    ], REDIS))
    if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
    assert.deepEqual(result.config.routes[0]!.plugins['concurrency-limit'], {
      max: 20,
      key: ['route', 'header:x-merchant'],
      scope: 'cluster',
      queue: { size: 50, timeout: 2000 },
      lease: 5000,
      onRedisFailure: 'closed',
      timeout: 15,
      expectedNodes: 3,
      name: 'payments-inflight'
    })
  })

  it('cluster scope with a queue', () => {
    const { dir, result } = load(withLimit(['max: 2', 'scope: cluster', 'queue: {size: 3, timeout: 1s}'], REDIS))
    if (!result.ok) assert.fail(result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n'))
    assert.deepEqual(result.config.routes[0]!.plugins['concurrency-limit'], {
      max: 2, key: [], scope: 'cluster', queue: { size: 3, timeout: 1000 }, lease: 10_000, onRedisFailure: 'local', timeout: 10, name: 'concurrency-limit'
    })
  })
})

describeRefusals('concurrency-limit options: refused with file:line', [
  {
    name: 'max missing',
    files: withLimit(['key: [ip]']),
    expected: ['main.yaml:11:9: routes[0].plugins.concurrency-limit: missing required key "max"']
  },
  {
    name: 'max 0',
    files: withLimit(['max: 0']),
    expected: ['main.yaml:11:14: routes[0].plugins.concurrency-limit.max: must be >= 1, got 0']
  },
  {
    name: 'max negative',
    files: withLimit(['max: -3']),
    expected: ['main.yaml:11:14: routes[0].plugins.concurrency-limit.max: must be >= 1, got -3']
  },
  {
    name: 'max not an integer',
    files: withLimit(['max: 1.5']),
    expected: ['main.yaml:11:14: routes[0].plugins.concurrency-limit.max: must be an integer, got number 1.5']
  },
  {
    name: 'an unknown scope',
    files: withLimit(['max: 2', 'scope: planet']),
    expected: ['main.yaml:12:16: routes[0].plugins.concurrency-limit.scope: must be one of "node", "cluster", got string "planet"']
  },
  {
    name: 'a key part that cannot be extracted',
    files: withLimit(['max: 2', 'key: [query:x]']),
    expected: ['main.yaml:12:15: routes[0].plugins.concurrency-limit.key[0]: a key part is route, ip, consumer or header:<name>, got string "query:x"']
  },
  {
    name: 'a consumer key (no consumers: section yet)',
    files: withLimit(['max: 2', 'key: [consumer]']),
    expected: ['main.yaml:11:9: routes[0].plugins.concurrency-limit: key part "consumer" needs the consumers: section, which this gateway does not have yet']
  },
  {
    name: 'cluster scope without redis:',
    files: withLimit(['max: 2', 'scope: cluster']),
    expected: ['main.yaml:11:9: routes[0].plugins.concurrency-limit: scope: cluster needs a top-level redis: section']
  },
  {
    name: 'a queue of size 0',
    files: withLimit(['max: 2', 'queue: {size: 0, timeout: 1s}']),
    expected: ['main.yaml:12:23: routes[0].plugins.concurrency-limit.queue.size: must be >= 1, got 0']
  },
  {
    name: 'a queue timeout of 0',
    files: withLimit(['max: 2', 'queue: {size: 3, timeout: 0}']),
    expected: ['main.yaml:12:35: routes[0].plugins.concurrency-limit.queue.timeout: must be at least 1ms (a queue with no wait refuses at once: leave queue out instead)']
  },
  {
    name: 'a queue without timeout',
    files: withLimit(['max: 2', 'queue: {size: 3}']),
    expected: ['main.yaml:12:16: routes[0].plugins.concurrency-limit.queue: missing required key "timeout"']
  },
  {
    name: 'expectedNodes at node scope (it only divides a cluster limit)',
    files: withLimit(['max: 2', 'expectedNodes: 2']),
    expected: ['main.yaml:11:9: routes[0].plugins.concurrency-limit: expectedNodes applies to scope: cluster only']
  },
  {
    name: 'a lease too short to renew',
    files: withLimit(['max: 2', 'scope: cluster', 'lease: 100ms'], REDIS),
    expected: ['main.yaml:13:9: routes[0].plugins.concurrency-limit: lease must be at least 300ms (permits are renewed every lease/3)']
  },
  {
    name: 'a Redis timeout of 0',
    files: withLimit(['max: 2', 'timeout: 0']),
    expected: ['main.yaml:12:18: routes[0].plugins.concurrency-limit.timeout: must be at least 1ms (a Redis check needs a time budget)']
  },
  {
    name: 'an unknown option',
    files: withLimit(['max: 2', 'maxx: 3']),
    expected: ['main.yaml:12:9: routes[0].plugins.concurrency-limit: unknown key "maxx" (did you mean "max"?)']
  },
  {
    name: 'an unknown failure policy',
    files: withLimit(['max: 2', 'onRedisFailure: maybe']),
    expected: ['main.yaml:12:25: routes[0].plugins.concurrency-limit.onRedisFailure: must be one of "local", "open", "closed", got string "maybe"']
  },
  {
    name: 'expectedNodes 0',
    files: withLimit(['max: 2', 'expectedNodes: 0']),
    expected: ['main.yaml:12:24: routes[0].plugins.concurrency-limit.expectedNodes: must be >= 1, got 0']
  }
])
