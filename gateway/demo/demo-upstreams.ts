// Two tiny upstreams, "blue" and "green", for the bundled demo config, so a
// newcomer can curl through the gateway with nothing else running. Started only
// by `gateway start --demo`; each answers JSON naming its colour, and GET
// /healthz with 200. For the resilience how-tos, each can be made sick on
// demand: `POST /_demo/down` (straight to its port, not through the gateway)
// makes it answer 503 to everything, /healthz included, until `POST /_demo/up`.
import http from 'node:http'

export interface DemoUpstreams {
  close(): Promise<void>
}

export const DEMO_PORTS = { blue: 9001, green: 9002 } as const

/** Starts both, or neither: if one cannot listen, the other is closed and the listen error is thrown. */
export async function startDemoUpstreams (host = '127.0.0.1', ports: Record<string, number> = DEMO_PORTS): Promise<DemoUpstreams> {
  const started = await Promise.allSettled(Object.entries(ports).map(([color, port]) => new Promise<http.Server>((resolve, reject) => {
    let down = false
    const server = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        if (req.method === 'POST' && (req.url === '/_demo/down' || req.url === '/_demo/up')) {
          down = req.url === '/_demo/down'
          return answer(res, 200, { service: 'demo', color, down })
        }
        if (down) return answer(res, 503, { service: 'demo', color, down })
        if (req.url === '/healthz') return answer(res, 200, { service: 'demo', color, healthy: true })
        const body = JSON.stringify({
          service: 'demo',
          color,
          method: req.method,
          path: req.url,
          requestId: req.headers['x-request-id'] ?? null,
          forwardedFor: req.headers['x-forwarded-for'] ?? null
        })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-demo-color': color })
        res.end(body)
      })
    })
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })))
  const servers = started.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
  const failed = started.find((r) => r.status === 'rejected')
  if (failed !== undefined) {
    await closeAll(servers)
    throw failed.reason
  }
  return {
    close: () => closeAll(servers)
  }
}

function answer (res: http.ServerResponse, status: number, payload: object): void {
  const body = JSON.stringify(payload)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

async function closeAll (servers: http.Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.closeAllConnections()
    s.close(() => resolve())
  })))
}
