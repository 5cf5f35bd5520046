// Upstream nodes that fail in one exact way, on raw sockets: `stall` accepts
// and reads requests but never answers; `reset` reads each whole request
// (head and Content-Length body) and then resets the connection without a
// response byte. Every request received is recorded.
import { startRawUpstream, type RawUpstream } from './raw-upstream.js'

export type FailingNode = RawUpstream

export function startFailingNode (mode: 'stall' | 'reset'): Promise<FailingNode> {
  return startRawUpstream((_req, sock) => {
    if (mode === 'reset') sock.resetAndDestroy()
    return undefined
  })
}
