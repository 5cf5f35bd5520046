// `gateway cutover ROUTE --status`: the running gateway's admin API (an
// in-process gateway on loopback ports, with the config's admin token) asked
// for the route's traffic-split status; a clear error when it does not answer.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { before, test } from 'node:test'
import { cutoverCommand, type CutoverIO } from '../../gateway/cli/cutover-command.js'
import type { PluginRegistry } from '../../plugins/registry.js'
import { tempDir } from '../helpers/cli-config.js'
import { freePort } from '../helpers/free-port.js'
import { builtinRegistry } from '../../plugins/registry.js'
import { startTestGateway } from '../helpers/test-gateway.js'

let plugins: PluginRegistry
before(() => { plugins = builtinRegistry })

async function cutover (...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const io: CutoverIO = { out: (s) => { out += s }, err: (s) => { err += s }, now: () => new Date(), env: {}, plugins }
  const code = await cutoverCommand(args, io)
  return { code, out, err }
}

function config (adminPort: number): Record<string, unknown> {
  return {
    admin: { host: '127.0.0.1', port: adminPort, token: 'cutover-test-token' },
    upstreams: {
      'payments-blue': { nodes: [{ url: 'http://127.0.0.1:9' }] },
      'payments-green': { nodes: [{ url: 'http://127.0.0.1:9' }] }
    },
    routes: [
      {
        id: 'payments',
        match: { paths: ['/v1/payments/*'] },
        upstream: 'payments-blue',
        plugins: { 'traffic-split': { sides: { blue: 'payments-blue', green: 'payments-green' }, active: 'blue', previous: 'green' } }
      },
      { id: 'plain', match: { paths: ['/plain/*'] }, upstream: 'payments-blue' }
    ]
  }
}

test('--status prints the route\'s traffic-split status from the running gateway (bearer token from the config)', async (t) => {
  const adminPort = await freePort()
  const tg = await startTestGateway(config(adminPort), { plugins })
  t.after(() => tg.stop())
  const r = await cutover('payments', '--config', tg.configFile, '--status')
  assert.equal(r.err, '')
  assert.equal(r.code, 0)
  const [first, ...rest] = r.out.trimEnd().split('\n')
  assert.equal(first, `route payments: traffic-split, as the gateway at http://127.0.0.1:${adminPort} runs it`)
  assert.match(rest.join('\n'), /^ {2}active: blue$/m)
})

test('--status: a route without the plugin, or unknown to the running gateway, is one line and exit 1', async (t) => {
  const adminPort = await freePort()
  const tg = await startTestGateway(config(adminPort), { plugins })
  t.after(() => tg.stop())
  const plain = await cutover('plain', '--config', tg.configFile, '--status')
  assert.equal(plain.code, 1)
  assert.equal(plain.err, 'gateway cutover: route "plain" has no traffic-split plugin in the running gateway\'s config\n')
  const unknown = await cutover('nope', '--config', tg.configFile, '--status')
  assert.equal(unknown.code, 1)
  assert.match(unknown.err, new RegExp(`^gateway cutover: the gateway's admin API at http://127\\.0\\.0\\.1:${adminPort} answered 404: no route "nope" in config version \\d+\\n$`))
})

test('--status with no gateway answering: one line naming the admin address, exit 1', async (t) => {
  const dir = tempDir(t)
  const adminPort = await freePort()
  const { stringify } = await import('yaml')
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, stringify({ listen: { host: '127.0.0.1', port: await freePort() }, ...config(adminPort) }))
  const r = await cutover('payments', '--config', file, '--status')
  assert.equal(r.code, 1)
  assert.equal(r.out, '')
  assert.equal(r.err, `gateway cutover: the gateway's admin API at http://127.0.0.1:${adminPort} does not answer (ECONNREFUSED): is the gateway running with this config?\n`)
})
