// Cluster-scope limits count in fixed windows aligned on the clock (Redis's,
// this machine's): a test that counts within one window must not straddle a
// boundary. Waits until the next boundary is at least `marginMs` away.
import { until } from './until.js'

export async function clearOfWindowEdge (windowMs: number, marginMs: number): Promise<void> {
  await until(`at least ${marginMs} ms before the next ${windowMs} ms window boundary`,
    () => windowMs - (Date.now() % windowMs) >= marginMs, marginMs + 1000)
}
