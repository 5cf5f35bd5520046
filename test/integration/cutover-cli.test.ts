// `gateway cutover` as a real child process of dist/gateway/cli.js: a usage
// mistake is one line and the usage (exit 2); a refusal about the config is
// one line (exit 1); never a stack trace.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { tempDir, yamlConfig } from '../helpers/cli-config.js'
import { freePort } from '../helpers/free-port.js'
import { runCli } from '../helpers/run-cli.js'

const STACK_LINE = /^\s+at /m

test('cutover: usage mistakes exit 2 with one line and the usage; refusals exit 1 with one line', async (t) => {
  const dir = tempDir(t)
  const adminPort = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  const text = yamlConfig(await freePort(), adminPort)
  fs.writeFileSync(file, text)

  const usage = await runCli(['cutover', 'r', '--config', file, '--to', 'green', '--rollback'], dir)
  assert.equal(usage.code, 2)
  assert.equal(usage.stdout, '')
  const [first, ...rest] = usage.stderr.split('\n')
  assert.equal(first, 'gateway: cutover takes one of --to, --rollback')
  assert.match(rest.join('\n'), /^usage:\n[^]*\n {2}gateway cutover ROUTE --config FILE ACTION \[--dry-run\]\n/)

  const help = await runCli(['cutover', '--help'], dir)
  assert.equal(help.code, 0)
  assert.match(help.stdout, /--steps 5,25,50,100 --every DURATION/)

  const refused = await runCli(['cutover', 'r', '--config', 'gateway.yaml', '--to', 'green'], dir)
  assert.equal(refused.code, 1)
  assert.equal(refused.stderr, 'gateway cutover: route "r" has no traffic-split plugin (plugins.traffic-split)\n')
  assert.equal(fs.readFileSync(file, 'utf8'), text)

  const noGateway = await runCli(['cutover', 'r', '--config', 'gateway.yaml', '--status'], dir)
  assert.equal(noGateway.code, 1)
  assert.equal(noGateway.stderr, `gateway cutover: the gateway's admin API at http://127.0.0.1:${adminPort} does not answer (ECONNREFUSED): is the gateway running with this config?\n`)
  for (const r of [usage, refused, noGateway]) assert.doesNotMatch(r.stderr, STACK_LINE)
})
