// A load generator on its own thread (its own event loop, so the test's own
// latency measurements do not queue behind it): holds `hold` requests open on
// `url`, and runs `loops` clients that each send a request, then another
// `pauseMs` after the answer, while told to ('go' ... 'pause', acknowledged
// once every loop is idle); on 'stop' it
// reports what came back and how fast, and leaves (the held requests are cut).
import { setTimeout as delay } from 'node:timers/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { Agent, request } from 'undici'

export interface LoadReport {
  /** Answers by `status code` (the error envelope's code, when there is one). */
  answers: Record<string, number>
  /** Latencies of the loop requests, sorted (ms). */
  latencies: number[]
  /** Held requests that ended before the report (they should all still be waiting). */
  heldEnded: number
}

const { url, hold, loops, pauseMs } = workerData as { url: string; hold: number; loops: number; pauseMs: number }
const port = parentPort!
const agent = new Agent({ connections: hold + loops + 4, pipelining: 1 })
const answers: Record<string, number> = {}
const latencies: number[] = []
let heldEnded = 0
let running = false
let stopped = false
let active: Array<Promise<void>> = []

for (let i = 0; i < hold; i++) {
  request(`${url}held/${i}`, { dispatcher: agent }).then((r) => r.body.text()).catch(() => {}).finally(() => { if (!stopped) heldEnded++ })
}

async function loop (): Promise<void> {
  while (running) {
    const t0 = performance.now()
    try {
      const res = await request(`${url}excess`, { dispatcher: agent })
      const text = await res.body.text()
      latencies.push(performance.now() - t0)
      let code = ''
      try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '' } catch {}
      const key = `${res.statusCode} ${code}`
      answers[key] = (answers[key] ?? 0) + 1
    } catch (err) {
      const key = `error ${(err as Error).message}`
      answers[key] = (answers[key] ?? 0) + 1
    }
    if (pauseMs > 0) await delay(pauseMs)
  }
}

port.on('message', (m: 'go' | 'pause' | 'stop') => {
  if (m === 'go') {
    running = true
    active = Array.from({ length: loops }, loop)
    return
  }
  running = false
  void Promise.all(active).then(async () => {
    if (m === 'pause') return port.postMessage('paused')
    stopped = true
    latencies.sort((a, b) => a - b)
    port.postMessage({ answers, latencies, heldEnded } satisfies LoadReport)
    await agent.destroy()
  })
})
port.postMessage('ready')
