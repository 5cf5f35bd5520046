// At most one log line per key per interval: for events that can come in
// storms (every request timing out on a plugin), where the metric counts each
// one and the log only has to say that it is happening.

export class LogThrottle {
  readonly #last = new Map<string, { at: number; suppressed: number }>()

  constructor (readonly intervalMs: number) {}

  /** -1: do not log this one; otherwise log it, with this many left unlogged since the last line. */
  admit (key: string): number {
    const now = performance.now()
    const seen = this.#last.get(key)
    if (seen === undefined) {
      this.#last.set(key, { at: now, suppressed: 0 })
      return 0
    }
    if (now - seen.at < this.intervalMs) {
      seen.suppressed++
      return -1
    }
    const suppressed = seen.suppressed
    seen.at = now
    seen.suppressed = 0
    return suppressed
  }
}
