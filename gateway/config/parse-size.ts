// Sizes in the YAML: an integer number of bytes, or a string such as `512kb`,
// `1mb`, `10m`, `1gb` (case-insensitive, binary multiples: k = 1024).

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/

/**
 * Bytes for an integer (>= 0) or a size string; `undefined` when `value` is not a size.
 * Fractions are allowed in strings (`1.5mb`) and rounded down to whole bytes.
 */
export function parseSize (value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const m = SIZE_RE.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  const unit = UNITS[m[2]!]
  if (unit === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}
