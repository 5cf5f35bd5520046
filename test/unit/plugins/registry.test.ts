import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { builtinPlugins, builtinRegistry, loadPluginRegistry } from '../../../plugins/registry.js'
import { probePlugin, probePluginModule } from '../../helpers/probe-plugin.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-plugin-modules-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

function moduleFile (name: string, text: string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

test('no extra modules: the built-in registry', async () => {
  assert.equal(await loadPluginRegistry([]), builtinRegistry)
})

test('extra modules add their plugins to the built-in ones; the same list gives the same registry', async () => {
  const r = await loadPluginRegistry([probePluginModule])
  assert.deepEqual([...r.plugins.keys()], [...builtinPlugins.keys(), 'probe', 'probe-low'])
  assert.equal(r.plugins.get('probe'), probePlugin)
  assert.deepEqual(r.modules, [probePluginModule])
  assert.equal(await loadPluginRegistry([probePluginModule]), r)
})

test('a module path is imported as a file URL', async () => {
  const file = moduleFile('path.mjs', `export { plugins } from ${JSON.stringify(probePluginModule)}\n`)
  const r = await loadPluginRegistry([file])
  assert.equal(r.plugins.get('probe'), probePlugin)
  assert.match(r.modules[0]!, /^file:\/\/.*path\.mjs$/)
})

test('a module without `plugins`, or redefining a plugin, is refused', async () => {
  await assert.rejects(loadPluginRegistry([moduleFile('none.mjs', 'export const x = 1\n')]), /must export plugins/)
  const dup = moduleFile('dup.mjs', 'export const plugins = [{ name: "cors", priority: 1, schema: {}, create () { return {} } }]\n')
  await assert.rejects(loadPluginRegistry([dup]), /plugin "cors" is already defined/)
})
