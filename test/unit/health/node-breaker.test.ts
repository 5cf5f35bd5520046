// The node breaker on real Upstream objects (no traffic: outcomes are fed
// through upstream.observe as the core would): the NodeHealth verdicts it
// sets, half-open trial slots counted by the core and given back by a
// cancelled attempt, the ejection share, the timer cleared when the record
// retires, and a breaker removed from the config.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NodeHealthRegistry } from '../../../gateway/health/node-health.js'
import { nodeBreakerOf, syncNodeBreakers } from '../../../gateway/health/node-breaker.js'
import { Upstream } from '../../../gateway/upstream/upstream.js'
import { NodeConnectionRegistry } from '../../../gateway/upstream/node-connection.js'
import type { NodeBreakerConfig, UpstreamConfig } from '../../../gateway/config/types.js'
import type { OutcomeKind } from '../../../plugins/types.js'
import { until } from '../../helpers/until.js'

const connections = new NodeConnectionRegistry()
after(() => connections.closeAll())

const BREAKER: NodeBreakerConfig = {
  consecutiveFailures: 1,
  window: 10_000,
  minCalls: 10,
  failureStatuses: [503],
  openTime: 60_000,
  maxOpenTime: 60_000,
  halfOpenRequests: 2,
  maxEjectionPercent: 100
}

function upstream (health: NodeHealthRegistry, ports: number[], breaker: NodeBreakerConfig | null = BREAKER): Upstream {
  const config: UpstreamConfig = {
    name: 'svc',
    balancer: 'roundrobin',
    nodes: ports.map((p) => ({ url: `http://127.0.0.1:${p}`, weight: 1, metadata: {} })),
    timeouts: { connect: 1000, header: 1000, idle: 1000 },
    pool: { connections: 1, keepAliveTimeout: 1000 },
    retries: 0,
    retryBudget: { ratio: 0.2, minPerSecond: 3 },
    limits: {},
    ...(breaker === null ? {} : { breaker })
  }
  return new Upstream(config, JSON.stringify(config), { connections, health })
}

const events = { moves: [] as string[], breakerTransition (scope: string, target: string, to: string, reason: string) { this.moves.push(`${scope} ${to} ${reason}`) } }

function feed (u: Upstream, i: number, kind: OutcomeKind, status = 0): void {
  const node = u.nodes[i]!
  u.observe(node, { upstream: u.name, node: node.id, kind, status, latency: 1, sent: kind !== 'connect', attempt: 1 })
}

describe('node breaker', () => {
  it('ejects, then half-open counts the trials the core dispatches; a cancelled trial gives its slot back', async () => {
    const health = new NodeHealthRegistry()
    const u = upstream(health, [1, 2])
    syncNodeBreakers(new Map([['svc', u]]), events)
    const h = u.nodes[0]!.health
    feed(u, 0, 'response', 503)
    assert.equal(h.ejected, true)
    assert.equal(h.ejectedReason, 'consecutive-failures')
    assert.equal(u.nodes[0]!.available, false)
    const b = nodeBreakerOf(h)!
    b.breaker.openUntil = b.breaker.now() // the open time is over
    assert.equal(b.breaker.poll(), true)
    assert.equal(h.state, 'half-open')
    assert.equal(h.trials, 2)
    assert.equal(u.nodes[0]!.available, true)
    h.dispatched()
    h.dispatched()
    assert.equal(u.nodes[0]!.available, false, 'both trials out: no more traffic until they end')
    feed(u, 0, 'cancelled')
    assert.equal(h.trials, 1)
    assert.equal(u.nodes[0]!.available, true, 'the cancelled trial gave its slot back')
    feed(u, 0, 'cancelled')
    feed(u, 0, 'cancelled')
    assert.equal(h.trials, 2, 'never more slots than halfOpenRequests')
    feed(u, 0, 'response', 200)
    feed(u, 0, 'response', 200)
    assert.equal(h.state, 'healthy')
    assert.equal(h.trials, -1)
    health.closeAll()
  })

  it('refuses a trip beyond maxEjectionPercent of the upstream that carried the failure', () => {
    const health = new NodeHealthRegistry()
    const u = upstream(health, [11, 12, 13, 14], { ...BREAKER, maxEjectionPercent: 50 })
    syncNodeBreakers(new Map([['svc', u]]), events)
    for (let i = 0; i < 4; i++) feed(u, i, 'connect')
    assert.deepEqual(u.nodes.map((n) => n.health.ejected), [true, true, false, false])
    assert.deepEqual(u.nodes.map((n) => nodeBreakerOf(n.health)!.breaker.refusedTrips), [0, 0, 1, 1])
    health.closeAll()
  })

  it('the open timer moves the node to half-open, and is cleared when the record retires', async () => {
    const fast = { ...BREAKER, openTime: 30, maxOpenTime: 30 }
    const retired = new NodeHealthRegistry()
    const u1 = upstream(retired, [21], fast)
    syncNodeBreakers(new Map([['svc', u1]]), events)
    feed(u1, 0, 'reset')
    assert.equal(u1.nodes[0]!.health.ejected, true)
    retired.closeAll()
    // A second node tripped after the first: once its timer has fired, the first one's would have too.
    const live = new NodeHealthRegistry()
    const u2 = upstream(live, [22], fast)
    syncNodeBreakers(new Map([['svc', u2]]), events)
    feed(u2, 0, 'reset')
    await until('half-open on its timer', () => u2.nodes[0]!.health.state === 'half-open', 1000)
    assert.equal(u1.nodes[0]!.health.ejected, true, 'no transition after the record retired')
    live.closeAll()
  })

  it('a config without a breaker for the node removes it and readmits the node', () => {
    const health = new NodeHealthRegistry()
    const u = upstream(health, [31])
    syncNodeBreakers(new Map([['svc', u]]), events)
    feed(u, 0, 'timeout')
    const h = u.nodes[0]!.health
    assert.equal(h.ejected, true)
    const plain = upstream(health, [31], null)
    syncNodeBreakers(new Map([['svc', plain]]), events)
    assert.equal(nodeBreakerOf(h), undefined)
    assert.equal(h.state, 'healthy')
    assert.equal(plain.nodes[0]!.available, true)
    feed(u, 0, 'timeout') // the replaced upstream's late outcome: no breaker to feed
    assert.equal(h.ejected, false)
    health.closeAll()
  })

  it('the active check seeing the node fail and pass again closes an open breaker at once (reason active-check)', () => {
    const health = new NodeHealthRegistry()
    const u = upstream(health, [1, 2])
    syncNodeBreakers(new Map([['svc', u]]), events)
    const h = u.nodes[0]!.health
    feed(u, 0, 'connect')
    assert.equal(h.state, 'ejected')
    assert.ok(nodeBreakerOf(h)!.breaker.msUntilHalfOpen() > 50_000, 'a long open time is left')
    events.moves.length = 0
    h.recovered()
    assert.equal(h.state, 'healthy')
    assert.equal(h.ejected, false)
    assert.equal(u.nodes[0]!.available, true)
    assert.deepEqual(events.moves, ['node closed active-check'])
    h.recovered()
    assert.deepEqual(events.moves, ['node closed active-check'], 'a closed breaker is left as it is')
    health.closeAll()
  })
})
