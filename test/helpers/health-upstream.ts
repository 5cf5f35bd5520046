// A loopback upstream with a health endpoint the test can flip: `ok` (200),
// `fail` (503) or `hang` (never answers). Every probe is recorded with its
// arrival time, the mode it met and, when the test sets `sample`, what that
// function returned as the probe arrived (e.g. the gateway's verdict on the
// node: probes of one node are sequential, so the verdict seen by probe k
// reflects the results of probes 1..k-1). Other paths answer 200 JSON
// `{"upstream": NAME}`, or hang when `hangLive` is set.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startUpstream, type Upstream } from './upstream.js'

export type HealthMode = 'ok' | 'fail' | 'hang'

export interface ProbeRecord {
  at: number
  mode: HealthMode
  host: string | undefined
  sampled: unknown
}

export interface HealthUpstream extends Upstream {
  mode: HealthMode
  /** Live (non-probe) requests hang instead of answering. */
  hangLive: boolean
  readonly probes: ProbeRecord[]
  /** Called as each probe arrives; its value is kept in the probe's record. */
  sample: (() => unknown) | undefined
  /** Probes that met `mode` (in arrival order). */
  probesIn(mode: HealthMode): ProbeRecord[]
  /** Live requests answered so far. */
  readonly served: number
}

export async function startHealthUpstream (name: string, path = '/healthz'): Promise<HealthUpstream> {
  const probes: ProbeRecord[] = []
  let served = 0
  const state = { mode: 'ok' as HealthMode, hangLive: false, sample: undefined as (() => unknown) | undefined }
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === path) {
      probes.push({ at: performance.now(), mode: state.mode, host: req.headers.host, sampled: state.sample?.() })
      if (state.mode === 'hang') return
      res.writeHead(state.mode === 'ok' ? 200 : 503, { 'content-type': 'text/plain' })
      res.end(state.mode === 'ok' ? 'ok' : 'unhealthy')
      return
    }
    if (state.hangLive) return
    req.resume()
    req.on('end', () => {
      served++
      const body = JSON.stringify({ upstream: name })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  }
  const up = await startUpstream({ name, handler })
  // Accessors copied as accessors (Object.assign would copy their current values).
  return Object.defineProperties(up, Object.getOwnPropertyDescriptors({
    get mode () { return state.mode },
    set mode (m: HealthMode) { state.mode = m },
    get hangLive () { return state.hangLive },
    set hangLive (v: boolean) { state.hangLive = v },
    get sample () { return state.sample },
    set sample (fn: (() => unknown) | undefined) { state.sample = fn },
    probes,
    probesIn: (mode: HealthMode) => probes.filter((p) => p.mode === mode),
    get served () { return served }
  })) as HealthUpstream
}
