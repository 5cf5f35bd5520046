// Small helpers for the plain JS values parsed from YAML (mappings become
// plain objects): the type test, a safe way to set any key, and a copy with
// sorted keys for maps whose order means nothing.

export type Obj = Record<string, unknown>

export function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Sets `obj[key]` as an own data property, even for keys such as `__proto__`. */
export function defineValue (obj: Obj, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

/** A deep copy with the keys of every object sorted (maps whose order means nothing). */
export function sortedCopy<T> (value: T): T {
  if (Array.isArray(value)) return value.map(sortedCopy) as T
  if (!isObj(value)) return value
  const out: Obj = {}
  for (const k of Object.keys(value).sort()) defineValue(out, k, sortedCopy(value[k]))
  return out as T
}
