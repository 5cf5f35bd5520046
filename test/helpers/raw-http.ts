import net from 'node:net'

/** One response head as received. */
export interface RawHead {
  status: number
  /** The status line, e.g. `HTTP/1.1 103 Early Hints`. */
  statusLine: string
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>
  /** The head as received (latin1), without the final empty line. */
  raw: string
}

export interface RawResponse {
  /** Decoded as latin1 (byte-exact): rawRequest, everything received; a connection's next(), this response's bytes (interim heads included). */
  raw: string
  /** Final (non-1xx, or 101) status; undefined when no complete head arrived. */
  status?: number
  /** The final status line, e.g. `HTTP/1.1 200 OK`; undefined when no complete head arrived. */
  statusLine?: string
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>
  body: string
  /** Interim (1xx, not 101) heads received before the final one, in order. */
  interim: RawHead[]
  /** True when the peer closed (or reset) the connection. */
  closed: boolean
}

/** The head starting at `from`, and the offset just past its empty line; undefined while incomplete. */
function parseHead(buf: Buffer, from: number): { head: RawHead; bodyStart: number } | undefined {
  const end = buf.indexOf('\r\n\r\n', from, 'latin1')
  if (end < 0) return undefined
  const raw = buf.subarray(from, end).toString('latin1')
  const lines = raw.split('\r\n')
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
  return { head: { status: m ? Number(m[1]) : 0, statusLine, headers, raw }, bodyStart: end + 4 }
}

/** Decodes a chunked body; `end` is the offset just past it in `buf`. Undefined while incomplete. */
function dechunk(buf: Buffer): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = []
  let pos = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1')
    if (eol < 0) return undefined
    const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16)
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), end: buf.length } // garbage: give up on framing
    pos = eol + 2
    if (size === 0) {
      // trailers end with an empty line
      if (buf.indexOf('\r\n', pos, 'latin1') === pos) return { body: Buffer.concat(parts), end: pos + 2 }
      const t = buf.indexOf('\r\n\r\n', pos, 'latin1')
      return t >= 0 ? { body: Buffer.concat(parts), end: t + 4 } : undefined
    }
    if (buf.length < pos + size + 2) return undefined
    parts.push(buf.subarray(pos, pos + size))
    pos += size + 2
  }
}

type Parsed = Omit<RawResponse, 'closed' | 'raw'> & { end: number }

/**
 * Parses the response starting at `from`: complete (Content-Length / chunked /
 * no-body status), or, `atEnd` (the stream is over), whatever is there.
 * `bodiless`: it answers a HEAD, so no body follows whatever the head says.
 * Interim 1xx heads (except 101) are collected in `interim`. `end`: the offset just past it.
 */
function parseResponse(data: Buffer, from: number, bodiless: boolean, atEnd: boolean): Parsed | undefined {
  const interim: RawHead[] = []
  for (;;) {
    const parsed = parseHead(data, from)
    if (!parsed) return undefined
    const { head, bodyStart } = parsed
    if (head.status >= 100 && head.status < 200 && head.status !== 101) { interim.push(head); from = bodyStart; continue }
    const rest = data.subarray(bodyStart)
    const base = { status: head.status, statusLine: head.statusLine, headers: head.headers, interim }
    const toEnd = (): Parsed => ({ ...base, body: rest.toString('utf8'), end: data.length })
    if (bodiless || head.status === 101 || head.status === 204 || head.status === 304) return { ...base, body: '', end: bodyStart }
    if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
      const c = dechunk(rest)
      if (c) return { ...base, body: c.body.toString('utf8'), end: bodyStart + c.end }
      return atEnd ? toEnd() : undefined
    }
    const cl = head.headers['content-length']
    if (cl !== undefined && /^\d+$/.test(cl)) {
      const n = Number(cl)
      if (rest.length >= n) return { ...base, body: rest.subarray(0, n).toString('utf8'), end: bodyStart + n }
      return atEnd ? toEnd() : undefined
    }
    return atEnd ? toEnd() : undefined
  }
}

/** The response without the parser's offset; nothing (no complete head arrived) when `p` is undefined. */
function fields(p: Parsed | undefined): Omit<RawResponse, 'closed' | 'raw'> {
  if (p === undefined) return { headers: {}, body: '', interim: [] }
  return { status: p.status, statusLine: p.statusLine, headers: p.headers, body: p.body, interim: p.interim }
}

/**
 * Writes exact bytes to 127.0.0.1:port and collects one response: until it is
 * complete (Content-Length / chunked / no-body status), the peer closes, or the
 * timeout. Interim 1xx heads (except 101) are collected in `interim`. For hostile-input tests.
 */
export function rawRequest(port: number, bytes: string | Buffer, opts: { timeoutMs?: number } = {}): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const reqBuf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes
  const isHead = reqBuf.subarray(0, 5).toString('latin1') === 'HEAD '

  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    let data = Buffer.alloc(0)
    let closed = false
    let connected = false
    let settled = false
    let result: Omit<RawResponse, 'closed' | 'raw'> | undefined

    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.destroy()
      const partial = result ?? fields(parseResponse(data, 0, isHead, true))
      resolve({ raw: data.toString('latin1'), closed, ...partial })
    }

    const timer = setTimeout(finish, timeoutMs)
    sock.on('connect', () => { connected = true; sock.write(reqBuf) })
    sock.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      if (result) return
      const parsed = parseResponse(data, 0, isHead, false)
      if (!parsed) return
      result = fields(parsed)
      // "Connection: close" answers: wait for the close so `closed` is meaningful.
      if (!/close/i.test(result.headers['connection'] ?? '')) finish()
    })
    sock.on('end', () => { closed = true; finish() })
    sock.on('close', () => { closed = true; finish() })
    sock.on('error', (err) => {
      if (!connected) { settled = true; clearTimeout(timer); reject(err); return }
      closed = true
      finish()
    })
  })
}

export interface NextOptions {
  /** Rejects when no complete response (nor the close) came within this (default 5000 ms). */
  timeoutMs?: number
  /** The response answers a HEAD: no body follows, whatever the head says. */
  bodiless?: boolean
}

/**
 * One client connection kept open: write bytes, read the responses in order
 * (each with the interim heads before it), see whether the peer closed. Bytes
 * past a response stay `pending` for the next one, so a stray body shows up.
 */
export interface RawConnection {
  write(bytes: string | Buffer): void
  /**
   * The next response, in order: complete, or cut short by the peer's close
   * (then `status` is undefined when not even a head arrived).
   */
  next(opts?: NextOptions): Promise<RawResponse>
  /** Writes `bytes`, then reads the next response. */
  exchange(bytes: string | Buffer, opts?: NextOptions): Promise<RawResponse>
  /** Resolves true once the peer has closed the connection; false if it has not within `timeoutMs`. */
  closedWithin(timeoutMs: number): Promise<boolean>
  readonly closed: boolean
  /** Everything received so far, decoded as latin1. */
  readonly raw: string
  /** Bytes received past the last response read (not yet taken by next()). */
  readonly pending: Buffer
  destroy(): void
}

/** Opens a raw connection to 127.0.0.1:port, for pipelining and keep-alive tests. */
export function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    let data = Buffer.alloc(0)
    let offset = 0
    let closed = false
    let connected = false
    const waiters = new Set<() => void>()
    const wake = (): void => { for (const w of waiters) w() }
    /** Waits until `ready()` holds, new bytes or the close re-checking it; false on timeout. */
    const waitFor = (ready: () => boolean, timeoutMs: number): Promise<boolean> => new Promise((done) => {
      if (ready()) { done(true); return }
      const check = (): void => {
        if (!ready()) return
        waiters.delete(check)
        clearTimeout(timer)
        done(true)
      }
      const timer = setTimeout(() => { waiters.delete(check); done(false) }, timeoutMs)
      waiters.add(check)
    })
    const onClose = (): void => { closed = true; wake() }

    sock.on('data', (chunk: Buffer) => { data = Buffer.concat([data, chunk]); wake() })
    sock.on('end', onClose)
    sock.on('close', onClose)
    sock.on('error', (err) => {
      if (!connected) { reject(err); return }
      onClose()
    })
    const write = (bytes: string | Buffer): void => { sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes) }
    const next = async (opts: NextOptions = {}): Promise<RawResponse> => {
      const timeoutMs = opts.timeoutMs ?? 5000
      let parsed: Parsed | undefined
      const ok = await waitFor(() => (parsed = parseResponse(data, offset, opts.bodiless === true, closed)) !== undefined || closed, timeoutMs)
      if (!ok) throw new Error(`no complete response within ${timeoutMs} ms; received: ${data.subarray(offset).toString('latin1').slice(0, 400)}`)
      const raw = data.subarray(offset, parsed?.end ?? data.length).toString('latin1')
      offset = parsed?.end ?? data.length
      return { raw, closed, ...fields(parsed) }
    }
    sock.on('connect', () => {
      connected = true
      resolve({
        write,
        next,
        exchange: async (bytes, opts) => { write(bytes); return await next(opts) },
        closedWithin: (timeoutMs) => waitFor(() => closed, timeoutMs),
        get closed() { return closed },
        get raw() { return data.toString('latin1') },
        get pending() { return data.subarray(offset) },
        destroy: () => { sock.destroy() }
      })
    })
  })
}
