// A reload never ends the process: a failing post-swap hook or a failing
// retirement is caught, logged and counted, and the gateway keeps serving.
// The Reloader takes its collaborators (onSwap, the connection registry), so
// each failure is forced here through a real Reloader on a real config.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { loadConfig } from '../../../gateway/config/load-config.js'
import { GatewayMetrics } from '../../../gateway/observability/metrics.js'
import { Reloader, type ReloaderDeps } from '../../../gateway/reload/reloader.js'
import { buildSnapshot } from '../../../gateway/snapshot/build-snapshot.js'
import { NodeConnectionRegistry } from '../../../gateway/upstream/node-connection.js'
import { NodeHealthRegistry } from '../../../gateway/health/node-health.js'
import { builtinRegistry } from '../../../plugins/registry.js'
import { until } from '../../helpers/until.js'
import { writeConfig } from '../../helpers/yaml-config.js'

function config (routes: string[], nodeUrl = 'http://127.0.0.1:9'): object {
  return {
    upstreams: { a: { nodes: [{ url: nodeUrl }] } },
    routes: routes.map((id) => ({ id, match: { paths: [`/${id}/*`] }, upstream: 'a' }))
  }
}

interface Setup {
  reloader: Reloader
  metrics: GatewayMetrics
  logs: Array<Record<string, unknown>>
  rewrite(obj: object): void
}

async function setup (t: { after: (fn: () => void) => void }, deps: Partial<ReloaderDeps> = {}): Promise<Setup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-reloader-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const configFile = writeConfig(dir, config(['one']))
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    }
  })
  const logger = pino({ level: 'debug' }, sink)
  const registry = deps.registry ?? new NodeConnectionRegistry()
  const health = new NodeHealthRegistry()
  const metrics = new GatewayMetrics()
  const loaded = loadConfig(configFile, {})
  assert.ok(loaded.ok)
  const { snapshot } = await buildSnapshot({ config: loaded.config, keys: loaded.keys, digest: loaded.digest, files: loaded.files, version: 1 },
    undefined, { registry, health, plugins: builtinRegistry, metrics, logger })
  const reloader = new Reloader(snapshot, { configFile, registry, health, plugins: builtinRegistry, metrics, logger, onSwap: () => {}, ...deps })
  return { reloader, metrics, logs, rewrite: (obj) => writeConfig(dir, obj) }
}

/** Value of one sample of the Prometheus text exposition, 0 when absent. */
async function metric (metrics: GatewayMetrics, name: string, labels = ''): Promise<number> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Collects the process's unhandled rejections while a test runs. */
function watchUnhandled (t: { after: (fn: () => void) => void }): unknown[] {
  const seen: unknown[] = []
  const onUnhandled = (reason: unknown): void => { seen.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.after(() => { process.off('unhandledRejection', onUnhandled) })
  return seen
}

test('onSwap throwing: the reload answers "failed" (counted, logged), never rejects, and the next reload works', async (t) => {
  const unhandled = watchUnhandled(t)
  let failSwap = true
  const s = await setup(t, {
    onSwap: () => {
      if (failSwap) throw new Error('cannot apply server timeouts')
    }
  })
  s.rewrite(config(['one', 'two']))
  const failed = await s.reloader.reload('SIGHUP')
  assert.equal(failed.result, 'failed')
  assert.equal(failed.trigger, 'SIGHUP')
  assert.equal(failed.errors.length, 1)
  assert.match(failed.errors[0]!, /cannot apply server timeouts/)
  // The swap itself had happened: the new routes serve, and the answer says which version is in force.
  assert.equal(failed.version, 2)
  assert.equal(s.reloader.current.version, 2)
  assert.equal(s.reloader.last, failed)
  assert.equal(await metric(s.metrics, 'gateway_config_reloads_total', '{result="failed"}'), 1)
  assert.equal(await metric(s.metrics, 'gateway_config_reloads_total', '{result="ok"}'), 0)
  assert.ok(s.logs.some((l) => l.level === 50 && /cannot apply server timeouts/.test(String(l.msg))), JSON.stringify(s.logs))

  failSwap = false
  s.rewrite(config(['one', 'two', 'three']))
  const ok = await s.reloader.reload('admin')
  assert.equal(ok.result, 'ok')
  assert.equal(ok.version, 3)
  assert.equal(await metric(s.metrics, 'gateway_config_reloads_total', '{result="ok"}'), 1)
  assert.deepEqual(unhandled, [])
})

test('a reload queued behind one whose onSwap throws still runs', async (t) => {
  const unhandled = watchUnhandled(t)
  let swaps = 0
  const s = await setup(t, {
    onSwap: () => {
      if (++swaps === 1) throw new Error('first swap hook fails')
    }
  })
  s.rewrite(config(['one', 'two']))
  const first = s.reloader.reload('file-change')
  const queued = s.reloader.reload('SIGHUP')
  assert.equal((await first).result, 'failed')
  // It runs (rather than sharing the first one's rejection) and finds the config already in force.
  const second = await queued
  assert.equal(second.trigger, 'SIGHUP')
  assert.equal(second.result, 'unchanged')
  assert.equal(second.version, 2)
  assert.deepEqual(unhandled, [])
})

class RejectingRegistry extends NodeConnectionRegistry {
  retirements = 0
  override retireUnused (keep: Parameters<NodeConnectionRegistry['retireUnused']>[0]): Promise<void> {
    this.retirements++
    return super.retireUnused(keep).then(() => { throw new Error('pool close failed') })
  }
}

test('retireUnused rejecting: logged and counted as a failed retirement, never an unhandled rejection', async (t) => {
  const unhandled = watchUnhandled(t)
  const registry = new RejectingRegistry()
  const s = await setup(t, { registry })
  // A new node URL: the old pool is no longer used and gets retired after the swap.
  s.rewrite(config(['one'], 'http://127.0.0.1:10'))
  const out = await s.reloader.reload('admin')
  assert.equal(out.result, 'ok')
  await until('the failed retirement is counted', async () => await metric(s.metrics, 'gateway_reload_retirement_failures_total') === 1)
  assert.equal(registry.retirements, 1)
  assert.ok(s.logs.some((l) => l.level === 50 && /retiring/.test(String(l.msg)) && /pool close failed/.test(JSON.stringify(l.err))),
    JSON.stringify(s.logs))
  assert.deepEqual(unhandled, [])

  // The gateway keeps reloading afterwards.
  s.rewrite(config(['one', 'two'], 'http://127.0.0.1:10'))
  assert.equal((await s.reloader.reload('admin')).result, 'ok')
  await until('the second failed retirement is counted', async () => await metric(s.metrics, 'gateway_reload_retirement_failures_total') === 2)
  assert.deepEqual(unhandled, [])
})

test('reload outcome: durationMs and compileMs are rounded to 0.1 ms', async (t) => {
  const s = await setup(t)
  const tenths = /^\d+(\.\d)?$/
  s.rewrite(config(['one', 'two']))
  const ok = await s.reloader.reload('admin')
  assert.equal(ok.result, 'ok')
  assert.match(String(ok.durationMs), tenths)
  assert.match(String(ok.compileMs), tenths)
  const unchanged = await s.reloader.reload('admin')
  assert.equal(unchanged.result, 'unchanged')
  assert.match(String(unchanged.durationMs), tenths)
  fs.writeFileSync(s.reloader.deps.configFile, 'routes: [\n')
  const refused = await s.reloader.reload('admin')
  assert.equal(refused.result, 'failed')
  assert.match(String(refused.durationMs), tenths)
})
