import type { AddressInfo, Server } from 'node:net'

/** Listens on 127.0.0.1 at a port the system picks; resolves with that port, rejects on a listen error. */
export function listenLoopback (server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}
