// An upstream node as its own OS process, for fault tests that kill a node for
// real (SIGKILL: its sockets reset, its port refuses) and start it again on the
// same port. It answers every request with `{"node": NAME}` after `delayMs`,
// and GET /healthz with 200.
import { spawn, type ChildProcess } from 'node:child_process'

const SERVER = `
const http = require('node:http')
const [name, port, delay] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
const server = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    if (req.url === '/healthz') { res.writeHead(200, { 'content-length': 2 }); res.end('ok'); return }
    const body = JSON.stringify({ node: name })
    const answer = () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body) }
    if (delay > 0) setTimeout(answer, delay)
    else answer()
  })
})
server.keepAliveTimeout = 60000
server.listen(port, '127.0.0.1', () => console.log('LISTENING ' + server.address().port))
`

export interface UpstreamProcess {
  readonly name: string
  /** The port, fixed at the first start: a restart listens on it again. */
  readonly port: number
  readonly url: string
  readonly pid: number
  /** SIGKILL: no goodbye on its connections. Resolves when the process is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port (after kill()). */
  restart(): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const p of live) p.kill('SIGKILL') })

function launch (name: string, port: number, delayMs: number): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['-e', SERVER, name, String(port), String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] })
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  return new Promise((resolve, reject) => {
    let out = ''
    const onExit = (code: number | null): void => reject(new Error(`upstream ${name} exited (${code}) before listening`))
    proc.once('exit', onExit)
    proc.stdout!.setEncoding('utf8')
    proc.stdout!.on('data', (d: string) => {
      out += d
      const m = /LISTENING (\d+)/.exec(out)
      if (m !== null) {
        proc.off('exit', onExit)
        resolve({ proc, port: Number(m[1]) })
      }
    })
  })
}

export async function startUpstreamProcess (name: string, opts: { delayMs?: number; port?: number } = {}): Promise<UpstreamProcess> {
  const delay = opts.delayMs ?? 0
  let { proc, port } = await launch(name, opts.port ?? 0, delay)
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    get pid () { return proc.pid ?? -1 },
    async kill () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
      proc.kill('SIGKILL')
      await gone
    },
    async restart () {
      ;({ proc, port } = await launch(name, port, delay))
    }
  }
}
