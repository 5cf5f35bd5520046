// Durations in the YAML: an integer number of milliseconds, or a string such as
// `250ms`, `30s`, `5m`, `1h` (case-insensitive; a bare number string is ms).

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000
}

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/

/**
 * Milliseconds for an integer (>= 0) or a duration string; `undefined` when
 * `value` is not a duration or does not come to a whole number of ms (`0.5ms`).
 */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const m = DURATION_RE.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  const unit = UNITS[m[2]!]
  if (unit === undefined) return undefined
  const ms = Number(m[1]) * unit
  // 1.5s is fine (1500 ms); guard against float noise such as 0.1 * 3.
  const rounded = Math.round(ms)
  if (Math.abs(ms - rounded) > 1e-6 || !Number.isSafeInteger(rounded)) return undefined
  return rounded
}
