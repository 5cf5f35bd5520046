// Upstream nodes that fail in one exact way, on raw sockets: `stall` accepts
// and reads requests but never answers; `reset` reads each whole request
// (head and Content-Length body) and then resets the connection without a
// response byte. Every request received is recorded.
import net from 'node:net'
import { listenLoopback } from './listen.js'

export interface FailingRequest {
  method: string
  target: string
  /** Bytes of body received (Content-Length framing). */
  bodyLength: number
}

export interface FailingNode {
  url: string
  port: number
  requests: FailingRequest[]
  /** Connections accepted so far. */
  readonly connections: number
  /** Connections open now. */
  readonly open: number
  close(): Promise<void>
}

export async function startFailingNode (mode: 'stall' | 'reset'): Promise<FailingNode> {
  const requests: FailingRequest[] = []
  const sockets = new Set<net.Socket>()
  let connections = 0

  const server = net.createServer((sock) => {
    connections++
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    let buf = Buffer.alloc(0)
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n', 0, 'latin1')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        const total = end + 4 + (cl === null ? 0 : Number(cl[1]))
        if (buf.length < total) return
        buf = buf.subarray(total)
        const [method = '', target = ''] = head.slice(0, head.indexOf('\r\n')).split(' ')
        requests.push({ method, target, bodyLength: total - end - 4 })
        if (mode === 'reset') {
          sock.resetAndDestroy()
          return
        }
      }
    })
  })

  const port = await listenLoopback(server)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get connections () { return connections },
    get open () { return sockets.size },
    close: () => new Promise<void>((done) => {
      for (const s of sockets) s.destroy()
      server.close(() => done())
    })
  }
}
