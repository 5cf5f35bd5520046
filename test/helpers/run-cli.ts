import { spawn } from 'node:child_process'
import { GATEWAY_CLI } from './gateway-process.js'

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `node dist/gateway/cli.js ARGS` in `cwd` to completion (SIGKILL and a rejection after `timeoutMs`). */
export function runCli (args: string[], cwd: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [GATEWAY_CLI, ...args], { cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    p.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const timer = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`cli ${args.join(' ')} did not exit in ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    p.on('error', reject)
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}
