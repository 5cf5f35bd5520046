// The body phase: on a route where a plugin needs the request body
// (PluginInstance.needsBody), the whole body is read before the access phases,
// kept in ctx.body, and forwarded as those exact bytes. Routes without such a
// plugin never come here: their bodies stream to the upstream untouched.
//
// Bounds: a declared Content-Length over the route's limit was refused before
// (proxy-runtime.ts); a chunked body is counted as it arrives and answered 413
// once past the limit (the connection then closes: the rest is never read). A
// client that sends slowly or stalls is ended by server.requestTimeout (Node
// answers 408 and closes); a client that goes away ends the request through the
// response's close. In both cases `then` is never called.
import { coreReplies } from '../errors.js'
import type { RequestContext } from './request-context.js'

/** Reads ctx.req's body whole (at most `limit` bytes) into ctx.body, then calls `then(ctx)`. */
export function readBody (ctx: RequestContext, limit: number, then: (ctx: RequestContext) => void): void {
  const req = ctx.req
  // The client waits for this before it sends the body.
  if (ctx.expectContinue) {
    ctx.expectContinue = false
    ctx.res.writeContinue()
  }
  const chunks: Buffer[] = []
  let size = 0
  const stop = (): void => {
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('error', stop)
  }
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    ctx.bodyBytes = size
    if (size > limit) {
      stop()
      req.pause()
      // The body is unread: the answer closes the connection (see closing.ts).
      ctx.runtime.replyError(ctx, coreReplies.BODY_TOO_LARGE)
      return
    }
    chunks.push(chunk)
  }
  const onEnd = (): void => {
    stop()
    if (ctx.closed) return
    ctx.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
    // Forwarded with its length, whatever the client's framing was.
    const h = ctx.upstreamHeaders
    delete h['transfer-encoding']
    h['content-length'] = String(size)
    then(ctx)
  }
  req.on('data', onData)
  req.on('end', onEnd)
  // An aborted upload: the response's close ends the request (ProxyRuntime.finish).
  req.on('error', stop)
}
