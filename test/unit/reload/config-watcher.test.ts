// The config watcher turns bursts of file events into few reloads, and still
// reloads regularly when events never stop (a discovery feed rewriting a file).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ConfigWatcher } from '../../../gateway/reload/config-watcher.js'
import { until } from '../../helpers/until.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function tempConfig (): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-watch-'))
  const file = path.join(dir, 'gateway.yaml')
  fs.writeFileSync(file, 'routes: []\n')
  return { dir, file }
}

test('a burst of writes gives one callback after the burst', async () => {
  const { dir, file } = tempConfig()
  let calls = 0
  const w = new ConfigWatcher(() => { calls++ }, 100, 1000)
  w.setFiles([file])
  for (let i = 0; i < 30; i++) {
    fs.writeFileSync(file, `routes: [] # ${i}\n`)
    await sleep(5)
  }
  await until('the callback after the burst', () => calls > 0)
  await sleep(300) // three times the debounce: a second callback would show up
  w.close()
  fs.rmSync(dir, { recursive: true, force: true })
  assert.equal(calls, 1)
})

test('continuous churn still triggers a callback at least every maxWait', async () => {
  const { dir, file } = tempConfig()
  const at: number[] = []
  const start = Date.now()
  const w = new ConfigWatcher(() => { at.push(Date.now() - start) }, 200, 500)
  w.setFiles([file])
  while (Date.now() - start < 2000) {
    fs.writeFileSync(file, `routes: [] # ${Date.now()}\n`)
    await sleep(50)
  }
  w.close()
  fs.rmSync(dir, { recursive: true, force: true })
  assert.ok(at.length >= 2, `expected >= 2 callbacks during 2 s of churn, got ${at.length} at ${at.join(', ')}`)
  assert.ok(at.length <= 6, `expected <= 6 callbacks, got ${at.length}`)
  assert.ok(at[0]! < 1500, `first callback soon after maxWait, not at the end of the churn, got ${at[0]} ms`)
})

test('files of no interest in a watched directory are ignored', async () => {
  const { dir, file } = tempConfig()
  let calls = 0
  const w = new ConfigWatcher(() => { calls++ }, 50, 500)
  w.setFiles([file])
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x')
  fs.writeFileSync(path.join(dir, '.gateway.yaml.swp'), 'x')
  await sleep(200)
  w.close()
  fs.rmSync(dir, { recursive: true, force: true })
  assert.equal(calls, 0)
})

test('a YAML file added to an included directory that held none is a change', async () => {
  const { dir, file } = tempConfig()
  const routes = path.join(dir, 'routes')
  fs.mkdirSync(routes)
  let calls = 0
  const w = new ConfigWatcher(() => { calls++ }, 50, 500)
  // The loader lists every file read plus each included directory.
  w.setFiles([file, routes])
  fs.writeFileSync(path.join(routes, 'payments.yaml'), 'routes: []\n')
  try {
    await until('a callback for the new file', () => calls > 0)
  } finally {
    w.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  assert.equal(calls, 1)
})
