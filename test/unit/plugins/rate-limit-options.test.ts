// Validation of the rate-limit options through loadConfig: every problem is a
// config error at file:line, like any other.
import { after } from 'node:test'
import { describeRefusals, removeTrees, UPSTREAM, y } from '../config/helpers.js'

after(removeTrees)

const route = (...plugin: string[]): string => y(
  'routes:',
  '  - id: a',
  '    match: {paths: [/a]}',
  '    upstream: users',
  '    plugins:',
  '      rate-limit:',
  ...plugin.map((l) => '        ' + l)
)

describeRefusals('rate-limit options', [
  {
    name: 'rate must be a positive integer; window is required',
    files: { 'main.yaml': UPSTREAM + route('rate: 0') },
    expected: [
      "main.yaml:11:9: routes[0].plugins.rate-limit: missing required key \"window\"",
      'main.yaml:11:15: routes[0].plugins.rate-limit.rate: must be >= 1, got 0'
    ]
  },
  {
    name: 'a negative rate, a fractional one',
    files: { 'main.yaml': UPSTREAM + route('rate: -5', 'window: 1s') + y('  - id: b', '    match: {paths: [/b]}', '    upstream: users', '    plugins:', '      rate-limit: {rate: 1.5, window: 1s}') },
    expected: [
      'main.yaml:11:15: routes[0].plugins.rate-limit.rate: must be >= 1, got -5',
      'main.yaml:17:26: routes[1].plugins.rate-limit.rate: must be an integer, got number 1.5'
    ]
  },
  {
    name: 'window: at least 1s, whole seconds, a duration',
    files: { 'main.yaml': UPSTREAM + route('rate: 5', 'window: 500ms') + y('  - id: b', '    match: {paths: [/b]}', '    upstream: users', '    plugins:', '      rate-limit: {rate: 1, window: 1500ms}', '  - id: c', '    match: {paths: [/c]}', '    upstream: users', '    plugins:', '      rate-limit: {rate: 1, window: often}') },
    expected: [
      'main.yaml:11:9: routes[0].plugins.rate-limit: window must be at least 1s, got 500ms',
      'main.yaml:17:19: routes[1].plugins.rate-limit: window must be a whole number of seconds (like "1s", "10s", "1m"), got 1500ms',
      'main.yaml:22:37: routes[2].plugins.rate-limit.window: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "often"'
    ]
  },
  {
    name: 'unknown scope, unknown failure policy',
    files: { 'main.yaml': UPSTREAM + route('rate: 5', 'window: 1m', 'scope: region', 'onRedisFailure: retry') },
    expected: [
      'main.yaml:13:16: routes[0].plugins.rate-limit.scope: must be one of "node", "cluster", got string "region"',
      'main.yaml:14:25: routes[0].plugins.rate-limit.onRedisFailure: must be one of "local", "open", "closed", got string "retry"'
    ]
  },
  {
    name: 'scope: cluster without a redis: section; expectedNodes at node scope',
    files: { 'main.yaml': UPSTREAM + route('rate: 5', 'window: 1m', 'scope: cluster') + y('  - id: b', '    match: {paths: [/b]}', '    upstream: users', '    plugins:', '      rate-limit: {rate: 1, window: 1s, expectedNodes: 3}') },
    expected: [
      'main.yaml:11:9: routes[0].plugins.rate-limit: scope: cluster needs a top-level redis: section (the shared store of the counters)',
      'main.yaml:18:19: routes[1].plugins.rate-limit: expectedNodes applies to scope: cluster only'
    ]
  },
  {
    name: 'a key that cannot be extracted; consumer keys before consumers exist',
    files: { 'main.yaml': UPSTREAM + route('rate: 5', 'window: 1m', 'key: [ip, "cookie:session"]') + y('  - id: b', '    match: {paths: [/b]}', '    upstream: users', '    plugins:', '      rate-limit: {rate: 1, window: 1s, key: [consumer]}') },
    expected: [
      'main.yaml:13:19: routes[0].plugins.rate-limit.key[1]: a key part is route, ip, consumer or header:<name>, got string "cookie:session"',
      'main.yaml:18:19: routes[1].plugins.rate-limit: key part "consumer" needs the consumers: section, which this gateway does not have yet'
    ]
  },
  {
    name: 'burstWindow: with a burst, not shorter than the window; timeout bounded; a global limit too',
    files: {
      'main.yaml': UPSTREAM + y(
        'plugins:',
        '  rate-limit: {rate: 10, window: 1m, burstWindow: 10s, timeout: 5s}'
      ) + route('rate: 5', 'window: 1m', 'burst: 2', 'burstWindow: 10s', 'timeout: 0')
    },
    expected: [
      'main.yaml:6:15: plugins.rate-limit: burstWindow without burst: set burst (the extra requests allowed per burstWindow)',
      'main.yaml:6:15: plugins.rate-limit: timeout must be at most 1000ms (a limit decision must not hold requests), got 5000ms',
      'main.yaml:17:18: routes[0].plugins.rate-limit.timeout: must be at least 1ms (a Redis check needs some time to answer)'
    ]
  }
,
  {
    name: 'burstWindow shorter than the window',
    files: { 'main.yaml': UPSTREAM + route('rate: 5', 'window: 1m', 'burst: 2', 'burstWindow: 10s') },
    expected: ['main.yaml:11:9: routes[0].plugins.rate-limit: burstWindow (10000ms) must not be shorter than window (60000ms)']
  }
])
