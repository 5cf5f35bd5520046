// The shared Redis connection against a real redis-server (test/helpers/redis-server.ts):
// state in the admin API and metrics, each change of state logged once,
// commands that fail at once while Redis is down and by commandTimeout when it
// is frozen, reconnection by itself, and what a reload keeps or replaces.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { request } from 'undici'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import type { RedisService } from '../../gateway/services/redis.js'
import { metric } from '../helpers/metrics.js'
import { probe, probePluginModule } from '../helpers/probe-plugin.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { until } from '../helpers/until.js'

const PASSWORD = 'not-in-any-log-7f3a'
const COMMAND_TIMEOUT = 50

let redis: RedisServer
let plugins: PluginRegistry
let up: Upstream
/** Responses the upstream holds until released (a request kept in flight on purpose). */
const held: Array<() => void> = []

before(async () => {
  process.env.GW_TEST_REDIS_PASSWORD = PASSWORD
  redis = await startRedisServer({ password: PASSWORD })
  plugins = await loadPluginRegistry([probePluginModule])
  up = await startUpstream({
    handler: (req, res) => {
      const answer = (): void => { res.end('ok') }
      if (req.url?.startsWith('/hold')) held.push(answer)
      else answer()
    }
  })
})

after(async () => {
  // When redis-server is missing, before() failed with the message that says so: nothing more to report here.
  await redis?.stop()
  await up?.close()
})

function redisSection (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    url: redis.url,
    password: '${GW_TEST_REDIS_PASSWORD}',
    keyPrefix: 'test:',
    commandTimeout: COMMAND_TIMEOUT,
    reconnect: { min: 20, max: 100 },
    ...extra
  }
}

function config (opts: { redis?: Record<string, unknown>; routes?: Array<Record<string, unknown>> } = {}): Record<string, unknown> {
  return {
    node: { id: 'gw-test-1' },
    redis: opts.redis ?? redisSection(),
    upstreams: { app: { nodes: [{ url: up.url }] } },
    routes: opts.routes ?? [
      { id: 'shared', match: { paths: ['/hold/*'] }, upstream: 'app', plugins: { probe: { tag: 'shared', scope: 'cluster' } } },
      { id: 'local', match: { paths: ['/local/*'] }, upstream: 'app', plugins: { probe: { tag: 'local', scope: 'local' } } }
    ]
  }
}

interface ServicesBody {
  node: { id: string }
  redis: { configured: boolean; mode?: string; state?: string; since?: string; endpoint?: string[]; lastError?: string | null }
}

async function services (gw: TestGateway): Promise<ServicesBody> {
  const res = await request(gw.adminUrl + '/admin/services')
  assert.equal(res.statusCode, 200)
  return await res.body.json() as ServicesBody
}

async function metrics (gw: TestGateway): Promise<string> {
  return await (await request(gw.adminUrl + '/metrics')).body.text()
}

const linesWith = (gw: TestGateway, msg: string): number => gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(msg)).length

/** ms a command through the shared client takes to fail; asserts that it fails with `expected`. */
async function failingCommand (svc: RedisService, expected: RegExp): Promise<number> {
  const t0 = performance.now()
  await assert.rejects(svc.client.get(svc.keyPrefix + 'k'), expected)
  return performance.now() - t0
}

/** Process-level trouble during `fn`: unhandled rejections, uncaught errors, ioredis complaining on the console. */
async function watchTrouble (fn: () => Promise<void>): Promise<string[]> {
  const trouble: string[] = []
  const onRejection = (err: unknown): void => { trouble.push(`unhandledRejection: ${String(err)}`) }
  const onException = (err: Error): void => { trouble.push(`uncaughtException: ${err.message}`) }
  const consoleError = console.error
  const consoleWarn = console.warn
  console.error = (...args: unknown[]) => { trouble.push(`console.error: ${args.map(String).join(' ')}`) }
  console.warn = (...args: unknown[]) => { trouble.push(`console.warn: ${args.map(String).join(' ')}`) }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  try {
    await fn()
  } finally {
    console.error = consoleError
    console.warn = consoleWarn
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
  return trouble
}

test('the shared connection: ready in the admin API and metrics; a plugin gets it with the node id; no password anywhere', async (t) => {
  const gw = await startTestGateway(config(), { plugins })
  t.after(() => gw.stop())
  await until('redis ready', async () => (await services(gw)).redis.state === 'ready')

  const body = await services(gw)
  assert.deepEqual(body.node, { id: 'gw-test-1' })
  assert.deepEqual({ ...body.redis, since: undefined }, {
    configured: true, mode: 'standalone', state: 'ready', since: undefined, endpoint: [`127.0.0.1:${redis.port}`], lastError: null
  })
  const m = await metrics(gw)
  assert.equal(metric(m, 'gateway_redis_up'), 1)
  assert.equal(metric(m, 'gateway_redis_state_changes_total', { state: 'ready' }), 1)

  // The plugin that asked for Redis got the gateway's one connection, and it works (authenticated).
  const svc = gw.gw.current.services.redis!
  assert.equal(probe.redis.findLast((p) => p.tag === 'shared')?.redis, svc)
  assert.equal(await svc.client.set(svc.keyPrefix + 'hello', 'world'), 'OK')
  assert.equal(await svc.client.get(svc.keyPrefix + 'hello'), 'world')

  const everything = JSON.stringify(gw.logs) + JSON.stringify(body) + await (await request(gw.adminUrl + '/admin/config')).body.text() + m
  assert.ok(!everything.includes(PASSWORD), 'the password appears in a log line or an admin answer')
})

test('no redis: section: /admin/services says so, no gateway_redis_up sample, plugins get undefined', async (t) => {
  const gw = await startTestGateway({ upstreams: { app: { nodes: [{ url: up.url }] } }, routes: [] }, { plugins })
  t.after(() => gw.stop())
  const body = await services(gw)
  assert.deepEqual(body.redis, { configured: false })
  assert.match(body.node.id, /^.+:\d+$/, 'default node id is hostname:pid')
  assert.ok(body.node.id.endsWith(`:${process.pid}`))
  assert.equal(metric(await metrics(gw), 'gateway_redis_up'), undefined)
})

test('Redis killed: down, logged once; commands fail at once; back to ready by itself after a restart', async (t) => {
  const gw = await startTestGateway(config(), { plugins })
  t.after(async () => {
    await gw.stop()
    if (!redis.running) await redis.restart() // the test failed half-way: leave a server for the next ones
  })
  await until('redis ready', async () => (await services(gw)).redis.state === 'ready')
  const svc = gw.gw.current.services.redis!
  let reconnects = 0
  svc.client.on('reconnecting', () => { reconnects++ })

  const trouble = await watchTrouble(async () => {
    await redis.stop()
    await until('state down', async () => (await services(gw)).redis.state === 'down')
    await until('several reconnect attempts', () => reconnects >= 4)
    assert.equal(linesWith(gw, 'redis: down'), 1, 'one log line for the change, none per attempt')
    const down = gw.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('redis: down'))!
    assert.equal(down.level, 40)
    assert.deepEqual(down.endpoint, [`127.0.0.1:${redis.port}`])

    const ms = await failingCommand(svc, /enableOfflineQueue/)
    t.diagnostic(`command while down failed in ${ms.toFixed(2)} ms`)
    assert.ok(ms < 20, `a command while down must fail at once, took ${ms} ms`)

    const body = await services(gw)
    assert.equal(typeof body.redis.lastError, 'string')
    const m = await metrics(gw)
    assert.equal(metric(m, 'gateway_redis_up'), 0)
    assert.equal(metric(m, 'gateway_redis_state_changes_total', { state: 'down' }), 1)

    await redis.restart()
    await until('ready again', async () => (await services(gw)).redis.state === 'ready', 3000)
    assert.equal(await svc.client.ping(), 'PONG')
  })
  assert.deepEqual(trouble, [])
  assert.equal(linesWith(gw, 'redis: down'), 1)
  assert.equal(linesWith(gw, 'redis: ready'), 2)
  assert.equal(metric(await metrics(gw), 'gateway_redis_state_changes_total', { state: 'ready' }), 2)
})

test('Redis frozen (SIGSTOP): a command fails by commandTimeout, not later; the dead connection is dropped; SIGCONT: ready again', async (t) => {
  const gw = await startTestGateway(config(), { plugins })
  t.after(async () => { redis.resume(); await gw.stop() })
  await until('redis ready', async () => (await services(gw)).redis.state === 'ready')
  const svc = gw.gw.current.services.redis!

  const trouble = await watchTrouble(async () => {
    redis.pause()
    const ms = await failingCommand(svc, /timed out/)
    t.diagnostic(`command to a frozen Redis failed after ${ms.toFixed(1)} ms (commandTimeout ${COMMAND_TIMEOUT})`)
    assert.ok(ms >= COMMAND_TIMEOUT - 1 && ms < COMMAND_TIMEOUT + 40, `expected ~${COMMAND_TIMEOUT} ms, took ${ms} ms`)

    // No answer on a connection with a command pending: taken for dead, so later commands fail at once.
    await until('state down', async () => (await services(gw)).redis.state === 'down', 3000)
    assert.ok(await failingCommand(svc, /enableOfflineQueue/) < 20)

    redis.resume()
    await until('ready again', async () => (await services(gw)).redis.state === 'ready', 3000)
    assert.equal(await svc.client.ping(), 'PONG')
  })
  assert.deepEqual(trouble, [])
  assert.equal(linesWith(gw, 'redis: down'), 1)
})

test('reload: an unchanged redis: keeps the connection; a changed one replaces it and closes the old one after retirement', async (t) => {
  const gw = await startTestGateway(config(), { plugins })
  t.after(async () => { for (const release of held.splice(0)) release(); await gw.stop() })
  await until('redis ready', async () => (await services(gw)).redis.state === 'ready')
  const first = gw.gw.current.services.redis!
  t.after(() => first.close()) // when the test fails before retirement closed it: an open socket would keep the runner alive
  const sharedInstances = (): number => probe.redis.filter((p) => p.tag === 'shared').length
  const createdBefore = sharedInstances()

  // 1. Another route added: same connection, no reconnect, the plugin instance using Redis kept.
  const routes = (config().routes as Array<Record<string, unknown>>)
  gw.rewrite(config({ routes: [...routes, { id: 'extra', match: { paths: ['/extra'] }, upstream: 'app' }] }))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  assert.equal(gw.gw.current.services.redis, first)
  assert.equal(linesWith(gw, 'redis: connecting'), 1)
  assert.equal(sharedInstances(), createdBefore)

  // 2. A request held in flight on this config, then redis: changed.
  const closedBefore = probe.closed.length
  const pending = request(gw.url + '/hold/x').then(async (res) => { await res.body.text(); return res.statusCode })
  await until('request held by the upstream', () => held.length === 1)
  gw.rewrite(config({ redis: redisSection({ commandTimeout: 60 }) }))
  assert.equal((await gw.gw.reloader.reload('test')).result, 'ok')
  const second = gw.gw.current.services.redis!
  assert.notEqual(second, first)
  assert.equal(second.commandTimeout, 60)
  await until('new connection ready', () => second.state === 'ready')
  // The plugin instance that read env.redis was created again with the new connection; the local one was kept.
  assert.equal(sharedInstances(), createdBefore + 1)
  assert.equal(probe.redis.at(-1)?.redis, second)
  assert.equal(gw.gw.reloader.retiring, 1)
  assert.equal(first.closed, false, 'the old connection stays open while the old config has a request in flight')
  assert.equal(await first.client.ping(), 'PONG')

  held.shift()!()
  assert.equal(await pending, 200)
  await until('old connection closed after retirement', () => first.closed && first.client.status === 'end')
  assert.deepEqual(probe.closed.slice(closedBefore), ['shared'], 'only the instance bound to the old connection was closed')
  assert.equal(linesWith(gw, 'redis: connection closed'), 1)
  assert.equal(second.closed, false)
  assert.equal(metric(await metrics(gw), 'gateway_redis_up'), 1)
})
