// The `gateway` CLI as a real child process: validate, refusing to start on a
// bad config, a graceful SIGTERM drain with requests in flight, signals during
// start-up and during the drain, and `npm start` passing SIGTERM on.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startUpstream } from '../helpers/upstream.js'
import { startGatewayProcess, GATEWAY_CLI, type GatewayProc } from '../helpers/gateway-process.js'
import { runCli } from '../helpers/run-cli.js'
import { tempDir, yamlConfig } from '../helpers/cli-config.js'
import { freePort } from '../helpers/free-port.js'
import { until } from '../helpers/until.js'

function connectOutcome (port: number): Promise<'connected' | 'refused' | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve('connected') })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : String(err.code)))
  })
}

/** The JSON log lines among a process's output lines. */
const logLines = (output: string[]): Array<Record<string, unknown>> =>
  output.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

function httpGet (port: number, p: string, agent: http.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    }).on('error', reject)
  })
}

test('gateway validate: exit 0 with an OK line on a good config, 1 with file:line:col lines for a typo', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'good.yaml'), yamlConfig(18080, 18081, 'http://127.0.0.1:9'))
  fs.writeFileSync(path.join(dir, 'bad.yaml'), yamlConfig(18080, 18081, 'http://127.0.0.1:9', 'weigth'))

  const good = await runCli(['validate', 'good.yaml'], dir)
  assert.equal(good.code, 0, good.stderr)
  assert.equal(good.stdout, 'good.yaml: OK (1 routes, 1 upstreams, 1 files)\n')
  assert.equal(good.stderr, '')

  const bad = await runCli(['validate', 'bad.yaml'], dir)
  assert.equal(bad.code, 1)
  assert.equal(bad.stdout, '')
  assert.deepEqual(bad.stderr.trimEnd().split('\n'), [
    'bad.yaml:7:9: upstreams.a.nodes[0]: unknown key "weigth" (did you mean "weight"?)',
    'bad.yaml: 1 error(s); config is NOT valid'
  ])

  // --config form, a missing file, and no file at all.
  assert.equal((await runCli(['validate', '--config', 'good.yaml'], dir)).code, 0)
  const missing = await runCli(['validate', 'nope.yaml'], dir)
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /cannot read config file .*nope\.yaml.*no such file/)
  assert.equal((await runCli(['validate'], dir)).code, 2)
})

test('gateway start on an invalid config exits 1 with the errors and never listens', async (t) => {
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  fs.writeFileSync(path.join(dir, 'bad.yaml'), yamlConfig(listen, admin, 'http://127.0.0.1:9', 'weigth'))
  const p = spawn(process.execPath, [GATEWAY_CLI, 'start', '--config', 'bad.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  p.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  let exited = false
  const code = new Promise<number | null>((resolve) => p.on('close', (c) => { exited = true; resolve(c) }))
  // While it runs (and after), neither port ever accepts a connection.
  let probes = 0
  while (!exited) {
    assert.equal(await connectOutcome(listen), 'refused')
    assert.equal(await connectOutcome(admin), 'refused')
    probes++
    await sleep(20)
  }
  assert.equal(await code, 1)
  t.diagnostic(`${probes} probe rounds while the process ran`)
  assert.match(out, /bad\.yaml:7:9: upstreams\.a\.nodes\[0\]: unknown key "weigth"/)
  assert.match(out, /gateway not started: config is not valid/)
  assert.doesNotMatch(out, /gateway started/)
  assert.equal(await connectOutcome(listen), 'refused')
})

test('SIGTERM drains: 10 in-flight requests all get 200 with connection: close, new connections are refused, exit 0', { timeout: 60_000 }, async (t) => {
  // The upstream holds every request for at least 500 ms and until the test releases it,
  // so the checks made during the drain cannot race the responses.
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  const up = await startUpstream({
    name: 'slow',
    handler: (req, res) => {
      if (req.url === '/r/warm') { res.end('warm'); return }
      const t0 = Date.now()
      void released.then(() => setTimeout(() => res.end('done'), Math.max(0, 500 - (Date.now() - t0))))
    }
  })
  t.after(async () => { release(); await up.close() })
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, yamlConfig(listen, admin, up.url))
  const gp = await startGatewayProcess(file)
  t.after(async () => { await gp.stop('SIGKILL') })

  // Before the signal: keep-alive answers, and one idle keep-alive connection left open.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const warm = await httpGet(listen, '/r/warm', agent)
  assert.equal(warm.status, 200)
  assert.equal(warm.body, 'warm')
  assert.equal(warm.headers.connection, 'keep-alive')
  const idleSocket = Object.values(agent.freeSockets)[0]?.[0]
  assert.ok(idleSocket, 'an idle keep-alive socket to the gateway')
  const idleClosed = new Promise<void>((resolve) => idleSocket.once('close', () => resolve()))

  const requests = Array.from({ length: 10 }, (_, i) => httpGet(listen, `/r/${i}`))
  await until('10 requests at the upstream', () => up.inflight === 10, 10_000)

  const exit = gp.stop('SIGTERM')
  // New connections are refused once the signal is handled (the listener is closed first).
  await until('a new connection after SIGTERM is refused', async () => (await connectOutcome(listen)) === 'refused', 5000)
  await Promise.race([idleClosed, sleep(3000).then(() => { throw new Error('idle keep-alive connection not closed by the drain') })])
  // Admin is still up while draining: not ready.
  const ready = await fetch(`http://127.0.0.1:${admin}/readyz`)
  assert.equal(ready.status, 503)
  assert.deepEqual(await ready.json(), { status: 'draining' })
  assert.equal(up.inflight, 10, 'in-flight requests are still running')

  release()
  const answers = await Promise.all(requests)
  assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200))
  assert.deepEqual(answers.map((a) => a.body), Array(10).fill('done'))
  assert.deepEqual(answers.map((a) => a.headers.connection), Array(10).fill('close'))
  assert.equal(await exit, 0)
  const logs = logLines(gp.output)
  assert.ok(logs.some((l) => l.msg === 'stopping: draining in-flight requests' && l.signal === 'SIGTERM'))
  const stopped = logs.find((l) => l.msg === 'gateway stopped')
  assert.ok(stopped, gp.output.join('\n'))
  assert.equal(stopped.timedOut, false)
  assert.equal(logs.filter((l) => l.msg === 'access').length, 11, 'every request was logged')
  assert.equal(await connectOutcome(admin), 'refused')
})

/**
 * A gateway process with `server.drainTimeout`, and one request held at an
 * upstream that never answers; `pending` settles with 'answered' or the
 * client's error code.
 */
async function gatewayWithHangingRequest (t: TestContext, drainTimeout: string): Promise<{ gp: GatewayProc; pending: Promise<string> }> {
  const up = await startUpstream({ name: 'hang', handler: () => { /* never answers */ } })
  t.after(async () => { await up.close() })
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, yamlConfig(listen, admin, up.url) + `server: { drainTimeout: ${drainTimeout} }\n`)
  const gp = await startGatewayProcess(file)
  t.after(async () => { await gp.stop('SIGKILL') })
  const pending = httpGet(listen, '/r/hang').then(() => 'answered', (err: NodeJS.ErrnoException) => err.code ?? err.message)
  await until('the request reached the upstream', () => up.inflight === 1, 10_000)
  return { gp, pending }
}

test('SIGTERM past server.drainTimeout: the process still exits 0 and cuts what is left', { timeout: 60_000 }, async (t) => {
  const { gp, pending } = await gatewayWithHangingRequest(t, '300ms')
  const t0 = Date.now()
  assert.equal(await gp.stop('SIGTERM'), 0)
  const took = Date.now() - t0
  t.diagnostic(`exit ${took} ms after SIGTERM with drainTimeout 300ms`)
  assert.equal(await pending, 'ECONNRESET', 'the request left at the deadline is cut')
  const logs = logLines(gp.output)
  assert.ok(logs.some((l) => l.msg === 'drain timeout: closing remaining connections' && l.inflight === 1))
  assert.equal(logs.find((l) => l.msg === 'gateway stopped')?.timedOut, true)
})

/** Spawns `gateway start ARGS` without waiting for readiness; output lines are collected. */
function spawnGateway (args: string[], cwd: string): { proc: ChildProcess; output: string[]; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const proc = spawn(process.execPath, [GATEWAY_CLI, 'start', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.setEncoding('utf8').on('data', (s: string) => { output.push(...s.split('\n').filter((l) => l !== '')) })
  }
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })))
  return { proc, output, exit }
}

/**
 * The config file as a named pipe: the gateway's start-up blocks reading it
 * until the test writes the config, so a signal is delivered while it is
 * certainly starting. Resolves once the gateway has opened the pipe.
 */
async function pipeConfig (file: string): Promise<{ opened: Promise<fs.promises.FileHandle> }> {
  execFileSync('mkfifo', [file])
  return { opened: fs.promises.open(file, 'w') }
}

async function writeAndClose (fh: fs.promises.FileHandle, text: string): Promise<void> {
  try {
    await fh.write(text)
  } catch {
    // The reader is gone (the process died): the assertions on its exit tell why.
  } finally {
    await fh.close().catch(() => {})
  }
}

test('SIGTERM during start-up: start-up is abandoned, exit 0, nothing ever listens', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  const { opened } = await pipeConfig(file)
  const gw = spawnGateway(['--config', 'gateway.yaml'], dir)
  t.after(() => { gw.proc.kill('SIGKILL') })
  const fh = await opened // the gateway is reading its config now
  gw.proc.kill('SIGTERM')
  let exited = false
  void gw.exit.then(() => { exited = true })
  await until('the SIGTERM is handled (or the process is gone)', () =>
    exited || logLines(gw.output).some((l) => l.signal === 'SIGTERM'), 10_000)
  await writeAndClose(fh, yamlConfig(listen, admin, 'http://127.0.0.1:9'))
  assert.deepEqual(await gw.exit, { code: 0, signal: null }, gw.output.join('\n'))
  const logs = logLines(gw.output)
  assert.ok(logs.some((l) => l.msg === 'stopping: start-up abandoned' && l.signal === 'SIGTERM'), gw.output.join('\n'))
  assert.ok(!logs.some((l) => l.msg === 'gateway started'), gw.output.join('\n'))
  assert.equal(await connectOutcome(listen), 'refused')
  assert.equal(await connectOutcome(admin), 'refused')
})

test('SIGHUP during start-up does not kill it: the gateway starts, then reloads', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  const text = yamlConfig(listen, admin, 'http://127.0.0.1:9')
  const { opened } = await pipeConfig(file)
  const gw = spawnGateway(['--config', 'gateway.yaml'], dir)
  t.after(() => { gw.proc.kill('SIGKILL') })
  const fh = await opened
  gw.proc.kill('SIGHUP')
  let exited = false
  void gw.exit.then(() => { exited = true })
  await until('the SIGHUP is handled (or the process is gone)', () =>
    exited || logLines(gw.output).some((l) => l.signal === 'SIGHUP'), 10_000)
  // The reload after start-up reads a plain file at the same path.
  fs.rmSync(file)
  fs.writeFileSync(file, text)
  await writeAndClose(fh, text)
  const last = await until('a reload by SIGHUP once started', async () => {
    if (exited) throw new Error(`the gateway exited\n${gw.output.join('\n')}`)
    const res = await fetch(`http://127.0.0.1:${admin}/admin/config`).catch(() => undefined)
    if (res?.status !== 200) return undefined
    const body = await res.json() as { lastReload: { trigger: string; result: string } | null }
    return body.lastReload ?? undefined
  }, 20_000)
  assert.deepEqual({ trigger: last.trigger, result: last.result }, { trigger: 'SIGHUP', result: 'unchanged' })
  assert.equal((await httpGet(listen, '/nothing-here')).status, 404)
  gw.proc.kill('SIGTERM')
  assert.deepEqual(await gw.exit, { code: 0, signal: null }, gw.output.join('\n'))
})

test('signals during the drain (SIGTERM again, SIGINT, SIGHUP) neither kill it nor cut the drain short', { timeout: 60_000 }, async (t) => {
  const { gp, pending } = await gatewayWithHangingRequest(t, '1500ms')
  const t0 = Date.now()
  gp.proc.kill('SIGTERM')
  await until('the drain has begun', () => logLines(gp.output).some((l) => l.msg === 'stopping: draining in-flight requests'), 10_000)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) gp.proc.kill(signal)
  assert.equal(await gp.stop('SIGTERM'), 0, gp.output.join('\n'))
  const took = Date.now() - t0
  assert.ok(took >= 1400, `exited ${took} ms after SIGTERM, before the 1500 ms drain timeout`)
  assert.equal(await pending, 'ECONNRESET')
  const logs = logLines(gp.output)
  assert.equal(logs.find((l) => l.msg === 'gateway stopped')?.timedOut, true, gp.output.join('\n'))
  assert.equal(logs.filter((l) => l.msg === 'stopping: draining in-flight requests').length, 1)
})

/** The checkout's root (dist/test/integration/ -> ../../..), where package.json is. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

test('npm start: SIGTERM to the npm process stops the gateway (no orphan left holding its port)', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t)
  const listen = await freePort()
  const admin = await freePort()
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, yamlConfig(listen, admin, 'http://127.0.0.1:9'))
  // The README's run command, with this test's config instead of the bundled demo.
  const npm = spawn('npm', ['start', '--', '--config', file, '--no-demo'], {
    cwd: REPO_ROOT,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  for (const stream of [npm.stdout, npm.stderr]) {
    stream.setEncoding('utf8').on('data', (s: string) => { output.push(...s.split('\n').filter((l) => l !== '')) })
  }
  // 'exit', not 'close': an orphaned gateway would hold npm's stdout open.
  const npmExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.on('exit', (code, signal) => resolve({ code, signal })))
  let gatewayPid = 0
  t.after(() => {
    npm.kill('SIGKILL')
    if (gatewayPid > 0 && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL')
  })
  const started = await until('the gateway started by npm start', () => logLines(output).find((l) => l.msg === 'gateway started'), 90_000)
  gatewayPid = Number(started.pid)
  assert.ok(gatewayPid > 0)
  assert.equal((await fetch(`http://127.0.0.1:${admin}/readyz`)).status, 200)

  npm.kill('SIGTERM')
  const exit = await npmExit
  t.diagnostic(`npm exited with ${JSON.stringify(exit)}`)
  await until('the gateway process is gone', () => !alive(gatewayPid), 15_000)
  assert.equal(await connectOutcome(listen), 'refused')
  assert.equal(await connectOutcome(admin), 'refused')
  const logs = logLines(output)
  assert.ok(logs.some((l) => l.msg === 'stopping: draining in-flight requests' && l.signal === 'SIGTERM'), output.join('\n'))
  assert.ok(logs.some((l) => l.msg === 'gateway stopped'), output.join('\n'))
})
