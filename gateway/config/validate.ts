// The ajv instance, its custom keywords and the compiled config validator
// (compiled once per plugin set), plus the translation of ajv errors into
// plain messages.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import type { PluginMap } from '../../plugins/registry.js'
import { checks } from './checks.js'
import { parseDuration } from './parse-duration.js'
import { parseSize } from './parse-size.js'
import { configSchema } from './schema.js'

interface KeywordErrors { errors?: Array<Partial<ErrorObject>> }
interface DataCxt { parentData: Record<string | number, unknown>; parentDataProperty: string | number }

type KeywordValidate = (schema: unknown, data: unknown, parentSchema?: unknown, cxt?: DataCxt) => boolean

/** A keyword that parses its value with `parse` and replaces it with the number (`check`: a further problem with it). */
function normalising (
  parse: (v: unknown) => number | undefined,
  message: string,
  check: (n: number, schema: unknown) => string | undefined = () => undefined
): KeywordValidate {
  const fn = (schema: unknown, data: unknown, _ps?: unknown, cxt?: DataCxt): boolean => {
    const n = parse(data)
    const problem = n === undefined ? `${message}, got ${describeValue(data)}` : check(n, schema)
    if (problem !== undefined) {
      (fn as KeywordErrors).errors = [{ keyword: 'format', message: problem, params: {} }]
      return false
    }
    if (cxt !== undefined && cxt.parentData !== undefined && n !== data) cxt.parentData[cxt.parentDataProperty] = n
    return true
  }
  return fn
}

/** `duration: {zero: why}`: 0 is refused, saying why. */
function durationCheck (ms: number, schema: unknown): string | undefined {
  const why = typeof schema === 'object' && schema !== null ? (schema as { zero?: string }).zero : undefined
  return ms === 0 && why !== undefined ? `must be at least 1ms (${why})` : undefined
}

function createAjv (): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true, strict: true })
  ajv.addKeyword({
    keyword: 'size',
    schemaType: 'boolean',
    modifying: true,
    errors: true,
    validate: normalising(parseSize, 'must be a size: bytes (integer) or a string like "512kb", "1mb", "1gb"')
  })
  ajv.addKeyword({
    keyword: 'duration',
    schemaType: ['boolean', 'object'],
    modifying: true,
    errors: true,
    validate: normalising(parseDuration, 'must be a duration: milliseconds (integer) or a string like "250ms", "30s", "5m"', durationCheck)
  })
  const checkFn = (name: string, data: unknown): boolean => {
    if (typeof data !== 'string') return true // `type` reports it
    const check = checks[name]
    if (check === undefined) throw new Error(`config schema: unknown check "${name}"`)
    const message = check(data)
    if (message === undefined) return true
    ;(checkFn as KeywordErrors).errors = [{ keyword: 'format', message, params: {} }]
    return false
  }
  ajv.addKeyword({ keyword: 'check', schemaType: 'string', errors: true, validate: checkFn })
  ajv.addKeyword({ keyword: 'hint', schemaType: 'string' })
  return ajv
}

const ajv = createAjv()

function compileConfigSchema (plugins: PluginMap): ValidateFunction {
  try {
    return ajv.compile(configSchema(plugins))
  } catch (err) {
    // Name the plugin whose options schema ajv refuses (a programming error, found at startup).
    for (const [name, def] of plugins) {
      try {
        createAjv().compile(def.schema)
      } catch (pluginErr) {
        throw new Error(`plugin "${name}": invalid options schema: ${(pluginErr as Error).message}`)
      }
    }
    throw err
  }
}

const validators = new WeakMap<PluginMap, ValidateFunction>()

/**
 * Validates (and fills defaults into, and normalises) the merged configuration.
 * Compiled once per plugin set, on first use; each plugin's schema is compiled
 * into it under `routes[].plugins.<name>` and `plugins.<name>`.
 */
export function configValidator (plugins: PluginMap): ValidateFunction {
  let validate = validators.get(plugins)
  if (validate === undefined) {
    validate = compileConfigSchema(plugins)
    validators.set(plugins, validate)
  }
  return validate
}

// ---------------------------------------------------------------------------
// Messages

/** Optimal string alignment distance (Levenshtein plus transpositions). */
export function editDistance (a: string, b: string): number {
  const d: number[][] = []
  for (let i = 0; i <= a.length; i++) d.push([i])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/** The closest candidate, if close enough to be a plausible typo. */
export function suggest (word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  const w = word.toLowerCase()
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase())
    if (dist < bestDistance) {
      best = c
      bestDistance = dist
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)))
  return bestDistance <= limit ? best : undefined
}

export function quoteList (values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ')
}

/** `string "abc"`, `integer 5`, `a list`, `null (empty value)`. */
export function describeValue (data: unknown): string {
  if (data === null || data === undefined) return 'null (empty value)'
  if (Array.isArray(data)) return 'a list'
  switch (typeof data) {
    case 'string': {
      const s = data.length > 60 ? data.slice(0, 57) + '...' : data
      return `string ${JSON.stringify(s)}`
    }
    case 'number': return `${Number.isInteger(data) ? 'integer' : 'number'} ${data}`
    case 'boolean': return `boolean ${data}`
    case 'object': return 'a mapping'
    default: return typeof data
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  object: 'a mapping',
  array: 'a list',
  null: 'null'
}

function typeName (t: unknown): string {
  return TYPE_NAMES[String(t)] ?? String(t)
}

export interface TranslatedError {
  /** Path segments of the offending value (for additionalProperties: of the key). */
  path: Array<string | number>
  /** Point at the key rather than the value. */
  atKey: boolean
  message: string
}

export function splitPointer (pointer: string): string[] {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** True when `path` (segments) is a `plugins:` map: a route's, or the top-level one. */
function isPluginsMap (path: readonly string[]): boolean {
  return (path.length === 3 && path[0] === 'routes' && path[2] === 'plugins') || (path.length === 1 && path[0] === 'plugins')
}

/** Turns ajv errors into plain messages; drops the noise ajv adds around them. */
export function translateErrors (errors: readonly ErrorObject[]): TranslatedError[] {
  const out: TranslatedError[] = []
  for (const e of errors) {
    // The `propertyNames` wrapper repeats the error on the name itself.
    if (e.keyword === 'propertyNames') continue
    const path: Array<string | number> = splitPointer(e.instancePath)
    const parent = (e.parentSchema ?? {}) as Record<string, unknown>
    const hint = typeof parent.hint === 'string' ? parent.hint : undefined
    const params = e.params as Record<string, unknown>
    if (e.propertyName !== undefined) {
      const name = e.propertyName
      out.push({
        path: [...path, name],
        atKey: true,
        message: `invalid key ${JSON.stringify(name)}: ${hint ?? e.message ?? 'not allowed'}`
      })
      continue
    }
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(params.additionalProperty)
        const allowed = Object.keys((parent.properties ?? {}) as Record<string, unknown>)
        const guess = suggest(key, allowed)
        const segs = path.map(String)
        let message: string
        if (isPluginsMap(segs)) {
          message = `unknown plugin ${JSON.stringify(key)}` +
            (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
            `; known plugins: ${allowed.join(', ')}`
        } else {
          message = `unknown key ${JSON.stringify(key)}` +
            (guess !== undefined
              ? ` (did you mean ${JSON.stringify(guess)}?)`
              : allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : '')
        }
        out.push({ path: [...path, key], atKey: true, message })
        break
      }
      case 'required':
        out.push({ path, atKey: false, message: `missing required key ${JSON.stringify(params.missingProperty)}` })
        break
      case 'type': {
        const types = Array.isArray(params.type) ? params.type : String(params.type).split(',')
        const expected = hint !== undefined && types.length > 1 ? hint : `must be ${types.map(typeName).join(' or ')}`
        out.push({ path, atKey: false, message: `${expected}, got ${describeValue(e.data)}` })
        break
      }
      case 'enum': {
        const allowed = (params.allowedValues ?? []) as unknown[]
        const guess = typeof e.data === 'string' ? suggest(e.data, allowed.map(String)) : undefined
        out.push({
          path,
          atKey: false,
          message: `must be one of ${quoteList(allowed)}, got ${describeValue(e.data)}` +
            (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '')
        })
        break
      }
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
        const op = { minimum: '>=', maximum: '<=', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword]
        out.push({ path, atKey: false, message: `must be ${op} ${String(params.limit)}, got ${String(e.data)}` })
        break
      }
      case 'minItems':
        out.push({ path, atKey: false, message: `must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}` })
        break
      case 'minLength':
        out.push({ path, atKey: false, message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long` })
        break
      case 'minProperties': case 'maxProperties':
        out.push({ path, atKey: false, message: hint ?? `must have ${e.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(params.limit)} keys` })
        break
      case 'pattern':
        out.push({ path, atKey: false, message: `${hint ?? `must match /${String(params.pattern)}/`}, got ${describeValue(e.data)}` })
        break
      case 'format': // our own keywords (size, duration, check)
        out.push({ path, atKey: false, message: e.message ?? 'invalid value' })
        break
      default:
        out.push({ path, atKey: false, message: e.message ?? `invalid (${e.keyword})` })
    }
  }
  return out
}

/** JSON path for messages: `routes[3].match.paths[0]`, `upstreams.users-v2.nodes[0]`. */
export function formatPath (path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(seg)) out += `[${seg}]`
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}
