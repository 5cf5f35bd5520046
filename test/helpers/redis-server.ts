// A real, throwaway redis-server for the tests: a child process on a free
// loopback port, no persistence, its own temp dir. Ready once it answers PING.
// pause()/resume() freeze and thaw it (SIGSTOP/SIGCONT: a server that accepts
// connections but never answers); restart() brings it back on the same port.
// Killed when the test process exits, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort } from './free-port.js'

export interface RedisServer {
  port: number
  /** redis://127.0.0.1:PORT */
  url: string
  /** pid of the running server process. */
  readonly pid: number
  /** The process is alive (paused counts as alive). */
  readonly running: boolean
  stop(): Promise<void>
  pause(): void
  resume(): void
  /** Stops (if running) and starts again on the same port; resolves when it answers PING. */
  restart(): Promise<void>
}

const NOT_INSTALLED = 'redis-server not found: install it (Debian: apt-get install -y redis-server)'

function findRedisServer (): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const file = path.join(dir, 'redis-server')
    try {
      fs.accessSync(file, fs.constants.X_OK)
      return file
    } catch {
      // not in this directory
    }
  }
  throw new Error(NOT_INSTALLED)
}

const running = new Set<ChildProcess>()
let exitHook = false

function killAllOnExit (): void {
  if (exitHook) return
  exitHook = true
  process.on('exit', () => {
    for (const p of running) {
      try {
        p.kill('SIGKILL')
      } catch {
        // already gone
      }
    }
  })
}

/** True once `+PONG` comes back on a fresh connection (or the server asks for a password: it is up). */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let got = ''
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok) }
    sock.setTimeout(500, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      got += d.toString()
      if (got.includes('\r\n')) done(got.startsWith('+PONG') || got.startsWith('-NOAUTH'))
    })
  })
}

function exited (p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => p.once('exit', () => resolve()))
}

async function launch (bin: string, port: number, dir: string, password: string | undefined): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--daemonize', 'no', '--loglevel', 'warning', '--logfile', '']
  if (password !== undefined) args.push('--requirepass', password)
  const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  p.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  running.add(p)
  p.once('exit', () => running.delete(p))
  const deadline = Date.now() + 10_000
  for (;;) {
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`redis-server exited at start (port ${port}): ${stderr.trim()}`)
    if (await ping(port)) return p
    if (Date.now() > deadline) {
      p.kill('SIGKILL')
      throw new Error(`redis-server did not answer PING within 10 s (port ${port}): ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function terminate (p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  p.kill('SIGCONT') // a paused server cannot handle SIGTERM
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
  await exited(p)
  clearTimeout(timer)
}

/** `password`: the server requires it (`--requirepass`). */
export async function startRedisServer (opts: { password?: string } = {}): Promise<RedisServer> {
  const bin = findRedisServer()
  killAllOnExit()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-'))
  let proc = await launch(bin, port, dir, opts.password)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid () { return proc.pid! },
    get running () { return proc.exitCode === null && proc.signalCode === null },
    async stop () {
      await terminate(proc)
      fs.rmSync(dir, { recursive: true, force: true })
    },
    pause () { proc.kill('SIGSTOP') },
    resume () { proc.kill('SIGCONT') },
    async restart () {
      await terminate(proc)
      fs.mkdirSync(dir, { recursive: true })
      proc = await launch(bin, port, dir, opts.password)
    }
  }
}
