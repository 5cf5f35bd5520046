// A blue-green cutover and its rollback under steady load, for real: the
// gateway and the two sides each in their own process, `gateway cutover` run
// as a command that edits the included routes file, the gateway reloading it
// by its file watcher. Zero failed requests (keep-alive GETs and POSTs), and
// the traffic moves wholly to green, then back to blue.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { tempDir } from '../helpers/cli-config.js'
import { freePort } from '../helpers/free-port.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { runCli } from '../helpers/run-cli.js'
import { SteadyLoad } from '../helpers/steady-load.js'
import { startUpstreamProcess } from '../helpers/upstream-process.js'
import { until } from '../helpers/until.js'

/** Answers wholly from one side before the switch counts as done. */
const SETTLED = 300

test('cutover --to green then --rollback under steady keep-alive GET and POST load: zero failed requests', async (t) => {
  // Each side answers after 20 ms, so requests are in flight whenever the config is swapped.
  const [blue, green] = await Promise.all([startUpstreamProcess('blue', { delayMs: 20 }), startUpstreamProcess('green', { delayMs: 20 })])
  t.after(async () => { await Promise.all([blue.kill(), green.kill()]) })
  const dir = tempDir(t)
  const [port, adminPort] = [await freePort(), await freePort()]
  const main = path.join(dir, 'gateway.yaml')
  const routes = path.join(dir, 'routes', 'payments.yaml')
  fs.mkdirSync(path.dirname(routes))
  fs.writeFileSync(main, [
    `listen: { host: 127.0.0.1, port: ${port} }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    'accessLog: { enabled: false }',
    'include: [routes/]',
    'upstreams:',
    `  payments-blue: { nodes: [{ url: "${blue.url}" }] }`,
    `  payments-green: { nodes: [{ url: "${green.url}" }] }`,
    ''
  ].join('\n'))
  const routesText = [
    '# Payments: blue-green',
    'routes:',
    '  - id: payments',
    '    match: { paths: ["/svc/*"] }',
    '    upstream: payments-blue',
    '    plugins:',
    '      traffic-split:',
    '        sides:',
    '          blue: payments-blue',
    '          green: payments-green',
    '        active: blue   # the switch',
    ''
  ].join('\n')
  fs.writeFileSync(routes, routesText)

  const gw = await startGatewayProcess(main)
  t.after(async () => { await gw.stop('SIGKILL') })
  const load = new SteadyLoad(port, '/svc/x')
  try {
    await until('blue serves the load', () => load.served('blue') >= SETTLED, 15_000)

    const to = await runCli(['cutover', 'payments', '--config', main, '--to', 'green'], dir)
    assert.equal(to.code, 0, to.stderr)
    assert.equal(fs.readFileSync(routes, 'utf8'), routesText.replace('active: blue   # the switch\n', 'active: green  # the switch\n        previous: blue\n'))
    await until('every request goes to green', () => load.lastFrom('green', SETTLED), 15_000)

    const back = await runCli(['cutover', 'payments', '--config', main, '--rollback'], dir)
    assert.equal(back.code, 0, back.stderr)
    assert.equal(fs.readFileSync(routes, 'utf8'), routesText.replace('active: blue   # the switch\n', 'active: blue   # the switch\n        previous: green\n'))
    await until('every request goes back to blue', () => load.lastFrom('blue', SETTLED), 15_000)
  } finally {
    await load.stop()
  }
  assert.deepEqual(load.failures, [], `failed requests: ${JSON.stringify(load.failures.slice(0, 5))}`)
  assert.ok(load.served('green') >= SETTLED, `green served ${load.served('green')}`)
  assert.deepEqual(fs.readdirSync(path.dirname(routes)), ['payments.yaml'])

  const status = await runCli(['cutover', 'payments', '--config', main, '--status'], dir)
  assert.equal(status.code, 0, status.stderr)
  assert.match(status.stdout, /^route payments: traffic-split, as the gateway at http:\/\/127\.0\.0\.1:\d+ runs it\n/)
  assert.match(status.stdout, /active: blue/)
})
