// The client-facing Fastify server. Fastify owns the socket layer (limits,
// timeouts, client errors); one catch-all route hands every request to the
// ProxyRuntime, whose hot-reloadable route table Fastify's own router (fixed
// once the server starts) could not provide.
import http from 'node:http'
import Fastify, { LogController, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import type { ServerConfig } from './config/types.js'
import { clientErrorReply } from './client-errors.js'
import { refuseFurtherRequests } from './proxy/closing.js'
import { coreReplies } from './errors.js'
import { kExpectContinue, type ProxyRuntime } from './proxy/proxy-runtime.js'
import { ignoredUpgrade, ServerRequest } from './proxy/websocket.js'

export type DataPlane = ReturnType<typeof createDataPlane>

export function createDataPlane (server: ServerConfig, runtime: ProxyRuntime, logger: Logger) {
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: the access log is ours, and request.log is never used.
    childLoggerFactory: (parent) => parent,
    return503OnClosing: false,
    exposeHeadRoutes: false,
    requestTimeout: server.requestTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    serverFactory: (handler) => {
      const s = http.createServer({
        // Only WebSocket upgrades go to the 'upgrade' listener; other Upgrades are served as plain requests.
        IncomingMessage: ServerRequest,
        maxHeaderSize: server.maxHeaderSize,
        requestTimeout: server.requestTimeout,
        headersTimeout: server.headersTimeout,
        keepAliveTimeout: server.keepAliveTimeout,
        // Sweep for timed-out requests every second instead of Node's 30 s.
        connectionsCheckingInterval: 1000,
        // Checked by ProxyRuntime.handle, to answer with the envelope (Node's own 400 has an empty body).
        requireHostHeader: false
      }, handler)
      // Without this listener Node answers `100 Continue` before we know whether the
      // request will be refused (413, 404, a plugin): the runtime sends it when proxying
      // (on a route whose plugins need the body, before reading it: body-buffer.ts).
      s.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
        (req as http.IncomingMessage & { [kExpectContinue]?: boolean })[kExpectContinue] = true
        s.emit('request', req, res)
      })
      return s
    },
    // Node's parser refused a request: the envelope on the socket, in its turn, and an access log line.
    clientErrorHandler: (err, socket) => {
      clientErrorReply(err, socket, (e, res) => runtime.clientRefused(socket, e, res))
    },
    // Requests Fastify's router refuses before our handler runs (e.g. a %-escape that
    // does not decode): the runtime answers them, with a request id and a log line.
    frameworkErrors: (err, request, reply: FastifyReply) => {
      reply.hijack()
      runtime.refuse(request.raw, reply.raw, (err as { code?: string }).code === 'FST_ERR_BAD_URL' ? coreReplies.BAD_PATH : coreReplies.BAD_REQUEST)
    }
  })
  // Bodies are streamed to the upstream untouched: no parsing, no buffering.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))
  app.route({
    method: app.supportedMethods,
    url: '*',
    handler (request, reply) {
      reply.hijack()
      const req = request.raw
      // Node's parser drops whatever was pipelined behind an Upgrade request it
      // did not switch for: the connection ends after this response.
      if (ignoredUpgrade(req)) {
        reply.raw.shouldKeepAlive = false
        refuseFurtherRequests(req)
      }
      runtime.handle(req, reply.raw)
    }
  })
  return app
}

/** Applies the timeouts of a reloaded config to the running server. */
export function applyServerTimeouts (s: http.Server, server: ServerConfig): void {
  s.headersTimeout = server.headersTimeout
  s.requestTimeout = server.requestTimeout
  s.keepAliveTimeout = server.keepAliveTimeout
}
