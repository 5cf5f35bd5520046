// Runs the JSON Schema over the merged, substituted config tree. The schema
// fills in defaults and turns sizes and durations into numbers in place; each
// error becomes an issue at its value, and its path is remembered so the
// checks after the schema skip values that failed it.
import type { ErrorObject, ValidateFunction } from 'ajv'
import type { PluginMap } from '../../plugins/registry.js'
import type { CheckContext } from './issue-sink.js'
import { isObj, type Obj } from './plain-object.js'
import { configValidator, splitPointer, translateErrors } from './validate.js'
import type { SourceMap } from './yaml-source.js'

/**
 * Validates (and normalises) `root`, reporting every schema error. Returns the
 * paths (`routes/3/match`, and every prefix of each) of the values that failed.
 */
export function applySchema (root: Obj, sm: SourceMap, ctx: CheckContext, plugins: PluginMap): Set<string> {
  nullPluginsToEmpty(root.plugins, plugins)
  for (const r of root.routes as unknown[]) if (isObj(r)) nullPluginsToEmpty(r.plugins, plugins)
  const errors = validateCoercing(root, sm, configValidator(plugins))
  const bad = new Set<string>()
  for (const e of translateErrors(errors)) {
    const loc = ctx.at(e.path, e.atKey)
    ctx.issues.add(loc, e.atKey ? e.path.slice(0, -1) : e.path, e.message)
    // Every prefix of the path: checks below skip values that failed the schema.
    let prefix = ''
    for (const seg of e.path) {
      prefix = prefix === '' ? String(seg) : `${prefix}/${String(seg)}`
      bad.add(prefix)
    }
  }
  return bad
}

/** `plugins: {cors: }` enables a plugin with its defaults (in a route's `plugins:` and the top-level one). */
function nullPluginsToEmpty (map: unknown, plugins: PluginMap): void {
  if (!isObj(map)) return
  for (const [name, def] of plugins) {
    if (map[name] === null && (def.schema as Obj).type === 'object') map[name] = {}
  }
}

/**
 * Runs the schema. A `${VAR}` value that is numeric / boolean text where an
 * integer, number or boolean is expected is converted and the schema run
 * again (only whole-value substitutions are converted: `port: ${PORT}`).
 */
function validateCoercing (root: Obj, sm: SourceMap, validateConfig: ValidateFunction): ErrorObject[] {
  let errors: ErrorObject[] = []
  for (let pass = 0; pass < 3; pass++) {
    errors = validateConfig(root) ? [] : [...(validateConfig.errors ?? [])]
    let coerced = false
    for (const e of errors) {
      if (e.keyword !== 'type') continue
      const segs = splitPointer(e.instancePath)
      if (segs.length === 0) continue
      let parent: unknown = root
      for (const s of segs.slice(0, -1)) parent = (parent as Obj)[s]
      const key = segs[segs.length - 1]!
      const current = (parent as Obj)[key]
      if (!sm.isSubstituted(parent, key) || typeof current !== 'string') continue
      const types = Array.isArray(e.params.type) ? (e.params.type as string[]) : String(e.params.type).split(',')
      const value = coerce(current, types)
      if (value === undefined) continue
      ;(parent as Obj)[key] = value
      coerced = true
    }
    if (!coerced) break
  }
  return errors
}

/** Numeric / boolean text in a `${VAR}` value, for integer/number/boolean positions. */
function coerce (text: string, types: readonly string[]): unknown {
  const t = text.trim()
  if ((types.includes('integer') || types.includes('number')) && /^[-+]?\d+$/.test(t)) return Number(t)
  if (types.includes('number') && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return Number(t)
  if (types.includes('boolean') && (t === 'true' || t === 'false')) return t === 'true'
  return undefined
}
