// An upstream that answers with exact bytes: a raw TCP server on loopback, for
// response shapes Node's http server would never produce (interim 1xx heads,
// a 204 or 304 that announces a Content-Length). Connections are kept alive;
// request bodies framed by Content-Length are read and dropped.
import net from 'node:net'
import { listenLoopback } from './listen.js'

export interface RawUpstreamRequest {
  method: string
  target: string
  /** The request head as received (latin1), without the final empty line. */
  head: string
  /** Bytes of body received (Content-Length framing). */
  bodyLength: number
}

/**
 * Returns the exact bytes to answer with, or undefined to answer nothing (a
 * stalled node); it may also act on the socket itself (reset it).
 */
export type RawResponder = (req: RawUpstreamRequest, sock: net.Socket) => string | Buffer | undefined

export interface RawUpstream {
  url: string
  port: number
  requests: RawUpstreamRequest[]
  /** Connections accepted so far. */
  readonly connections: number
  /** Connections open now. */
  readonly open: number
  close(): Promise<void>
}

export async function startRawUpstream (respond: RawResponder): Promise<RawUpstream> {
  const requests: RawUpstreamRequest[] = []
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
        const req = { method, target, head, bodyLength: total - end - 4 }
        requests.push(req)
        const answer = respond(req, sock)
        if (sock.destroyed) return
        if (answer !== undefined) sock.write(answer)
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
