// Config of retries, the per-try timeout, the retry budget and bulkheads:
// defaults, normalised values, and every refusal at its file:line:column.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { describeRefusals, EMPTY_ROUTES, load, removeTrees, y, type Case } from './helpers.js'
import type { GatewayConfig } from '../../../gateway/config/types.js'

after(removeTrees)

function okConfig (text: string): GatewayConfig {
  const { result } = load({ 'main.yaml': text + EMPTY_ROUTES })
  if (!result.ok) assert.fail(result.issues.map((i) => i.message).join('\n'))
  return result.config
}

const upstream = (...lines: string[]): string => y('upstreams:', '  u:', '    nodes: [{url: "http://a:1"}]', ...lines)

describe('retry and bulkhead options', () => {
  it('defaults: a 20% retry budget with 3 retries a second always allowed, no per-try timeout, no limits', () => {
    const u = okConfig(upstream()).upstreams.u!
    assert.deepEqual(u.retryBudget, { ratio: 0.2, minPerSecond: 3 })
    assert.deepEqual(u.limits, {})
    assert.equal(u.timeouts.try, undefined)
    assert.equal('try' in u.timeouts, false)
  })

  it('values are normalised: durations in ms, limits as given', () => {
    const u = okConfig(upstream(
      '    timeouts: {try: 250ms, header: 2s}',
      '    retryBudget: {ratio: 0.5, minPerSecond: 0}',
      '    limits: {maxRequests: 100, maxPending: 0}'
    )).upstreams.u!
    assert.deepEqual(u.timeouts, { connect: 2000, header: 2000, try: 250, idle: 60000 })
    assert.deepEqual(u.retryBudget, { ratio: 0.5, minPerSecond: 0 })
    assert.deepEqual(u.limits, { maxRequests: 100, maxPending: 0 })
  })

  it('a try as long as the header timeout is allowed', () => {
    assert.equal(okConfig(upstream('    timeouts: {try: 5s, header: 5000}')).upstreams.u!.timeouts.try, 5000)
  })
})

const cases: Case[] = [
  {
    name: 'timeouts.try longer than timeouts.header',
    files: { 'main.yaml': upstream('    timeouts:', '      header: 1s', '      try: 2s') + EMPTY_ROUTES },
    expected: ['main.yaml:6:12: upstreams.u.timeouts.try: must not be longer than timeouts.header (1000ms), the wait for response headers across all attempts']
  },
  {
    name: 'timeouts.try longer than the default header timeout, reported with another error of the upstream',
    files: { 'main.yaml': upstream('    retries: -1', '    timeouts: {try: 31s}') + EMPTY_ROUTES },
    expected: [
      'main.yaml:4:14: upstreams.u.retries: must be >= 0, got -1',
      'main.yaml:5:21: upstreams.u.timeouts.try: must not be longer than timeouts.header (30000ms), the wait for response headers across all attempts'
    ]
  },
  {
    name: 'timeouts.try of 0 or not a duration',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  u:',
        '    nodes: [{url: "http://a:1"}]',
        '    timeouts: {try: 0}',
        '  v:',
        '    nodes: [{url: "http://a:1"}]',
        '    timeouts: {try: soon}'
      ) + EMPTY_ROUTES
    },
    expected: [
      'main.yaml:4:21: upstreams.u.timeouts.try: must be at least 1ms (0 would mean no per-attempt limit: leave timeouts.try out for that)',
      'main.yaml:7:21: upstreams.v.timeouts.try: must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m", got string "soon"'
    ]
  },
  {
    name: 'retryBudget: ratio outside 0..1, negative minPerSecond, unknown key',
    files: { 'main.yaml': upstream('    retryBudget:', '      ratio: 1.5', '      minPerSecond: -1', '      percent: 20') + EMPTY_ROUTES },
    expected: [
      'main.yaml:5:14: upstreams.u.retryBudget.ratio: must be <= 1, got 1.5',
      'main.yaml:6:21: upstreams.u.retryBudget.minPerSecond: must be >= 0, got -1',
      'main.yaml:7:7: upstreams.u.retryBudget: unknown key "percent" (allowed: ratio, minPerSecond)'
    ]
  },
  {
    name: 'limits: maxRequests of 0, fractional or negative maxPending, unknown key',
    files: { 'main.yaml': upstream('    limits: {maxRequests: 0, maxPending: 1.5, maxConnections: 3}', '  v:', '    nodes: [{url: "http://a:1"}]', '    limits: {maxPending: -1}') + EMPTY_ROUTES },
    expected: [
      'main.yaml:4:27: upstreams.u.limits.maxRequests: must be >= 1, got 0',
      'main.yaml:4:42: upstreams.u.limits.maxPending: must be an integer, got number 1.5',
      'main.yaml:4:47: upstreams.u.limits: unknown key "maxConnections" (allowed: maxRequests, maxPending)',
      'main.yaml:7:26: upstreams.v.limits.maxPending: must be >= 0, got -1'
    ]
  },
  {
    name: 'retryBudget and limits must be mappings',
    files: { 'main.yaml': upstream('    retryBudget: 0.2', '    limits: 100') + EMPTY_ROUTES },
    expected: [
      'main.yaml:4:18: upstreams.u.retryBudget: must be a mapping, got number 0.2',
      'main.yaml:5:13: upstreams.u.limits: must be a mapping, got integer 100'
    ]
  }
]

describeRefusals('retry and bulkhead options: issues (file:line:column: path: message)', cases)
