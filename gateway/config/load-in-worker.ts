// loadConfig on a worker thread, so that parsing and validating a large config
// (10,000 routes) never stalls the gateway's event loop during a reload.
//
// One worker for the process lifetime, started on first use. Requests are
// serialised (one at a time, in call order). The worker is unref()'d while
// idle so it never keeps the process alive; it is ref()'d while a request is
// in flight so that a CLI awaiting the result does not exit early. If the
// worker dies, the request in flight is rejected and the next call starts a
// new one. A loadConfig exception (a bug, not a config problem) rejects too.
import { resolve as resolvePath } from 'node:path'
import { Worker } from 'node:worker_threads'
import { builtinRegistry, type PluginRegistry } from '../../plugins/registry.js'
import type { ConfigWorkerRequest, ConfigWorkerResponse } from './config-worker.js'
import type { LoadResult } from './load-config.js'

interface Pending {
  resolve: (r: LoadResult) => void
  reject: (e: Error) => void
  /** A chunked result being assembled: the head, and how many routes are still to come. */
  partial?: { result: Extract<LoadResult, { ok: true }>; missing: number }
}

let worker: Worker | undefined
let nextId = 1
const pending = new Map<number, Pending>()
let queue: Promise<unknown> = Promise.resolve()

function failAll (err: Error): void {
  for (const p of pending.values()) p.reject(err)
  pending.clear()
}

function startWorker (): Worker {
  const w = new Worker(new URL('./config-worker.js', import.meta.url))
  w.unref()
  w.on('message', (msg: ConfigWorkerResponse) => {
    const p = pending.get(msg.id)
    if (p === undefined) return
    if ('routes' in msg) {
      const partial = p.partial!
      partial.result.config.routes.push(...msg.routes)
      partial.missing -= msg.routes.length
      if (partial.missing > 0) {
        // Ask for the next chunk on a later turn of the event loop, after requests had their turn.
        setImmediate(() => w.postMessage({ id: msg.id, next: true } satisfies ConfigWorkerRequest))
        return
      }
      pending.delete(msg.id)
      p.resolve(partial.result)
      return
    }
    if ('result' in msg && msg.pendingRoutes !== undefined && msg.result.ok) {
      p.partial = { result: msg.result, missing: msg.pendingRoutes }
      w.postMessage({ id: msg.id, next: true } satisfies ConfigWorkerRequest)
      return
    }
    pending.delete(msg.id)
    if ('error' in msg) p.reject(new Error(`config worker: loadConfig threw: ${msg.error}`))
    else p.resolve(msg.result)
  })
  w.on('error', (err) => {
    if (worker === w) worker = undefined
    failAll(err instanceof Error ? err : new Error(String(err)))
  })
  w.on('exit', (code) => {
    if (worker === w) worker = undefined
    failAll(new Error(`config worker exited (code ${code})`))
  })
  return w
}

function request (mainFile: string, env: NodeJS.ProcessEnv, plugins: PluginRegistry): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    const w = worker ?? (worker = startWorker())
    const id = nextId++
    pending.set(id, { resolve, reject })
    const msg: ConfigWorkerRequest = { id, mainFile: resolvePath(mainFile), env: { ...env }, pluginModules: [...plugins.modules] }
    w.ref()
    try {
      w.postMessage(msg)
    } catch (err) {
      pending.delete(id)
      reject(err as Error)
    }
  }).finally(() => {
    if (pending.size === 0) worker?.unref()
  })
}

/**
 * loadConfig(mainFile, env, plugins) run on the shared config worker thread,
 * which builds the same registry from `plugins.modules`.
 */
export function loadConfigInWorker (mainFile: string, env: NodeJS.ProcessEnv = process.env, plugins: PluginRegistry = builtinRegistry): Promise<LoadResult> {
  const run = (): Promise<LoadResult> => request(mainFile, env, plugins)
  const result = queue.then(run, run)
  queue = result.catch(() => undefined)
  return result
}

/** Terminates the worker (tests, orderly shutdown); the next call starts a new one. */
export async function stopConfigWorker (): Promise<void> {
  const w = worker
  worker = undefined
  if (w !== undefined) await w.terminate()
}
