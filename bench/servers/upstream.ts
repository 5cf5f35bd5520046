// Bench upstream: answers every request with a small fixed JSON body (with
// Content-Length). Usage: node upstream.js [port]; prints "LISTENING <port>".
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const body = Buffer.from(JSON.stringify({ ok: true, service: 'bench-upstream', items: [1, 2, 3] }))
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) }

const server = http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, headers)
  res.end(body)
})
server.keepAliveTimeout = 120_000
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`LISTENING ${(server.address() as AddressInfo).port}`)
})
process.on('SIGTERM', () => process.exit(0))
