// One raw client connection kept open across requests, byte-exact: each
// exchange returns the interim (1xx) heads it saw, the final head and exactly
// the body its framing allows. Bytes past that stay queued for the next
// exchange, so a stray body shows up as a broken next response.
import net from 'node:net'

export interface RawHead {
  status: number
  /** The status line, e.g. `HTTP/1.1 103 Early Hints`. */
  statusLine: string
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>
  /** The head as received (latin1), without the final empty line. */
  raw: string
}

export interface RawExchange extends RawHead {
  /** 1xx heads before the final one (101 is final). */
  interim: RawHead[]
  body: Buffer
}

function parseHead (text: string): RawHead {
  const lines = text.split('\r\n')
  const statusLine = lines[0] ?? ''
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i <= 0) continue
    const k = line.slice(0, i).trim().toLowerCase()
    const v = line.slice(i + 1).trim()
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v
  }
  return { status: m === null ? 0 : Number(m[1]), statusLine, headers, raw: text }
}

/** Length of a complete chunked body at the start of `buf` (with trailers), or -1. */
function chunkedLength (buf: Buffer): number {
  let pos = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1')
    if (eol < 0) return -1
    const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16)
    pos = eol + 2
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', pos - 2, 'latin1')
      return end < 0 ? -1 : end + 4
    }
    if (buf.length < pos + size + 2) return -1
    pos += size + 2
  }
}

function dechunk (buf: Buffer): Buffer {
  const parts: Buffer[] = []
  let pos = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1')
    const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16)
    if (size === 0) return Buffer.concat(parts)
    parts.push(buf.subarray(eol + 2, eol + 2 + size))
    pos = eol + 2 + size + 2
  }
}

export class RawConnection {
  /** Bytes received and not yet consumed by an exchange. */
  pending: Buffer = Buffer.alloc(0)
  closed = false
  readonly #sock: net.Socket
  #wake: (() => void) | undefined

  private constructor (sock: net.Socket) {
    this.#sock = sock
    sock.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk])
      this.#wake?.()
    })
    sock.on('close', () => {
      this.closed = true
      this.#wake?.()
    })
    sock.on('error', () => {})
  }

  static open (port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' })
      sock.once('error', reject)
      sock.once('connect', () => {
        sock.off('error', reject)
        resolve(new RawConnection(sock))
      })
    })
  }

  /**
   * Writes `bytes` and reads one response. `bodiless`: the request was a HEAD,
   * so no body follows whatever the head says. Rejects (with what arrived) when
   * the connection closes first or nothing complete arrives within the timeout.
   */
  async exchange (bytes: string, opts: { bodiless?: boolean; timeoutMs?: number } = {}): Promise<RawExchange> {
    this.#sock.write(bytes, 'latin1')
    const deadline = Date.now() + (opts.timeoutMs ?? 3000)
    for (;;) {
      const r = this.#take(opts.bodiless === true)
      if (r !== undefined) return r
      const seen = this.pending.toString('latin1')
      if (this.closed) throw new Error(`connection closed before a complete response; received:\n${seen}`)
      if (Date.now() > deadline) throw new Error(`no complete response in time; received:\n${seen}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.#wake = () => { clearTimeout(t); resolve() }
      })
      this.#wake = undefined
    }
  }

  /** Consumes one complete response from `pending`, or leaves it untouched. */
  #take (bodiless: boolean): RawExchange | undefined {
    const buf = this.pending
    const interim: RawHead[] = []
    let from = 0
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', from, 'latin1')
      if (end < 0) return undefined
      const head = parseHead(buf.subarray(from, end).toString('latin1'))
      from = end + 4
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        interim.push(head)
        continue
      }
      const rest = buf.subarray(from)
      let used = 0
      let body: Buffer = Buffer.alloc(0)
      if (bodiless || head.status < 200 || head.status === 204 || head.status === 304) {
        used = 0
      } else if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
        used = chunkedLength(rest)
        if (used < 0) return undefined
        body = dechunk(rest.subarray(0, used))
      } else if (head.headers['content-length'] !== undefined) {
        used = Number(head.headers['content-length'])
        if (rest.length < used) return undefined
        body = rest.subarray(0, used)
      } else {
        // Delimited by the close.
        if (!this.closed) return undefined
        used = rest.length
        body = rest
      }
      this.pending = rest.subarray(used)
      return { ...head, interim, body: Buffer.from(body) }
    }
  }

  close (): void {
    this.#sock.destroy()
  }
}
