// Waiting on a condition instead of sleeping: polls `fn` until it returns a
// value other than undefined/false, or fails the test after `timeoutMs`.
import { setTimeout as sleep } from 'node:timers/promises'

export async function until<T> (what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await sleep(10)
  }
}
