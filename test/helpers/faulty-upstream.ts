// A real loopback upstream whose answer a test changes while it runs: the
// status it answers with and how long it waits before the headers. For
// breaker and health tests (a node that fails, turns slow, recovers).
import { startUpstream, type Upstream } from './upstream.js'

export interface FaultyUpstream extends Upstream {
  /** Status of the next answers (default 200); the body names the upstream. */
  status: number
  /** ms before the answer (default 0). */
  delayMs: number
}

export async function startFaultyUpstream (name: string): Promise<FaultyUpstream> {
  const state = { status: 200, delayMs: 0 }
  const up = await startUpstream({
    name,
    handler: (req, res) => {
      const { status, delayMs } = state
      const answer = (): void => {
        const body = JSON.stringify({ upstream: name, status })
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      }
      req.resume()
      if (delayMs > 0) {
        const t = setTimeout(answer, delayMs)
        res.once('close', () => clearTimeout(t))
      } else {
        answer()
      }
    }
  })
  // Accessors (Object.assign would copy their values once).
  return Object.defineProperties(up, {
    status: { get: () => state.status, set: (s: number) => { state.status = s } },
    delayMs: { get: () => state.delayMs, set: (ms: number) => { state.delayMs = ms } }
  }) as FaultyUpstream
}
