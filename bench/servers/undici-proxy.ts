// The Node ceiling: node:http server + undici Pool.dispatch, streaming the
// response straight through (hop-by-hop headers dropped both ways).
// Usage: node undici-proxy.js <upstreamUrl> [port]; prints "LISTENING <port>".
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool, type Dispatcher } from 'undici'

const upstream = process.argv[2]
if (!upstream) throw new Error('usage: undici-proxy.js <upstreamUrl> [port]')

const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 })

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect',
])

function strip(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const extra = new Set(
    String(headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
  )
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || extra.has(k)) continue
    out[k] = v
  }
  return out
}

const server = http.createServer((req, res) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  let done = false
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(controller) {
      res.once('close', () => { if (!done) controller.abort(new Error('client went away')) })
    },
    onResponseStart(_controller, statusCode, headers, statusMessage) {
      if (statusCode < 200) return
      const out = strip(headers)
      if (statusMessage) res.writeHead(statusCode, statusMessage, out)
      else res.writeHead(statusCode, out)
    },
    onResponseData(controller, chunk) {
      if (!res.write(chunk)) {
        controller.pause()
        res.once('drain', () => controller.resume())
      }
    },
    onResponseEnd() {
      done = true
      res.end()
    },
    onResponseError(_controller, err) {
      done = true
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' })
        res.end('bad gateway')
      } else {
        res.destroy(err)
      }
    },
  }
  pool.dispatch(
    { origin: upstream, method: (req.method ?? 'GET') as Dispatcher.HttpMethod, path: req.url ?? '/', headers: strip(req.headers), body: hasBody ? req : null },
    handler,
  )
})
server.keepAliveTimeout = 72_000
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  console.log(`LISTENING ${(server.address() as AddressInfo).port}`)
})
process.on('SIGTERM', () => process.exit(0))
