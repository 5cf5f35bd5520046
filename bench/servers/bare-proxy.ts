// Bare Fastify + @fastify/http-proxy, logger off: the "framework" baseline.
// Usage: node bare-proxy.js <upstreamUrl> [port]; prints "LISTENING <port>".
import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'

const upstream = process.argv[2]
if (!upstream) throw new Error('usage: bare-proxy.js <upstreamUrl> [port]')

const app = Fastify({ logger: false })
await app.register(proxy, { upstream })
await app.listen({ host: '127.0.0.1', port: Number(process.argv[3] ?? 0) })
const addr = app.server.address()
console.log(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}`)
process.on('SIGTERM', () => process.exit(0))
