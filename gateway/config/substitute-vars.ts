// `${VAR}` substitution over the merged config tree (env.ts does one string).
// A failed reference is reported at its value; a value that was one whole
// reference is marked in the SourceMap, so the schema step may turn its text
// into a number or boolean (`port: ${PORT}`).
import { substitute } from './env.js'
import type { CheckContext } from './issue-sink.js'
import { isObj, type Obj } from './plain-object.js'
import type { PathSegment, SourceMap } from './yaml-source.js'

export interface SubstitutionContext extends CheckContext {
  readonly env: NodeJS.ProcessEnv
  readonly sm: SourceMap
}

/** Substitutes `${VAR}` in `container[key]`; false (and an issue) when that fails. */
export function substituteIn (ctx: SubstitutionContext, container: Obj | unknown[], key: string | number, path: PathSegment[]): boolean {
  const value = (container as Obj)[key]
  if (typeof value !== 'string' || !value.includes('${')) return true
  const r = substitute(value, ctx.env)
  if (!r.ok) {
    ctx.issues.add(ctx.at([...path, key]), [...path, key], r.message)
    return false
  }
  ;(container as Obj)[key] = r.value
  if (r.whole) ctx.sm.markSubstituted(container, key)
  return true
}

/** Substitutes every string value below `value` (at `path`), except the top-level `include:` (done before reading the includes). */
export function substituteAll (ctx: SubstitutionContext, value: unknown, path: PathSegment[]): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i]
      if (typeof v === 'string') substituteIn(ctx, value, i, path)
      else if (typeof v === 'object' && v !== null) substituteAll(ctx, v, [...path, i])
    }
  } else if (isObj(value)) {
    for (const k of Object.keys(value)) {
      if (path.length === 0 && k === 'include') continue // done before reading the includes
      const v = value[k]
      if (typeof v === 'string') substituteIn(ctx, value, k, path)
      else if (typeof v === 'object' && v !== null) substituteAll(ctx, v, [...path, k])
    }
  }
}
