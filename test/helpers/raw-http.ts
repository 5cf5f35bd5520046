import net from 'node:net'

export interface RawResponse {
  /** Everything received, decoded as latin1 (byte-exact). */
  raw: string
  /** Final (non-1xx, or 101) status; undefined when no complete head arrived. */
  status?: number
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>
  body: string
  /** True when the peer closed (or reset) the connection. */
  closed: boolean
}

interface Head { status: number; headers: Record<string, string>; bodyStart: number }

function parseHead(buf: Buffer, from: number): Head | undefined {
  const end = buf.indexOf('\r\n\r\n', from, 'latin1')
  if (end < 0) return undefined
  const lines = buf.subarray(from, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? '')
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i <= 0) continue
    const k = line.slice(0, i).trim().toLowerCase()
    const v = line.slice(i + 1).trim()
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v
  }
  return { status: m ? Number(m[1]) : 0, headers, bodyStart: end + 4 }
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
 * no-body status), or, `atEnd` (the stream is over), whatever is there. Interim
 * 1xx responses (except 101) are skipped. `end`: the offset just past it.
 */
function parseResponse(data: Buffer, from: number, isHead: boolean, atEnd: boolean): Parsed | undefined {
  for (;;) {
    const head = parseHead(data, from)
    if (!head) return undefined
    if (head.status >= 100 && head.status < 200 && head.status !== 101) { from = head.bodyStart; continue }
    const rest = data.subarray(head.bodyStart)
    const base = { status: head.status, headers: head.headers }
    const toEnd = (): Parsed => ({ ...base, body: rest.toString('utf8'), end: data.length })
    if (isHead || head.status === 101 || head.status === 204 || head.status === 304) return { ...base, body: '', end: head.bodyStart }
    if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
      const c = dechunk(rest)
      if (c) return { ...base, body: c.body.toString('utf8'), end: head.bodyStart + c.end }
      return atEnd ? toEnd() : undefined
    }
    const cl = head.headers['content-length']
    if (cl !== undefined && /^\d+$/.test(cl)) {
      const n = Number(cl)
      if (rest.length >= n) return { ...base, body: rest.subarray(0, n).toString('utf8'), end: head.bodyStart + n }
      return atEnd ? toEnd() : undefined
    }
    return atEnd ? toEnd() : undefined
  }
}

/**
 * Writes exact bytes to 127.0.0.1:port and collects one response: until it is
 * complete (Content-Length / chunked / no-body status), the peer closes, or the
 * timeout. Interim 1xx responses (except 101) are skipped. For hostile-input tests.
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
      const partial = result ?? tryParse(true) ?? { headers: {}, body: '' }
      resolve({ raw: data.toString('latin1'), closed, ...partial })
    }

    /** Parses what we have; `atEnd`: the stream is over, take what is there. */
    const tryParse = (atEnd: boolean): Omit<RawResponse, 'closed' | 'raw'> | undefined => {
      const r = parseResponse(data, 0, isHead, atEnd)
      return r && { status: r.status, headers: r.headers, body: r.body }
    }

    const timer = setTimeout(finish, timeoutMs)
    sock.on('connect', () => { connected = true; sock.write(reqBuf) })
    sock.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      if (result) return
      result = tryParse(false)
      if (!result) return
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

/** One client connection kept open: write bytes, read the responses in order, see whether the peer closed. */
export interface RawConnection {
  write(bytes: string | Buffer): void
  /**
   * The next response, in order: complete, or cut short by the peer's close
   * (then `status` is undefined when not even a head arrived). Rejects after `timeoutMs`.
   */
  next(timeoutMs?: number): Promise<RawResponse>
  /** Resolves true once the peer has closed the connection; false if it has not within `timeoutMs`. */
  closedWithin(timeoutMs: number): Promise<boolean>
  readonly closed: boolean
  /** Everything received so far, decoded as latin1. */
  readonly raw: string
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
    sock.on('connect', () => {
      connected = true
      resolve({
        write: (bytes) => { sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes) },
        async next(timeoutMs = 5000) {
          let parsed: Parsed | undefined
          const ok = await waitFor(() => (parsed = parseResponse(data, offset, false, closed)) !== undefined || closed, timeoutMs)
          if (!ok) throw new Error(`no complete response within ${timeoutMs} ms; received: ${data.subarray(offset).toString('latin1').slice(0, 400)}`)
          const raw = data.subarray(offset, parsed?.end ?? data.length).toString('latin1')
          offset = parsed?.end ?? data.length
          if (parsed === undefined) return { raw, headers: {}, body: '', closed }
          return { raw, closed, status: parsed.status, headers: parsed.headers, body: parsed.body }
        },
        closedWithin: (timeoutMs) => waitFor(() => closed, timeoutMs),
        get closed() { return closed },
        get raw() { return data.toString('latin1') },
        destroy: () => { sock.destroy() }
      })
    })
  })
}
