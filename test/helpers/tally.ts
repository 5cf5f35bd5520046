// Where requests went: sends `n` GETs one after the other to `url` and counts
// the answers by the `upstream` name the echo upstreams (upstream.ts) put in their body.
import { request } from 'undici'

export async function tally (url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const res = await request(url)
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`request ${i} to ${url} answered ${res.statusCode}: ${text}`)
    const name = (JSON.parse(text) as { upstream: string }).upstream
    counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}
