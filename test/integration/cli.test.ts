// The `gateway` command's answers to mistakes, as a real child process of
// dist/gateway/cli.js: a one-line message and the usage, a non-zero exit, and
// never a stack trace. `validate` takes several files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { freePort } from '../helpers/free-port.js'
import { runCli, type CliResult } from '../helpers/run-cli.js'
import { tempDir, yamlConfig } from '../helpers/cli-config.js'

const STACK_LINE = /^\s+at /m

/** A usage mistake: exit 2, nothing on stdout, `gateway: MESSAGE` then the usage on stderr. */
function assertUsageError (res: CliResult, message: string): void {
  assert.equal(res.code, 2, res.stderr)
  assert.equal(res.stdout, '')
  const [first, ...rest] = res.stderr.split('\n')
  assert.equal(first, `gateway: ${message}`)
  assert.match(rest.join('\n'), /^usage:\n {2}gateway start --config FILE/)
  assert.doesNotMatch(res.stderr, STACK_LINE)
}

test('--help of each command prints the usage on stdout and exits 0', async (t) => {
  const dir = tempDir(t)
  for (const args of [['--help'], ['help'], ['validate', '--help'], ['validate', '-h'], ['start', '--help'], ['start', '-h']]) {
    const res = await runCli(args, dir)
    assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`)
    assert.match(res.stdout, /^usage:\n {2}gateway start --config FILE/, args.join(' '))
    assert.equal(res.stderr, '', args.join(' '))
  }
})

test('option mistakes get one line and the usage, exit 2, no stack trace', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'good.yaml'), yamlConfig(await freePort(), await freePort()))
  assertUsageError(await runCli(['start', '--config'], dir), 'option --config needs a value')
  assertUsageError(await runCli(['start', '-c'], dir), 'option -c needs a value')
  assertUsageError(await runCli(['start', '--config', '--demo'], dir), 'option --config needs a value')
  assertUsageError(await runCli(['start', '--config', 'good.yaml', '--bogus'], dir), 'unknown option --bogus')
  assertUsageError(await runCli(['start', '--config', 'good.yaml', '--demo=yes'], dir), 'option --demo takes no value')
  assertUsageError(await runCli(['start', 'good.yaml'], dir), 'unexpected argument "good.yaml" (did you mean --config good.yaml?)')
  assertUsageError(await runCli(['start'], dir), 'start needs --config FILE')
  assertUsageError(await runCli(['validate', '--bogus', 'good.yaml'], dir), 'unknown option --bogus')
  assertUsageError(await runCli(['validate', '--config'], dir), 'option --config needs a value')
  assertUsageError(await runCli(['validate'], dir), 'validate needs a config FILE')
  assertUsageError(await runCli(['frobnicate'], dir), 'unknown command "frobnicate"')
})

test('an unknown LOG_LEVEL: one line and the usage, exit 2', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'good.yaml'), yamlConfig(await freePort(), await freePort()))
  const res = await runCli(['start', '--config', 'good.yaml'], dir, { env: { LOG_LEVEL: 'loud' } })
  assertUsageError(res, 'unknown LOG_LEVEL "loud" (use one of trace, debug, info, warn, error, fatal, silent)')
})

test('validate a.yaml b.yaml checks both: exit 1 when any is invalid, 0 when all are valid', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'a.yaml'), yamlConfig(18080, 18081))
  fs.writeFileSync(path.join(dir, 'b.yaml'), yamlConfig(18080, 18081, 'http://127.0.0.1:9', 'weigth'))
  fs.writeFileSync(path.join(dir, 'c.yaml'), yamlConfig(18082, 18083))

  const mixed = await runCli(['validate', 'a.yaml', 'b.yaml'], dir)
  assert.equal(mixed.code, 1)
  assert.equal(mixed.stdout, 'a.yaml: OK (1 routes, 1 upstreams, 1 files)\n')
  assert.deepEqual(mixed.stderr.trimEnd().split('\n'), [
    'b.yaml:7:9: upstreams.a.nodes[0]: unknown key "weigth" (did you mean "weight"?)',
    'b.yaml: 1 error(s); config is NOT valid'
  ])
  // The invalid one first: the valid one after it is still checked.
  const reversed = await runCli(['validate', 'b.yaml', 'c.yaml'], dir)
  assert.equal(reversed.code, 1)
  assert.equal(reversed.stdout, 'c.yaml: OK (1 routes, 1 upstreams, 1 files)\n')

  const good = await runCli(['validate', 'a.yaml', 'c.yaml'], dir)
  assert.equal(good.code, 0, good.stderr)
  assert.equal(good.stdout, 'a.yaml: OK (1 routes, 1 upstreams, 1 files)\nc.yaml: OK (1 routes, 1 upstreams, 1 files)\n')
  assert.equal(good.stderr, '')
})

test('a binary file: one short line (validate and start), not a screen of control bytes', async (t) => {
  const dir = tempDir(t)
  const prefix = Buffer.from('listen:\n  port: 1\n')
  // An ELF header's first bytes, then 8 KiB of pseudo-random bytes.
  const noise = Buffer.alloc(8192)
  let x = 12345
  for (let i = 0; i < noise.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    noise[i] = x >>> 24
  }
  fs.writeFileSync(path.join(dir, 'bin.yaml'), Buffer.concat([prefix, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]), noise]))
  const at = prefix.length + 4
  fs.writeFileSync(path.join(dir, 'good.yaml'), yamlConfig(18080, 18081))

  const res = await runCli(['validate', 'good.yaml', 'bin.yaml'], dir)
  assert.equal(res.code, 1)
  assert.equal(res.stdout, 'good.yaml: OK (1 routes, 1 upstreams, 1 files)\n')
  assert.equal(res.stderr, `bin.yaml: not a text YAML file (binary data at byte ${at})\n`)

  const start = await runCli(['start', '--config', 'bin.yaml'], dir)
  assert.equal(start.code, 1)
  assert.equal(start.stderr, `bin.yaml: not a text YAML file (binary data at byte ${at})\ngateway not started: config is not valid\n`)
})

/** Holds 127.0.0.1:PORT, or leaves it to whoever already holds it (either way it is in use). */
async function occupy (port: number): Promise<net.Server | undefined> {
  const srv = net.createServer()
  return new Promise((resolve, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err))
    srv.listen(port, '127.0.0.1', () => resolve(srv))
  })
}

test('start --demo with a demo upstream port in use: one line and the usage, exit 1, nothing left listening', async (t) => {
  const dir = tempDir(t)
  const listen = await freePort()
  fs.writeFileSync(path.join(dir, 'good.yaml'), yamlConfig(listen, await freePort()))
  const held = await occupy(9001)
  t.after(() => { held?.close() })
  const res = await runCli(['start', '--config', 'good.yaml', '--demo'], dir, { timeoutMs: 15_000 })
  assert.equal(res.code, 1, res.stderr)
  const [first, ...rest] = res.stderr.split('\n')
  assert.match(first!, /^gateway not started: demo upstream cannot listen on 127\.0\.0\.1:900[12] \(EADDRINUSE\)$/)
  assert.match(rest.join('\n'), /^usage:\n/)
  assert.doesNotMatch(res.stderr, STACK_LINE)
  assert.doesNotMatch(res.stdout, /gateway started/)
})
