// Who is calling: the client IP, whether the TCP peer is a trusted proxy (whose
// X-Forwarded-* and X-Request-Id we believe), and the request id. Computed once
// per connection where possible: the trust verdict is cached on the socket.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { BlockList, isIPv6 } from 'node:net'
import type { Socket } from 'node:net'

const kTrusted = Symbol('gateway.trustedPeer')
const kPolicy = Symbol('gateway.trustPolicy')

/** The verdict is cached on the socket with the policy that gave it: a reload that changes trustedProxies re-decides. */
type TrustSocket = Socket & { [kTrusted]?: boolean; [kPolicy]?: TrustPolicy }

/**
 * A set of IP addresses and CIDR ranges (IPv4 and IPv6), as validated by the
 * config's `ip-or-cidr` check. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
 * is looked up as the IPv4 address.
 */
export class AddressSet {
  readonly #list = new BlockList()

  constructor (entries: readonly string[]) {
    for (const entry of entries) {
      const [addr, bits] = entry.split('/') as [string, string | undefined]
      const family = isIPv6(addr) ? 'ipv6' : 'ipv4'
      if (bits === undefined) this.#list.addAddress(addr, family)
      else this.#list.addSubnet(addr, Number(bits), family)
    }
  }

  has (ip: string): boolean {
    if (ip === '') return false
    const v4mapped = ip.startsWith('::ffff:') ? ip.slice(7) : ip
    return this.#list.check(v4mapped, isIPv6(v4mapped) ? 'ipv6' : 'ipv4')
  }
}

export class TrustPolicy {
  readonly #list: AddressSet | undefined

  constructor (trusted: readonly string[]) {
    if (trusted.length > 0) this.#list = new AddressSet(trusted)
  }

  isTrusted (ip: string): boolean {
    return this.#list !== undefined && this.#list.has(ip)
  }

  /** Trust verdict for the request's TCP peer, cached per connection and policy. */
  peerTrusted (req: IncomingMessage): boolean {
    if (this.#list === undefined) return false
    const socket = req.socket as TrustSocket
    if (socket[kPolicy] === this) return socket[kTrusted]!
    const v = this.isTrusted(peerAddress(req))
    socket[kPolicy] = this
    socket[kTrusted] = v
    return v
  }

  /**
   * The client's IP: the peer address, or, behind trusted proxies, the right-most
   * X-Forwarded-For entry that is not itself a trusted proxy.
   */
  clientIp (req: IncomingMessage, peerTrusted: boolean): string {
    const peer = peerAddress(req)
    if (!peerTrusted) return peer
    const xff = req.headers['x-forwarded-for']
    if (xff === undefined) return peer
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim()
      if (hop !== '' && !this.isTrusted(hop)) return hop
    }
    return peer
  }
}

/** The TCP peer's address; IPv4 clients of a dual-stack listener show as plain IPv4, not `::ffff:a.b.c.d`. */
export function peerAddress (req: IncomingMessage): string {
  return socketPeerAddress(req.socket)
}

/** The same, from the socket (for a request Node's parser refused before it existed). */
export function socketPeerAddress (socket: Socket): string {
  const a = socket.remoteAddress ?? ''
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/** The request id: the incoming one from a trusted peer when well-formed, else a new UUID. */
export function requestIdFor (req: IncomingMessage, peerTrusted: boolean): string {
  if (peerTrusted) {
    const incoming = req.headers['x-request-id']
    if (typeof incoming === 'string' && REQUEST_ID.test(incoming)) return incoming
  }
  return randomUUID()
}
