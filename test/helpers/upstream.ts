import http from 'node:http'
import { createHash } from 'node:crypto'
import { listenLoopback } from './listen.js'

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  /** Whatever of the body was consumed (by the default handler: all of it). */
  body: Buffer
}

export interface Upstream {
  url: string
  port: number
  name: string
  server: http.Server
  requests: RecordedRequest[]
  readonly inflight: number
  readonly maxInflight: number
  close(): Promise<void>
}

/** Echo handler: reads the whole body, answers 200 JSON describing the request. */
function echoHandler(name: string): UpstreamHandler {
  return (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const payload = JSON.stringify({
        upstream: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyLength: body.length,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      })
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      })
      res.end(payload)
    })
  }
}

/**
 * A real node:http server on 127.0.0.1:0. Every request is recorded; its body is
 * captured as it is consumed (by whichever handler), without changing flow mode.
 */
export async function startUpstream(opts: { handler?: UpstreamHandler; name?: string } = {}): Promise<Upstream> {
  const name = opts.name ?? 'upstream'
  const handler = opts.handler ?? echoHandler(name)
  const requests: RecordedRequest[] = []
  let inflight = 0
  let maxInflight = 0

  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) }
    requests.push(rec)
    const chunks: Buffer[] = []
    const emit = req.emit.bind(req)
    req.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event === 'data') chunks.push(Buffer.from(args[0] as Buffer))
      else if (event === 'end') rec.body = Buffer.concat(chunks)
      return emit(event, ...args)
    }) as typeof req.emit
    inflight++
    maxInflight = Math.max(maxInflight, inflight)
    res.once('close', () => {
      inflight--
      if (rec.body.length === 0 && chunks.length > 0) rec.body = Buffer.concat(chunks)
    })
    handler(req, res)
  })

  const port = await listenLoopback(server)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    name,
    server,
    requests,
    get inflight() { return inflight },
    get maxInflight() { return maxInflight },
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done())
        server.closeAllConnections()
      }),
  }
}
