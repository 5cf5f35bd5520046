// Validation of the traffic-split options through loadConfig: every problem is
// a config error at the file:line of the key it is about (check() returns
// located problems), with a did-you-mean for a misspelt name.
import { after } from 'node:test'
import { describeRefusals, removeTrees, y } from '../config/helpers.js'

after(removeTrees)

const UPSTREAMS = y(
  'upstreams:',
  '  payments-blue:',
  '    nodes: [{url: http://127.0.0.1:3001}]',
  '  payments-green:',
  '    nodes: [{url: http://127.0.0.1:3002}]'
)

/** A route `pay` whose traffic-split options (one line each) start on line 12. */
const route = (...plugin: string[]): string => UPSTREAMS + y(
  'routes:',
  '  - id: pay',
  '    match: {paths: [/pay/*]}',
  '    upstream: payments-blue',
  '    plugins:',
  '      traffic-split:',
  ...plugin.map((l) => '        ' + l)
)

const SIDES = ['sides: {blue: payments-blue, green: payments-green}', 'active: blue']

/** Another route `id` with the traffic-split options `plugin` (one line each). */
const more = (id: string, ...plugin: string[]): string => y(
  `  - id: ${id}`,
  `    match: {paths: [/${id}]}`,
  '    upstream: payments-blue',
  '    plugins:',
  '      traffic-split:',
  ...plugin.map((l) => '        ' + l)
)

describeRefusals('traffic-split options', [
  {
    name: 'a misspelt upstream in sides: at that key, with a did-you-mean',
    files: { 'main.yaml': route('sides:', '  blue: payments-blue', '  green: payments-gren', 'active: blue') },
    expected: [
      'main.yaml:14:18: routes[0].plugins.traffic-split.sides.green: unknown upstream "payments-gren" (did you mean "payments-green"?); defined: payments-blue, payments-green'
    ]
  },
  {
    name: 'active, previous, a rule\'s to and a weight must name sides; the active side has no weight',
    files: {
      'main.yaml': route(...SIDES, 'previous: red', 'rules:', '  - match: {headers: {x-tester: "yes"}}', '    to: gren',
        'weights: {green: 10, blue: 5, purple: 1}') + more('b', 'sides: {blue: payments-blue, green: payments-green}', 'active: bleu')
    },
    expected: [
      'main.yaml:14:19: routes[0].plugins.traffic-split.previous: unknown side "red"; defined: blue, green',
      'main.yaml:17:17: routes[0].plugins.traffic-split.rules[0].to: unknown side "gren" (did you mean "green"?); defined: blue, green',
      'main.yaml:18:36: routes[0].plugins.traffic-split.weights.blue: the active side "blue" has no weight: it gets what the other sides leave',
      'main.yaml:18:47: routes[0].plugins.traffic-split.weights.purple: unknown side "purple"; defined: blue, green',
      'main.yaml:25:17: routes[1].plugins.traffic-split.active: unknown side "bleu" (did you mean "blue"?); defined: blue, green'
    ]
  },
  {
    name: 'weights: percents with at most two decimals, adding up to at most 100',
    files: {
      'main.yaml': route('sides: {blue: payments-blue, green: payments-green, canary: payments-green}', 'active: blue',
        'weights: {green: 60.125, canary: 45}')
    },
    expected: [
      'main.yaml:14:18: routes[0].plugins.traffic-split.weights: the weights add up to 105.13, more than 100',
      'main.yaml:14:26: routes[0].plugins.traffic-split.weights.green: a weight has at most two decimals, got 60.125'
    ]
  },
  {
    name: 'schema: one side only, a weight over 100, a bad key, a bad CIDR, a rule without conditions, a window of 0',
    files: {
      'main.yaml': route('sides: {blue: payments-blue}', 'active: blue', 'weights: {green: 101}', 'key: "session"',
        'rules:', '  - match: {ips: [10.0.0.0/33]}', '    to: blue', '  - match: {}', '    to: blue',
        'rollback: {window: 0}')
    },
    expected: [
      'main.yaml:12:16: routes[0].plugins.traffic-split.sides: must have at least 2 keys',
      'main.yaml:14:26: routes[0].plugins.traffic-split.weights.green: must be <= 100, got 101',
      'main.yaml:15:14: routes[0].plugins.traffic-split.key: the key is ip, header:<name> or cookie:<name>, got string "session"',
      'main.yaml:17:27: routes[0].plugins.traffic-split.rules[0].match.ips[0]: "10.0.0.0/33": prefix length must be 0..32',
      'main.yaml:19:20: routes[0].plugins.traffic-split.rules[1].match: must have at least 1 keys',
      'main.yaml:21:28: routes[0].plugins.traffic-split.rollback.window: must be at least 1ms (the sides are judged over a window of time)'
    ]
  },
  {
    name: 'ramp: to a side that is not active; a valid ISO start; exactly one of duration / steps + every',
    files: {
      'main.yaml': route(...SIDES, 'ramp: {to: blue, start: "2026-12-01T10:00:00Z", duration: 10m, steps: [50, 100], every: 1m}') +
        more('b', ...SIDES, 'ramp: {to: green, start: "tomorrow"}') +
        more('c', ...SIDES, 'ramp: {to: green, start: "2026-02-30T10:00:00Z", duration: 10m}') +
        more('d', ...SIDES, 'ramp: {to: green, start: "2026-12-01T10:00:00Z"}')
    },
    expected: [
      'main.yaml:14:15: routes[0].plugins.traffic-split.ramp: give either duration or steps with every, not both',
      'main.yaml:14:20: routes[0].plugins.traffic-split.ramp.to: the ramp moves traffic to a side that is not the active one, got the active side "blue"',
      'main.yaml:22:34: routes[1].plugins.traffic-split.ramp.start: must be an ISO time such as "2026-12-01T10:00:00Z", got string "tomorrow"',
      'main.yaml:30:34: routes[2].plugins.traffic-split.ramp.start: not a valid time: "2026-02-30T10:00:00Z"',
      'main.yaml:38:15: routes[3].plugins.traffic-split.ramp: give the ramp a duration, or steps with every'
    ]
  },
  {
    name: 'ramp steps: increasing, ending at 100, with every (rollback without a ramp is a standing policy: accepted)',
    files: {
      'main.yaml': route(...SIDES, 'ramp: {to: green, start: "2026-12-01T10:00:00Z", steps: [5, 50, 25, 100], every: 2m}') +
        more('b', ...SIDES, 'ramp: {to: green, start: "2026-12-01T10:00:00+01:00", steps: [5, 50]}', 'rollback: {errorRatio: 0.1}') +
        more('c', ...SIDES, 'rollback: {errorRatio: 0.1}')
    },
    expected: [
      'main.yaml:14:65: routes[0].plugins.traffic-split.ramp.steps: steps must increase, got 5, 50, 25, 100',
      'main.yaml:22:70: routes[1].plugins.traffic-split.ramp.steps: steps need every (the time between two steps)',
      'main.yaml:22:70: routes[1].plugins.traffic-split.ramp.steps: steps must end at 100, got 5, 50'
    ]
  },
  {
    name: 'a route plugin only: refused in the top-level plugins:',
    files: {
      'main.yaml': UPSTREAMS + y('plugins:', '  traffic-split: {sides: {blue: payments-blue, green: payments-green}, active: blue}',
        'routes: []')
    },
    expected: [
      'main.yaml:7:3: plugins.traffic-split: traffic-split works on a route only (routes[].plugins), not in the top-level plugins:'
    ]
  }
])
