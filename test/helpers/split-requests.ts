// Where a split sent each request: sends one GET per entry of `headers` to
// `url` (`concurrency` at a time, keep-alive) and returns, in order, the name
// the echo upstream (upstream.ts) that answered put in its body.
import { request } from 'undici'

export async function upstreamsOf (url: string, headers: ReadonlyArray<Record<string, string>>, concurrency = 16): Promise<string[]> {
  const out = new Array<string>(headers.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < headers.length) {
      const i = next++
      const res = await request(url, { headers: headers[i] })
      const text = await res.body.text()
      if (res.statusCode !== 200) throw new Error(`request ${i} to ${url} answered ${res.statusCode}: ${text}`)
      out[i] = (JSON.parse(text) as { upstream: string }).upstream
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, headers.length) }, worker))
  return out
}

/** `n` times the same headers (none by default). */
export function times (n: number, headers: Record<string, string> = {}): Array<Record<string, string>> {
  return Array.from({ length: n }, () => headers)
}

/** How many of `names` are each name. */
export function countOf (names: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const n of names) counts[n] = (counts[n] ?? 0) + 1
  return counts
}
