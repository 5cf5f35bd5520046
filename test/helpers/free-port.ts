import net from 'node:net'
import { listenLoopback } from './listen.js'

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on :0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer()
  srv.unref()
  const port = await listenLoopback(srv)
  await new Promise<void>((resolve, reject) => srv.close((err) => (err ? reject(err) : resolve())))
  return port
}
