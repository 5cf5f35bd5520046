import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** dist/test/helpers/gateway-process.js -> dist/gateway/cli.js */
export const GATEWAY_CLI = fileURLToPath(new URL('../../gateway/cli.js', import.meta.url))

export interface GatewayProc {
  pid: number
  proc: ChildProcess
  /** stdout and stderr lines, in arrival order. */
  output: string[]
  adminPort: number
  /** Signals the process and resolves with its exit code (null: killed by a signal). SIGKILL after 10 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface GatewayProcOptions {
  env?: NodeJS.ProcessEnv
  args?: string[]
  /** Defaults to the config file's `admin.port`. */
  adminPort?: number
  /** Path of the CLI script (default dist/gateway/cli.js). */
  cli?: string
  /** Readiness deadline in ms (default 15000). */
  readyTimeoutMs?: number
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

function adminPortOf(configFile: string): number {
  const cfg = parse(fs.readFileSync(configFile, 'utf8')) as { admin?: { port?: unknown } } | null
  const port = Number(cfg?.admin?.port)
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no admin.port in ${configFile}; pass opts.adminPort`)
  return port
}

function collectLines(stream: NodeJS.ReadableStream | null, output: string[]): void {
  if (!stream) return
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (s: string) => {
    const parts = (rest + s).split('\n')
    rest = parts.pop() ?? ''
    output.push(...parts)
  })
  stream.on('end', () => { if (rest) output.push(rest) })
}

/** Spawns `node dist/gateway/cli.js start --config FILE` and waits for admin /readyz -> 200. */
export async function startGatewayProcess(configFile: string, opts: GatewayProcOptions = {}): Promise<GatewayProc> {
  const adminPort = opts.adminPort ?? adminPortOf(configFile)
  const output: string[] = []
  const proc = spawn(process.execPath, [opts.cli ?? GATEWAY_CLI, 'start', '--config', configFile, ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(proc)
  collectLines(proc.stdout, output)
  collectLines(proc.stderr, output)
  const exited = new Promise<number | null>((resolve) => {
    proc.once('close', (code) => { live.delete(proc); resolve(code) })
  })
  let hasExited = false
  void exited.then(() => { hasExited = true })

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (!hasExited) proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    try { return await exited } finally { clearTimeout(timer) }
  }

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000)
  let lastError = 'not polled yet'
  while (Date.now() < deadline) {
    if (hasExited) break
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) return { pid: proc.pid ?? -1, proc, output, adminPort, stop }
      lastError = `readyz answered ${res.status}`
    } catch (err) {
      lastError = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const why = hasExited ? `exited with code ${proc.exitCode} (signal ${proc.signalCode})` : `not ready in time (${lastError})`
  if (!hasExited) await stop('SIGKILL')
  throw new Error(`gateway ${why}; config ${configFile}\n--- output ---\n${output.join('\n')}`)
}

/** Starts gateway processes together; if one fails to start, the others are stopped (none is left running). */
export async function startProcs<T extends GatewayProc> (starts: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(starts)
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<T>).value)
  await Promise.all(settled.map(async (s) => { if (s.status === 'fulfilled') await s.value.stop('SIGKILL') }))
  throw failed.reason
}
