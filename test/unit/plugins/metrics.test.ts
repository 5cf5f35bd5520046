// The plugins' metric helper: one metric per name in a registry that outlives
// the instances asking for it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { counter, gauge } from '../../../plugins/metrics.js'

test('counter(): created on first use, the same one afterwards, counts kept across instances', async () => {
  const registry = new Registry()
  const a = counter(registry, 'gw_test_hits_total', 'Hits.', ['route'])
  a.labels('r1').inc(2)
  const b = counter(registry, 'gw_test_hits_total', 'Hits.', ['route'])
  assert.equal(b, a)
  b.labels('r1').inc()
  assert.match(await registry.metrics(), /^gw_test_hits_total\{route="r1"\} 3$/m)
  assert.equal((await registry.getMetricsAsJSON()).length, 1, 'registered once')
})

test('gauge(): created on first use, the same one afterwards', async () => {
  const registry = new Registry()
  const a = gauge(registry, 'gw_test_in_use', 'In use.', ['route', 'scope'])
  assert.equal(gauge(registry, 'gw_test_in_use', 'In use.', ['route', 'scope']), a)
  a.labels('r', 'node').set(4)
  assert.match(await registry.metrics(), /^gw_test_in_use\{route="r",scope="node"\} 4$/m)
})

test('a name taken by another type or other labels throws, naming the metric', () => {
  const registry = new Registry()
  counter(registry, 'gw_test_x', 'X.', ['route'])
  assert.throws(() => gauge(registry, 'gw_test_x', 'X.', ['route']), /metric gw_test_x is already registered as another type/)
  assert.throws(() => counter(registry, 'gw_test_x', 'X.', ['route', 'key']), /metric gw_test_x is already registered with labels \[route\], not \[route, key\]/)
  assert.throws(() => counter(registry, 'gw_test_x', 'X.', []), /with labels \[route\], not \[\]/)
})

test('separate registries hold separate metrics', () => {
  const r1 = new Registry()
  const r2 = new Registry()
  assert.notEqual(counter(r1, 'gw_test_y', 'Y.', []), counter(r2, 'gw_test_y', 'Y.', []))
})
