// Sticky splits across a fleet: two gateway PROCESSES reading the same split
// (each its own ports) send every user to the same side, since the bucket is a
// hash of the key, computed the same way everywhere.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess, startProcs, type GatewayProc } from '../helpers/gateway-process.js'
import { upstreamsOf } from '../helpers/split-requests.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writeConfig } from '../helpers/yaml-config.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-split-procs-'))
const ups: Upstream[] = []
let procs: GatewayProc[] = []

after(async () => {
  await Promise.all(procs.map((p) => p.stop()))
  await Promise.all(ups.map((u) => u.close()))
  fs.rmSync(dir, { recursive: true, force: true })
})

test('the same user lands on the same side on two gateway processes', async () => {
  const blue = await startUpstream({ name: 'svc-blue' })
  const green = await startUpstream({ name: 'svc-green' })
  ups.push(blue, green)
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()])
  const config = (i: number): string => writeConfig(dir, {
    listen: { host: '127.0.0.1', port: ports[2 * i] },
    admin: { host: '127.0.0.1', port: ports[2 * i + 1] },
    accessLog: { enabled: false },
    upstreams: { 'svc-blue': { nodes: [{ url: blue.url }] }, 'svc-green': { nodes: [{ url: green.url }] } },
    routes: [{
      id: 'pay',
      match: { paths: ['/pay/*'] },
      upstream: 'svc-blue',
      plugins: { 'traffic-split': { sides: { blue: 'svc-blue', green: 'svc-green' }, active: 'blue', weights: { green: 25 }, key: 'cookie:uid' } }
    }]
  }, `gateway-${i}.yaml`)
  procs = await startProcs([startGatewayProcess(config(0)), startGatewayProcess(config(1))])
  const users = Array.from({ length: 500 }, (_, i) => ({ cookie: `theme=dark; uid=u-${i}` }))
  const [a, b] = await Promise.all([upstreamsOf(`http://127.0.0.1:${ports[0]}/pay/x`, users), upstreamsOf(`http://127.0.0.1:${ports[2]}/pay/x`, users)])
  assert.deepEqual(a, b)
  const greens = a!.filter((s) => s === 'svc-green').length
  assert.ok(greens > 75 && greens < 175, `about a quarter of 500 users on green, got ${greens}`)
})
