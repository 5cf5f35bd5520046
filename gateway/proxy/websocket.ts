// WebSocket (HTTP/1.1 Upgrade) proxying. The upgrade request goes through the
// same path as any request — normalisation, routing, access plugins — with a
// ServerResponse bound to the socket so refusals use the same envelope. Only
// routes with `websocket: true` accept it. After the upstream's 101 the two
// sockets are piped to each other. Any other Upgrade (h2c...) is ignored, as
// RFC 9110 7.8 allows: the request is served as plain HTTP/1.1.
import { IncomingMessage, ServerResponse, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { ProxyRuntime } from './proxy-runtime.js'
import type { RequestContext } from './request-context.js'

const kHead = Symbol('gateway.upgradeHead')
const kAsked = Symbol('gateway.upgradeAsked')
/** `upgrade`: set by Node's parser (llhttp saw `Connection: upgrade` and an Upgrade header), read by Node's server. */
type UpgradeRequest = IncomingMessage & { upgrade?: boolean | null; [kHead]?: Buffer; [kAsked]?: boolean | null }

/**
 * The data plane's request class. Once an 'upgrade' listener exists, Node 20
 * hands it every request with `Connection: upgrade` (and leaves the body to
 * it), reading `req.upgrade` to decide. Here `upgrade` holds only for WebSocket
 * upgrades (and CONNECT, which Node treats apart), so other requests take the
 * normal path, body parsing included.
 */
export class ServerRequest extends IncomingMessage {}
Object.defineProperty(ServerRequest.prototype, 'upgrade', {
  get (this: UpgradeRequest): boolean | null {
    const asked = this[kAsked]
    if (asked !== true || this.method === 'CONNECT') return asked ?? null
    const upgrade = this.headers.upgrade
    return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket'
  },
  set (this: UpgradeRequest, value: boolean | null) {
    this[kAsked] = value
  }
})

/** A request that asked for a protocol upgrade the gateway does not do: it is served as plain HTTP/1.1. */
export function ignoredUpgrade (req: IncomingMessage): boolean {
  return (req as UpgradeRequest)[kAsked] === true && (req as UpgradeRequest).upgrade !== true
}

export function attachWebSocketProxy (server: Server, runtime: ProxyRuntime): void {
  // Only WebSocket upgrades get here (see ServerRequest).
  server.on('upgrade', (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    req[kHead] = head
    const res = new ServerResponse(req)
    res.assignSocket(socket as Socket)
    res.shouldKeepAlive = false
    // This response is not driven by the HTTP server, so nothing closes the
    // socket after a refusal (404, 400, 502...) the way the server does for
    // `Connection: close` answers: without this the client socket stays open
    // and the request counts as in flight (holding up a drain) until the
    // client goes away. A completed upgrade detaches the socket and never ends `res`.
    res.once('finish', () => { (socket as Socket).destroySoon() })
    runtime.handle(req, res, true)
  })
}

/** Writes the upstream's 101 to the client and joins the two sockets. */
export function completeUpgrade (ctx: RequestContext, statusCode: number, rawHeaders: Buffer[], upstream: Duplex): void {
  const client = ctx.res.socket as Socket | null
  if (client === null || ctx.closed) {
    upstream.destroy()
    return
  }
  ctx.res.detachSocket(client)
  let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]!.toString('latin1')}: ${rawHeaders[i + 1]!.toString('latin1')}\r\n`
  head += `x-request-id: ${ctx.requestId}\r\n\r\n`
  client.write(head)
  const early = (ctx.req as UpgradeRequest)[kHead]
  if (early !== undefined && early.length > 0) upstream.write(early)
  upstream.on('error', () => client.destroy())
  client.on('error', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
  client.on('close', () => {
    upstream.destroy()
    ctx.runtime.finish(ctx)
  })
  client.pipe(upstream)
  upstream.pipe(client)
}
