// `node.zone` and `upstreams.<name>.failover`: the model, and each refusal at file:line.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { formatIssueRelativeTo } from '../../../gateway/config/load-config.js'
import type { GatewayConfig } from '../../../gateway/config/types.js'
import { describeRefusals, load, removeTrees, y } from './helpers.js'

after(removeTrees)

const ROUTE = y('routes:', '  - {id: a, match: {paths: [/a]}, upstream: orders}')

/** An upstream `orders` with two dc1 nodes, one dc2 node and one without a zone, then `extra` lines indented under it. */
function orders (...extra: string[]): string {
  return y(
    'upstreams:',
    '  orders:',
    '    nodes:',
    '      - {url: "http://127.0.0.1:3001", zone: dc1}',
    '      - {url: "http://127.0.0.1:3002", zone: dc1}',
    '      - {url: "http://127.0.0.1:3003", zone: dc2}',
    '      - {url: "http://127.0.0.1:3004"}',
    ...extra.map((l) => '    ' + l)
  )
}

function okConfig (files: Record<string, string>, env: NodeJS.ProcessEnv = {}): GatewayConfig {
  const { dir, result } = load(files, env)
  if (!result.ok) assert.fail(`expected OK, got:\n${result.issues.map((i) => formatIssueRelativeTo(i, dir)).join('\n')}`)
  return result.config
}

describe('node.zone and upstreams.*.failover: the model', () => {
  it('node.zone (from ${GW_ZONE}) and failover with minHealthy reach the model', () => {
    const config = okConfig({
      'main.yaml': y('node: {id: gw-1, zone: "${GW_ZONE}"}') + orders('failover: {zones: [dc1, dc2], minHealthy: 0.5}') + ROUTE
    }, { GW_ZONE: 'dc2' })
    assert.deepEqual(config.node, { id: 'gw-1', zone: 'dc2' })
    assert.deepEqual(config.upstreams.orders!.failover, { zones: ['dc1', 'dc2'], minHealthy: 0.5 })
  })

  it('minHealthy defaults to 0.7; 0 and 1 are accepted', () => {
    assert.deepEqual(okConfig({ 'main.yaml': orders('failover: {zones: [dc2]}') + ROUTE }).upstreams.orders!.failover,
      { zones: ['dc2'], minHealthy: 0.7 })
    assert.equal(okConfig({ 'main.yaml': orders('failover: {zones: [dc1], minHealthy: 0}') + ROUTE }).upstreams.orders!.failover!.minHealthy, 0)
    assert.equal(okConfig({ 'main.yaml': orders('failover: {zones: [dc1], minHealthy: 1}') + ROUTE }).upstreams.orders!.failover!.minHealthy, 1)
  })

  it('without node.zone and failover the model is unchanged (no keys added)', () => {
    const config = okConfig({ 'main.yaml': orders() + ROUTE })
    assert.deepEqual(config.node, {})
    assert.equal('failover' in config.upstreams.orders!, false)
  })

  it('the gateway\'s own zone in failover.zones is allowed (one list for every data centre)', () => {
    const config = okConfig({ 'main.yaml': y('node: {zone: dc2}') + orders('failover: {zones: [dc1, dc2]}') + ROUTE })
    assert.deepEqual(config.upstreams.orders!.failover!.zones, ['dc1', 'dc2'])
  })

  it('node.zone need not be a zone of any node (a gateway in a data centre without this upstream)', () => {
    const config = okConfig({ 'main.yaml': y('node: {zone: dc9}') + orders('failover: {zones: [dc2]}') + ROUTE })
    assert.equal(config.node.zone, 'dc9')
  })

  it('nodes without a zone are in the gateway\'s own zone: failover.zones may name it', () => {
    const config = okConfig({
      'main.yaml': y('node: {zone: local}') + orders('failover: {zones: [local, dc2]}') + ROUTE
    })
    assert.deepEqual(config.upstreams.orders!.failover!.zones, ['local', 'dc2'])
  })
})

describeRefusals('node.zone and upstreams.*.failover: refusals at file:line', [
  {
    name: 'node.zone empty',
    files: { 'main.yaml': y('node: {zone: ""}') + orders() + ROUTE },
    expected: ['main.yaml:1:14: node.zone: must not be empty']
  },
  {
    name: 'node.zone from an unset variable',
    files: { 'main.yaml': y('node:', '  zone: ${GW_ZONE}') + orders() + ROUTE },
    expected: ['main.yaml:2:9: node.zone: environment variable GW_ZONE is not set (use ${GW_ZONE:-default} to give a default)']
  },
  {
    name: 'failover without zones',
    files: { 'main.yaml': orders('failover: {minHealthy: 0.5}') + ROUTE },
    expected: ['main.yaml:8:15: upstreams.orders.failover: missing required key "zones"']
  },
  {
    name: 'failover.zones empty, minHealthy out of range, an unknown key',
    files: { 'main.yaml': orders('failover:', '  zones: []', '  minHealthy: 1.5', '  spill: true') + ROUTE },
    expected: [
      'main.yaml:9:14: upstreams.orders.failover.zones: must have at least 1 item',
      'main.yaml:10:19: upstreams.orders.failover.minHealthy: must be <= 1, got 1.5',
      'main.yaml:11:7: upstreams.orders.failover: unknown key "spill" (allowed: zones, minHealthy)'
    ]
  },
  {
    name: 'a zone listed twice: at the second, naming the first',
    files: { 'main.yaml': orders('failover:', '  zones:', '    - dc1', '    - dc2', '    - dc1') + ROUTE },
    expected: ['main.yaml:12:11: upstreams.orders.failover.zones[2]: zone "dc1" listed twice (first listed at main.yaml:10)']
  },
  {
    name: 'a zone no node of the upstream is in (a typo gets a suggestion)',
    files: { 'main.yaml': orders('failover: {zones: [dc1, dc-2]}') + ROUTE },
    expected: ['main.yaml:8:29: upstreams.orders.failover.zones[1]: no node of upstream "orders" is in zone "dc-2" ' +
      '(did you mean "dc2"?); the zones of its nodes: dc1, dc2']
  },
  {
    name: 'zones of nodes without a zone: the gateway\'s own zone, not any other',
    files: { 'main.yaml': y('node: {zone: dc1}') + orders('failover: {zones: [dc3]}') + ROUTE },
    expected: ['main.yaml:9:24: upstreams.orders.failover.zones[0]: no node of upstream "orders" is in zone "dc3" (did you mean "dc1"?); ' +
      'the zones of its nodes: dc1, dc2']
  },
  {
    name: 'failover when no node has a zone',
    files: {
      'main.yaml': y(
        'upstreams:',
        '  orders:',
        '    nodes:',
        '      - {url: "http://127.0.0.1:3001"}',
        '      - {url: "http://127.0.0.1:3002"}',
        '    failover: {zones: [dc1]}'
      ) + ROUTE
    },
    expected: ['main.yaml:6:15: upstreams.orders.failover: no node of upstream "orders" has a zone: ' +
      'give its nodes a zone (nodes[].zone), or remove failover']
  }
])
