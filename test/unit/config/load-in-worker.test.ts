import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../../../gateway/config/load-config.js'
import { loadConfigInWorker, stopConfigWorker } from '../../../gateway/config/load-in-worker.js'
import { loadPluginRegistry } from '../../../plugins/registry.js'
import { probePluginModule } from '../../helpers/probe-plugin.js'
import { EMPTY_ROUTES, fixturesDir, removeTrees, UPSTREAM, writeTree, y } from './helpers.js'

after(async () => {
  removeTrees()
  await stopConfigWorker()
})

describe('loadConfigInWorker', () => {
  it('returns what loadConfig returns', async () => {
    const main = join(fixturesDir, 'example', 'gateway.yaml')
    const inWorker = await loadConfigInWorker(main, {})
    assert.deepEqual(inWorker, loadConfig(main, {}))
    assert.ok(inWorker.ok)
  })

  it('passes the environment of each call', async () => {
    const dir = writeTree({ 'main.yaml': y('listen: {port: "${PORT}"}') + EMPTY_ROUTES })
    const a = await loadConfigInWorker(join(dir, 'main.yaml'), { PORT: '1234' })
    const b = await loadConfigInWorker(join(dir, 'main.yaml'), { PORT: '4321' })
    assert.ok(a.ok && b.ok)
    assert.equal(a.config.listen.port, 1234)
    assert.equal(b.config.listen.port, 4321)
  })

  it('reports issues with locations', async () => {
    const dir = writeTree({ 'main.yaml': UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: nope') })
    const r = await loadConfigInWorker(join(dir, 'main.yaml'), {})
    assert.equal(r.ok, false)
    if (r.ok) return
    assert.deepEqual(r.issues, [{
      location: { file: join(dir, 'main.yaml'), line: 8, column: 15 },
      path: 'routes[0].upstream',
      message: 'unknown upstream "nope"; defined: users'
    }])
  })

  it('keeps the related location of an issue (duplicate in another file)', async () => {
    const dir = writeTree({
      'main.yaml': UPSTREAM + y('include: [more.yaml]'),
      'more.yaml': y('upstreams:', '  users: {nodes: [{url: "http://b:2"}]}')
    })
    const r = await loadConfigInWorker(join(dir, 'main.yaml'), {})
    assert.equal(r.ok, false)
    if (r.ok) return
    assert.deepEqual(r.issues, [{
      location: { file: join(dir, 'more.yaml'), line: 2, column: 3 },
      path: 'upstreams.users',
      message: 'duplicate upstream "users"',
      related: { text: 'first defined at', location: { file: join(dir, 'main.yaml'), line: 2, column: 3 } }
    }])
  })

  it('serialises concurrent requests and answers each in order', async () => {
    const dirs = [1, 2, 3, 4, 5].map((port) => writeTree({ 'main.yaml': y(`listen: {port: ${port}}`) + EMPTY_ROUTES }))
    const order: number[] = []
    const results = await Promise.all(dirs.map(async (d, i) => {
      const r = await loadConfigInWorker(join(d, 'main.yaml'), {})
      order.push(i)
      return r
    }))
    assert.deepEqual(results.map((r) => (r.ok ? r.config.listen.port : -1)), [1, 2, 3, 4, 5])
    assert.deepEqual(order, [0, 1, 2, 3, 4])
  })

  it('keeps the event loop free while a large config loads', async () => {
    const routes = 3000
    let text = 'upstreams:\n  u: {nodes: [{url: "http://a:1"}]}\nroutes:\n'
    for (let i = 0; i < routes; i++) text += `  - {id: r${i}, match: {paths: ["/r/${i}"]}, upstream: u}\n`
    const dir = writeTree({ 'main.yaml': text })
    // One tick per turn of the event loop (setImmediate runs once per turn).
    let ticks = 0
    let loading = true
    const tick = (): void => { ticks++; if (loading) setImmediate(tick) }
    setImmediate(tick)
    const r = await loadConfigInWorker(join(dir, 'main.yaml'), {})
    loading = false
    assert.ok(r.ok)
    assert.equal(r.config.routes.length, routes)
    // Loading on the main thread blocks the loop for the whole load: 0 turns. In the
    // worker the loop turns freely, and on any machine, however fast, at least once
    // per route chunk (ROUTE_CHUNK = 500): the next chunk is asked for on a later turn.
    assert.ok(ticks >= routes / 500 - 1, `only ${ticks} turns of the event loop during the load`)
  })

  it('validates the options of extra plugins, which the worker imports from their modules', async () => {
    const route = (options: string): string => UPSTREAM + y('routes:', '  - id: a', '    match: {paths: [/a]}', '    upstream: users', `    plugins: {probe: ${options}}`)
    const plugins = await loadPluginRegistry([probePluginModule])
    const good = join(writeTree({ 'main.yaml': route('{tag: t}') }), 'main.yaml')
    const r = await loadConfigInWorker(good, {}, plugins)
    assert.deepEqual(r, loadConfig(good, {}, plugins))
    assert.ok(r.ok)
    assert.deepEqual(r.config.routes[0]!.plugins, { probe: { tag: 't', access: 'none' } }, 'defaults filled in by the plugin\'s schema')

    const bad = await loadConfigInWorker(join(writeTree({ 'main.yaml': route('{tag: t, acess: none}') }), 'main.yaml'), {}, plugins)
    assert.equal(bad.ok, false)
    if (bad.ok) return
    assert.deepEqual(bad.issues.map((i) => i.message), ['unknown key "acess" (did you mean "access"?)'])

    const builtinOnly = await loadConfigInWorker(good, {})
    assert.equal(builtinOnly.ok, false, 'without the registry, probe is an unknown plugin')
    if (builtinOnly.ok) return
    assert.match(builtinOnly.issues[0]!.message, /^unknown plugin "probe"/)
  })

  it('starts a new worker after stopConfigWorker', async () => {
    await stopConfigWorker()
    const dir = writeTree({ 'main.yaml': EMPTY_ROUTES })
    const r = await loadConfigInWorker(join(dir, 'main.yaml'), {})
    assert.ok(r.ok)
  })

  it('refuses an empty file and a file without routes, as loadConfig does', async () => {
    const dir = writeTree({ 'empty.yaml': '# nothing\n', 'main.yaml': UPSTREAM })
    const empty = await loadConfigInWorker(join(dir, 'empty.yaml'), {})
    assert.deepEqual(empty, loadConfig(join(dir, 'empty.yaml'), {}))
    assert.equal(empty.ok, false)
    if (empty.ok) return
    assert.deepEqual(empty.issues.map((i) => i.message), ['config file is empty'])
    const noRoutes = await loadConfigInWorker(join(dir, 'main.yaml'), {})
    assert.equal(noRoutes.ok, false)
    if (noRoutes.ok) return
    assert.match(noRoutes.issues[0]!.message, /^no routes in this file or the files it includes/)
  })
})
