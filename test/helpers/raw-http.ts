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

/** Decodes a chunked body; undefined while incomplete. */
function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = []
  let pos = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1')
    if (eol < 0) return undefined
    const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16)
    if (Number.isNaN(size)) return Buffer.concat(parts) // garbage: give up on framing
    pos = eol + 2
    if (size === 0) {
      // trailers end with an empty line
      return buf.indexOf('\r\n', pos, 'latin1') === pos || buf.indexOf('\r\n\r\n', pos, 'latin1') >= 0
        ? Buffer.concat(parts)
        : undefined
    }
    if (buf.length < pos + size + 2) return undefined
    parts.push(buf.subarray(pos, pos + size))
    pos += size + 2
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
      let from = 0
      for (;;) {
        const head = parseHead(data, from)
        if (!head) return undefined
        if (head.status >= 100 && head.status < 200 && head.status !== 101) { from = head.bodyStart; continue }
        const rest = data.subarray(head.bodyStart)
        const base = { status: head.status, headers: head.headers }
        if (isHead || head.status === 101 || head.status === 204 || head.status === 304) return { ...base, body: '' }
        if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
          const body = dechunk(rest)
          if (body) return { ...base, body: body.toString('utf8') }
          return atEnd ? { ...base, body: rest.toString('utf8') } : undefined
        }
        const cl = head.headers['content-length']
        if (cl !== undefined && /^\d+$/.test(cl)) {
          const n = Number(cl)
          if (rest.length >= n) return { ...base, body: rest.subarray(0, n).toString('utf8') }
          return atEnd ? { ...base, body: rest.toString('utf8') } : undefined
        }
        return atEnd ? { ...base, body: rest.toString('utf8') } : undefined
      }
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
