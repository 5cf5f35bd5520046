// Resilience under real faults: the gateway and every upstream node each in
// its own process. A node killed with SIGKILL under steady load, edited in the
// config while it is down, and started again; a slow node; every node of an
// upstream killed; a dead node in the local zone spilling to the next zone.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess, type GatewayProc } from '../helpers/gateway-process.js'
import { POST_LOOPS, SteadyLoad } from '../helpers/steady-load.js'
import { startUpstreamProcess, type UpstreamProcess } from '../helpers/upstream-process.js'
import { until } from '../helpers/until.js'
import { writeConfig } from '../helpers/yaml-config.js'

interface NodeView { url: string; available: boolean; health: string; weight: number }

describe('resilience under real faults (separate processes)', () => {
  let dir: string
  let file: string
  let nodes: UpstreamProcess[]
  /** Two quick nodes and one that answers after 300 ms. */
  let slowGroup: UpstreamProcess[]
  /** Two nodes that will all be killed. */
  let doomed: UpstreamProcess[]
  /** Three nodes in the gateway's own zone (dc1), two in dc2. */
  let dc1: UpstreamProcess[]
  let dc2: UpstreamProcess[]
  let gw: GatewayProc
  let port: number
  let adminPort: number
  let config: Record<string, any>

  const upstreamNodes = async (name = 'svc'): Promise<NodeView[]> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/admin/upstreams`)
    const list = await res.json() as Array<{ name: string; nodes: NodeView[] }>
    return list.find((u) => u.name === name)!.nodes
  }
  const nodeView = async (n: UpstreamProcess, upstream = 'svc'): Promise<NodeView> => (await upstreamNodes(upstream)).find((v) => v.url === n.url)!
  const get = async (path: string): Promise<{ status: number; body: string; ms: number }> => {
    const t0 = performance.now()
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    const body = await res.text()
    return { status: res.status, body, ms: performance.now() - t0 }
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-faults-'))
    nodes = await Promise.all(['n1', 'n2', 'n3'].map((name) => startUpstreamProcess(name)))
    slowGroup = await Promise.all([startUpstreamProcess('q1'), startUpstreamProcess('q2'), startUpstreamProcess('slow', { delayMs: 300 })])
    doomed = await Promise.all(['d1', 'd2'].map((name) => startUpstreamProcess(name)))
    dc1 = await Promise.all(['a1', 'a2', 'a3'].map((name) => startUpstreamProcess(name)))
    dc2 = await Promise.all(['b1', 'b2'].map((name) => startUpstreamProcess(name)))
    port = await freePort()
    adminPort = await freePort()
    config = {
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      accessLog: { enabled: false },
      node: { zone: 'dc1' },
      upstreams: {
        svc: {
          nodes: nodes.map((n) => ({ url: n.url })),
          retries: 2,
          timeouts: { connect: '500ms', header: '5s' },
          // Passive: a dead node is ejected after 3 failures in a row. Its open
          // time is long, so only the active check can readmit it in this test.
          breaker: { consecutiveFailures: 3, openTime: '60s', maxOpenTime: '60s' },
          healthCheck: { path: '/healthz', interval: '100ms', jitter: '20ms', timeout: '80ms', healthyThreshold: 2, unhealthyThreshold: 2 }
        },
        quick: {
          nodes: slowGroup.map((n) => ({ url: n.url })),
          // Only the slow-call rule: half the calls in the window over 100 ms.
          breaker: { consecutiveFailures: 0, slowCallRatio: 0.5, slowCallThreshold: '100ms', minCalls: 4, window: '10s', openTime: '60s', maxOpenTime: '60s' }
        },
        zoned: {
          nodes: [...dc1.map((n) => ({ url: n.url, zone: 'dc1' })), ...dc2.map((n) => ({ url: n.url, zone: 'dc2' }))],
          failover: { zones: ['dc1', 'dc2'], minHealthy: 0.7 },
          healthCheck: { path: '/healthz', interval: '100ms', jitter: '20ms', timeout: '80ms', healthyThreshold: 2, unhealthyThreshold: 2 }
        },
        doomed: {
          nodes: doomed.map((n) => ({ url: n.url })),
          breaker: { consecutiveFailures: 2, openTime: '60s', maxOpenTime: '60s' },
          healthCheck: { path: '/healthz', interval: '100ms', jitter: '20ms', timeout: '80ms', healthyThreshold: 2, unhealthyThreshold: 2 }
        }
      },
      routes: [
        { id: 'svc', match: { paths: ['/svc/*'] }, upstream: 'svc' },
        { id: 'quick', match: { paths: ['/quick/*'] }, upstream: 'quick' },
        { id: 'zoned', match: { paths: ['/zoned/*'] }, upstream: 'zoned' },
        {
          id: 'doomed',
          match: { paths: ['/doomed/*'] },
          upstream: 'doomed',
          fallback: { status: 200, headers: { 'content-type': 'application/json' }, body: '{"items":[],"degraded":true}' }
        }
      ]
    }
    file = writeConfig(dir, config)
    gw = await startGatewayProcess(file, { adminPort })
  })

  after(async () => {
    await gw?.stop('SIGKILL')
    await Promise.all([...nodes ?? [], ...slowGroup ?? [], ...doomed ?? [], ...dc1 ?? [], ...dc2 ?? []].map((n) => n.kill()))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('kill one of three nodes under load: few failures, ejected, a config edit keeps it out, readmitted by the active check', async () => {
    const load = new SteadyLoad(port)
    try {
      await until('every node serves', () => nodes.every((n) => load.served(n.name) > 20), 10_000)
      const victim = nodes[1]!
      const killedAt = Date.now()
      await victim.kill()

      await until('the dead node leaves the balancer', async () => !(await nodeView(victim)).available, 5000)
      const ejectedAt = Date.now()
      const servedBefore = load.served(victim.name)
      // Traffic shifts: the others keep answering, and nothing fails any more.
      const okAtEjection = load.ok
      await until('traffic flows on the two others', () => load.ok > okAtEjection + 300, 10_000)
      const lateFailures = load.failures.filter((f) => f.at > ejectedAt + 50)
      assert.deepEqual(lateFailures, [], 'no failure once the node is out')

      // A weight edit (a reload that rebuilds the upstream) does not readmit it.
      config.upstreams.svc.nodes[1].weight = 5
      writeConfig(dir, config)
      const reload = await fetch(`http://127.0.0.1:${adminPort}/admin/reload`, { method: 'POST' })
      assert.equal(reload.status, 200)
      await until('the edit is in force', async () => (await nodeView(victim)).weight === 5, 5000)
      assert.equal((await nodeView(victim)).available, false, 'still out after the reload')
      const okAfterReload = load.ok
      await until('more traffic after the reload', () => load.ok > okAfterReload + 200, 10_000)
      assert.deepEqual(load.failures.filter((f) => f.at > ejectedAt + 50), [], 'the reload sent nothing to the dead node')

      // Failures are bounded by what was in flight on the node when it died:
      // GETs are re-sent elsewhere (reset before any response byte, or refused);
      // a POST already sent to the dead node is not, one refused is.
      const failed = load.failures.length
      const bound = Math.ceil(POST_LOOPS / 3) + 3
      assert.ok(load.failures.every((f) => f.what.startsWith('POST 502')), `only POSTs caught in flight fail: ${JSON.stringify(load.failures)}`)
      assert.ok(failed <= bound, `${failed} failed requests (bound ${bound}): ${JSON.stringify(load.failures.slice(0, 5))}`)
      console.log(`# faults: killed ${victim.name} at +0 ms; ejected at +${ejectedAt - killedAt} ms; ${failed} failed of ${load.ok + failed}; bound ${bound}`)

      // Back: the active check readmits it (the breaker's open time is 60 s).
      await victim.restart()
      const restartedAt = Date.now()
      await until('the node is readmitted', async () => (await nodeView(victim)).available, 5000)
      await until('the node serves again', () => load.served(victim.name) > servedBefore + 20, 5000)
      console.log(`# faults: readmitted ${Date.now() - restartedAt} ms after restart`)
      assert.equal(load.failures.length, failed, 'no failure while it came back')
    } finally {
      await load.stop()
    }
  })

  it('a slow node trips the slow-call breaker: ejected, and the route answers quickly from the others', async () => {
    const slow = slowGroup[2]!
    await until('the slow node is ejected', async () => {
      await Promise.all([get('/quick/a'), get('/quick/b'), get('/quick/c')])
      return !(await nodeView(slow, 'quick')).available
    }, 15_000)
    const view = await fetch(`http://127.0.0.1:${adminPort}/admin/upstreams`).then(async (r) => await r.json() as Array<{ name: string; nodes: Array<{ url: string; breaker: { reason: string } }> }>)
    assert.equal(view.find((u) => u.name === 'quick')!.nodes.find((n) => n.url === slow.url)!.breaker.reason, 'slow-calls')
    const after = await Promise.all(Array.from({ length: 30 }, async () => await get('/quick/x')))
    for (const r of after) {
      assert.equal(r.status, 200)
      assert.notEqual(JSON.parse(r.body).node, 'slow')
    }
    const worst = Math.max(...after.map((r) => r.ms))
    assert.ok(worst < 250, `every answer quicker than the slow node (worst ${worst.toFixed(1)} ms)`)
  })

  it('every node of an upstream killed: the route answers its fallback within milliseconds, without trying the dead nodes', async () => {
    assert.equal((await get('/doomed/x')).status, 200)
    await Promise.all(doomed.map((n) => n.kill()))
    await until('both dead nodes are out', async () => {
      await get('/doomed/x')
      return (await upstreamNodes('doomed')).every((n) => !n.available)
    }, 10_000)
    const answers: Array<{ status: number; body: string; ms: number }> = []
    for (let i = 0; i < 20; i++) answers.push(await get('/doomed/x'))
    for (const a of answers) {
      assert.equal(a.status, 200)
      assert.equal(a.body, '{"items":[],"degraded":true}')
    }
    const sorted = answers.map((a) => a.ms).sort((a, b) => a - b)
    const median = sorted[10]!
    const worst = sorted[19]!
    console.log(`# faults: fallback with every node down: median ${median.toFixed(2)} ms, worst ${worst.toFixed(2)} ms`)
    assert.ok(worst < 50, `fallback within milliseconds (worst ${worst.toFixed(1)} ms)`)
  })

  it('zones: a dead node in the local zone spills its traffic to the next zone, and it comes back when the node does', async () => {
    const answered = async (n: number): Promise<Set<string>> => {
      const names = new Set<string>()
      for (let i = 0; i < n; i++) {
        const r = await get('/zoned/x')
        assert.equal(r.status, 200, r.body)
        names.add(JSON.parse(r.body).node as string)
      }
      return names
    }
    assert.deepEqual([...await answered(30)].sort(), ['a1', 'a2', 'a3'], 'all in dc1 while it is healthy')
    await dc1[0]!.kill()
    // dc1 is 2/3 healthy (< 0.7) once the active check has it out: dc2 takes traffic too.
    await until('dc2 takes traffic', async () => (await answered(10)).has('b1'), 10_000)
    assert.deepEqual([...await answered(40)].sort(), ['a2', 'a3', 'b1', 'b2'], 'the two live dc1 nodes and dc2')
    await dc1[0]!.restart()
    await until('dc1 alone again', async () => (await nodeView(dc1[0]!, 'zoned')).available, 10_000)
    assert.deepEqual([...await answered(30)].sort(), ['a1', 'a2', 'a3'], 'back in dc1 alone')
  })
})
