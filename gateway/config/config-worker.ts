// Worker-thread entry of load-in-worker.ts: runs loadConfig for each request
// posted by the main thread and posts the LoadResult back.
import { parentPort } from 'node:worker_threads'
import { loadConfig, type LoadResult } from './load-config.js'

export interface ConfigWorkerRequest {
  id: number
  mainFile: string
  env: Record<string, string | undefined>
}

export type ConfigWorkerResponse =
  | { id: number; result: LoadResult }
  | { id: number; error: string }

const port = parentPort
if (port === null) throw new Error('config-worker.js must be started as a worker thread (see load-in-worker.ts)')

port.on('message', (req: ConfigWorkerRequest) => {
  let response: ConfigWorkerResponse
  try {
    response = { id: req.id, result: loadConfig(req.mainFile, req.env) }
  } catch (err) {
    response = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
  }
  port.postMessage(response)
})
