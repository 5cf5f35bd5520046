// Load generators: wrk (preferred, when on PATH) or autocannon in-process.
import { spawn, spawnSync } from 'node:child_process'
import autocannon from 'autocannon'

export interface LoadResult {
  rps: number
  p99Ms: number
  requests: number
  /** Non-2xx/3xx answers plus socket errors / timeouts. */
  errors: number
}

export interface LoadOptions {
  url: string
  connections: number
  durationSec: number
  /** Core to pin wrk to (null: no pinning). */
  core: number | null
}

export function hasCommand(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' })
  return r.error === undefined
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out)
  if (!rps || !p99) throw new Error(`cannot parse wrk output:\n${out}`)
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0
  return { rps: Number(rps[1]), p99Ms: Number(p99[1]) * UNIT_MS[p99[2]!]!, requests, errors: non2xx + sockErrors }
}

function runWrk(o: LoadOptions): Promise<string> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.durationSec}s`, '--latency', o.url]
  const [cmd, argv] = o.core === null ? ['wrk', args] : ['taskset', ['-c', String(o.core), 'wrk', ...args]]
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { out += d.toString() })
    p.on('error', reject)
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}:\n${out}`))))
  })
}

export async function wrk(o: LoadOptions): Promise<LoadResult> {
  return parseWrk(await runWrk(o))
}

export async function cannon(o: LoadOptions): Promise<LoadResult> {
  const r = await autocannon({ url: o.url, connections: o.connections, duration: o.durationSec })
  return { rps: r.requests.average, p99Ms: r.latency.p99, requests: r.requests.total, errors: r.non2xx + r.errors + r.timeouts }
}
