// Worker-thread entry of load-in-worker.ts: runs loadConfig for each request
// posted by the main thread and posts the LoadResult back. Extra plugins come
// as the URLs of their modules (functions cannot be posted), imported here. A large route list
// is sent in chunks, each only when the main thread asks for it: a port drains
// every queued message in one go, so without this flow control a 10,000-route
// config would still be deserialised in one long block of the event loop.
import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'
import { loadPluginRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { loadConfig, type LoadResult } from './load-config.js'
import type { RouteConfig } from './types.js'

export type ConfigWorkerRequest =
  | { id: number; mainFile: string; env: Record<string, string | undefined>; pluginModules: string[] }
  /** Flow control: the main thread asks for the next chunk once it has handled the previous one. */
  | { id: number; next: true }

export type ConfigWorkerResponse =
  | { id: number; result: LoadResult; pendingRoutes?: number }
  | { id: number; routes: RouteConfig[] }
  | { id: number; error: string }

// Parsing a large config is background work: on Linux, setpriority(0) applies to
// the calling thread only, so this lowers the worker thread and never the
// gateway's event loop, which keeps the CPU first when cores are scarce.
if (process.platform === 'linux') {
  try {
    setPriority(0, 10)
  } catch {
    // Not permitted here: parsing simply runs at normal priority.
  }
}

/** Routes per message after the first. */
export const ROUTE_CHUNK = 500

const port = parentPort
if (port === null) throw new Error('config-worker.js must be started as a worker thread (see load-in-worker.ts)')

/** Chunks not yet sent, by request id. */
const waiting = new Map<number, RouteConfig[][]>()

function sendNext (id: number): void {
  const chunks = waiting.get(id)
  const chunk = chunks?.shift()
  if (chunk === undefined) return
  if (chunks!.length === 0) waiting.delete(id)
  port!.postMessage({ id, routes: chunk } satisfies ConfigWorkerResponse)
}

port.on('message', (req: ConfigWorkerRequest) => {
  if ('next' in req) {
    sendNext(req.id)
    return
  }
  loadPluginRegistry(req.pluginModules).then((plugins) => load(req, plugins), (err: unknown) => failed(req.id, err))
})

function failed (id: number, err: unknown): void {
  port!.postMessage({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ConfigWorkerResponse)
}

function load (req: Extract<ConfigWorkerRequest, { mainFile: string }>, plugins: PluginRegistry): void {
  let result: LoadResult
  try {
    result = loadConfig(req.mainFile, req.env, plugins)
  } catch (err) {
    failed(req.id, err)
    return
  }
  if (!result.ok || result.config.routes.length <= ROUTE_CHUNK) {
    port!.postMessage({ id: req.id, result } satisfies ConfigWorkerResponse)
    return
  }
  const routes = result.config.routes
  const head: LoadResult = { ...result, config: { ...result.config, routes: [] } }
  const chunks: RouteConfig[][] = []
  for (let i = 0; i < routes.length; i += ROUTE_CHUNK) chunks.push(routes.slice(i, i + ROUTE_CHUNK))
  waiting.set(req.id, chunks)
  port!.postMessage({ id: req.id, result: head, pendingRoutes: routes.length } satisfies ConfigWorkerResponse)
}
