// Loads and validates the gateway configuration: the main YAML file plus the
// files and directories it includes. Synchronous and pure apart from reading
// files, so `gateway validate` and the hot-reloader (via load-in-worker.ts)
// share it. Every problem found is reported, each at file:line:column.
//
// Steps: parse each file (YAML errors) -> merge upstreams and routes of the
// included files after the main file's -> substitute ${VAR} in string values ->
// JSON Schema (defaults filled in, sizes and durations turned into numbers) ->
// checks a schema cannot express (cross references, duplicates, rewrite rules,
// plugin check(), route conflicts) -> the normalised GatewayConfig and a digest.
import type { ErrorObject } from 'ajv'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path'
import { builtinPlugins } from '../../plugins/registry.js'
import { findRouteConflicts } from '../routing/conflicts.js'
import { isLoopback, paramNames } from './checks.js'
import { substitute } from './env.js'
import { INCLUDE_FILE_KEYS } from './schema.js'
import type {
  ConfigIssue,
  GatewayConfig,
  HashOn,
  RouteConfig,
  RouteMatch,
  SourceLocation,
  UpstreamConfig,
  ValueMatcher
} from './types.js'
import { formatPath, splitPointer, suggest, translateErrors, validateConfig } from './validate.js'
import { nodeLocation, parseYaml, SourceMap, type ChildRef, type ContainerRef, type PathSegment, type Source } from './yaml-source.js'

export type LoadResult =
  | { ok: true; config: GatewayConfig; files: string[]; digest: string; keys: ConfigKeys }
  | { ok: false; issues: ConfigIssue[]; files: string[] }

/**
 * Identity of each route (parallel to config.routes) and upstream: a digest of
 * its canonical JSON. Computed here, off the gateway's event loop, so a reload
 * can tell what changed without serialising 10,000 routes on the main thread.
 */
export interface ConfigKeys {
  routes: string[]
  upstreams: Record<string, string>
}

/**
 * Loads `mainFile` and everything it includes. `files` lists every file read
 * (absolute paths), plus each included directory (so a watcher notices files
 * added to it). `digest` is the sha256 of the normalised config (canonical JSON).
 */
export function loadConfig (mainFile: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  return new Loader(env).load(mainFile)
}

/**
 * `file:line:column: path: message` (or `path: message` without a location);
 * the file is shown relative to the current directory when below it.
 * One parameter only, so `issues.map(formatIssue)` works.
 */
export function formatIssue (issue: ConfigIssue): string {
  return formatIssueRelativeTo(issue, process.cwd())
}

/** As formatIssue, with files shown relative to `baseDir` when below it. */
export function formatIssueRelativeTo (issue: ConfigIssue, baseDir: string): string {
  let out = ''
  if (issue.location !== undefined) {
    const { file, line, column } = issue.location
    out += `${displayFile(file, baseDir)}:${line}:${column}: `
  }
  if (issue.path !== '') out += `${issue.path}: `
  out += issue.message
  if (issue.related !== undefined) {
    const { text, location } = issue.related
    out += ` (${text} ${displayFile(location.file, baseDir)}:${location.line})`
  }
  return out
}

/** One issue per line. */
export function formatIssues (issues: readonly ConfigIssue[], baseDir: string = process.cwd()): string {
  return issues.map((i) => formatIssueRelativeTo(i, baseDir)).join('\n')
}

function displayFile (file: string, baseDir: string): string {
  const rel = relative(baseDir, file)
  return rel === '' ? basename(file) : rel.startsWith('..') || isAbsolute(rel) ? file : rel
}

type Obj = Record<string, unknown>

function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function defineValue (obj: Obj, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

/** Numeric / boolean text in a `${VAR}` value, for integer/number/boolean positions. */
function coerce (text: string, types: readonly string[]): unknown {
  const t = text.trim()
  if ((types.includes('integer') || types.includes('number')) && /^[-+]?\d+$/.test(t)) return Number(t)
  if (types.includes('number') && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return Number(t)
  if (types.includes('boolean') && (t === 'true' || t === 'false')) return t === 'true'
  return undefined
}

/** A deep copy with the keys of every object sorted (maps whose order means nothing). */
function sortedCopy<T> (value: T): T {
  if (Array.isArray(value)) return value.map(sortedCopy) as T
  if (!isObj(value)) return value
  const out: Obj = {}
  for (const k of Object.keys(value).sort()) defineValue(out, k, sortedCopy(value[k]))
  return out as T
}

interface IncludeTarget { file: string; at: SourceLocation | undefined; index: number }

class Loader {
  private readonly issues: ConfigIssue[] = []
  private readonly files: string[] = []
  private readonly sm = new SourceMap()
  private mainDir = ''
  private root: Obj = {}

  constructor (private readonly env: NodeJS.ProcessEnv) {}

  // -- helpers ---------------------------------------------------------------

  /** `related`: another place the issue concerns (`first defined at`), shown as ` (TEXT file:line)`. */
  private issue (
    location: SourceLocation | undefined,
    path: ReadonlyArray<PathSegment>,
    message: string,
    related?: { text: string; location: SourceLocation | undefined }
  ): void {
    const issue: ConfigIssue = { path: formatPath(path), message }
    if (location !== undefined) issue.location = location
    if (related?.location !== undefined) issue.related = { text: related.text, location: related.location }
    this.issues.push(issue)
  }

  /** Location of a value of the merged config (`key`: of its key). */
  private at (path: ReadonlyArray<PathSegment>, key = false): SourceLocation | undefined {
    return this.sm.locate(this.root, path, { key })
  }

  private fail (): LoadResult {
    const order = new Map(this.files.map((f, i) => [f, i]))
    const rank = (i: ConfigIssue): number[] =>
      i.location === undefined ? [-1, 0, 0] : [order.get(i.location.file) ?? this.files.length, i.location.line, i.location.column]
    const seen = new Set<string>()
    const issues = this.issues
      .map((issue, index) => ({ issue, index, rank: rank(issue) }))
      .sort((a, b) => a.rank[0]! - b.rank[0]! || a.rank[1]! - b.rank[1]! || a.rank[2]! - b.rank[2]! || a.index - b.index)
      .map((x) => x.issue)
      .filter((i) => {
        const k = formatIssueRelativeTo(i, '/')
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
    return { ok: false, issues, files: this.files }
  }

  private read (file: string, at: SourceLocation | undefined, what: string, path: PathSegment[] = []): string | undefined {
    try {
      const text = readFileSync(file, 'utf8')
      this.files.push(file)
      return text
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message
      this.issue(at, path, `cannot read ${what} ${JSON.stringify(file)}: ${reason}`)
      return undefined
    }
  }

  // -- load ------------------------------------------------------------------

  load (mainFile: string): LoadResult {
    const mainPath = resolve(mainFile)
    this.mainDir = dirname(mainPath)
    const text = this.read(mainPath, undefined, 'config file')
    if (text === undefined) return this.fail()
    const main = parseYaml(mainPath, text, this.sm, this.issues)
    if (main.value === undefined) return this.fail()
    let top = main.value
    if (top === null) {
      top = {}
      this.sm.set(top, { src: main.src, node: null })
    }
    if (!isObj(top)) {
      this.issue(nodeLocation(main.src, main.top), [], 'the top level must be a mapping (listen:, upstreams:, routes: ...)')
      return this.fail()
    }
    const topRef = this.sm.get(top)!
    // An empty section (`server:` with everything commented out) means defaults.
    for (const k of Object.keys(top)) if (top[k] === null) delete top[k]

    // The merged root: the main file's sections, then routes and upstreams of all files.
    const root: Obj = {}
    const rootChildren = new Map<string, ChildRef>()
    for (const k of Object.keys(top)) {
      const child = this.sm.child(top, k)
      if (child !== undefined) rootChildren.set(k, child)
      if (k !== 'routes' && k !== 'upstreams') defineValue(root, k, top[k])
    }
    // `routes` / `upstreams` of the root are always the merged containers, whose
    // entries point into each file: without this, a main file with no such key
    // (only `include:`) would hide them and every error in them would be put at
    // the main file's first line.
    for (const k of ['routes', 'upstreams']) {
      if (!rootChildren.has(k)) rootChildren.set(k, { src: main.src, key: null, value: null })
    }
    this.root = root
    this.sm.set(root, { src: main.src, node: topRef.node, children: rootChildren })

    const routes: unknown[] = []
    const routesRef: ContainerRef = { src: main.src, node: rootChildren.get('routes')?.value ?? topRef.node, children: new Map() }
    const upstreams: Obj = {}
    const upstreamsRef: ContainerRef = { src: main.src, node: rootChildren.get('upstreams')?.value ?? topRef.node, children: new Map() }
    this.sm.set(routes, routesRef)
    this.sm.set(upstreams, upstreamsRef)
    root.upstreams = upstreams
    root.routes = routes

    this.mergeFrom(top, main.src, routes, routesRef, upstreams, upstreamsRef)
    for (const target of this.includeTargets(root)) {
      if (this.files.includes(target.file)) {
        this.issue(target.at, ['include', target.index],
          `${displayFile(target.file, this.mainDir)} is already loaded (included twice, or the main file)`)
        continue
      }
      const inc = this.read(target.file, target.at, 'included file', ['include', target.index])
      if (inc === undefined) continue
      const parsed = parseYaml(target.file, inc, this.sm, this.issues)
      if (parsed.value === undefined || parsed.value === null) continue
      if (!isObj(parsed.value)) {
        this.issue(nodeLocation(parsed.src, parsed.top), [], 'an included file must be a mapping with "upstreams:" and/or "routes:"')
        continue
      }
      for (const k of Object.keys(parsed.value)) {
        if ((INCLUDE_FILE_KEYS as readonly string[]).includes(k)) continue
        const guess = suggest(k, INCLUDE_FILE_KEYS)
        this.issue(nodeLocation(parsed.src, this.sm.child(parsed.value, k)?.key), [k],
          `unknown key ${JSON.stringify(k)}` + (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
          '; an included file may only contain "upstreams" and "routes"')
      }
      this.mergeFrom(parsed.value, parsed.src, routes, routesRef, upstreams, upstreamsRef)
    }

    this.substituteAll(root, [])
    this.nullPluginsToEmpty(routes)
    const errors = this.validate(root)

    const bad = new Set<string>()
    for (const e of translateErrors(errors)) {
      const loc = this.at(e.path, e.atKey)
      this.issue(loc, e.atKey ? e.path.slice(0, -1) : e.path, e.message)
      // Every prefix of the path: checks below skip values that failed the schema.
      let prefix = ''
      for (const seg of e.path) {
        prefix = prefix === '' ? String(seg) : `${prefix}/${String(seg)}`
        bad.add(prefix)
      }
    }

    const config = this.check(root, bad)
    if (this.issues.length > 0 || config === undefined) return this.fail()
    // User-keyed maps are built with sorted keys, so this JSON is canonical.
    const digest = createHash('sha256').update(JSON.stringify(config)).digest('hex')
    const keyOf = (v: unknown): string => createHash('sha1').update(JSON.stringify(v)).digest('base64')
    const keys: ConfigKeys = {
      routes: config.routes.map(keyOf),
      upstreams: Object.fromEntries(Object.entries(config.upstreams).map(([name, u]) => [name, keyOf(u)]))
    }
    return { ok: true, config, files: this.files, digest, keys }
  }

  /** Appends a file's `routes:` and `upstreams:` to the merged ones. */
  private mergeFrom (file: Obj, src: Source, routes: unknown[], routesRef: ContainerRef, upstreams: Obj, upstreamsRef: ContainerRef): void {
    const fileRoutes = file.routes
    if (Array.isArray(fileRoutes)) {
      for (let i = 0; i < fileRoutes.length; i++) {
        routesRef.children!.set(String(routes.length), this.sm.child(fileRoutes, i)!)
        routes.push(fileRoutes[i])
      }
    } else if (fileRoutes !== undefined && fileRoutes !== null) {
      this.issue(nodeLocation(src, this.sm.child(file, 'routes')?.value), ['routes'], `must be a list, got ${kind(fileRoutes)}`)
    }
    const fileUpstreams = file.upstreams
    if (isObj(fileUpstreams)) {
      for (const name of Object.keys(fileUpstreams)) {
        const child = this.sm.child(fileUpstreams, name)!
        const first = upstreamsRef.children!.get(name)
        if (first !== undefined) {
          this.issue(nodeLocation(child.src, child.key), ['upstreams', name], `duplicate upstream ${JSON.stringify(name)}`,
            { text: 'first defined at', location: nodeLocation(first.src, first.key) })
          continue
        }
        upstreamsRef.children!.set(name, child)
        defineValue(upstreams, name, fileUpstreams[name])
      }
    } else if (fileUpstreams !== undefined && fileUpstreams !== null) {
      this.issue(nodeLocation(src, this.sm.child(file, 'upstreams')?.value), ['upstreams'],
        `must be a mapping of name -> upstream, got ${kind(fileUpstreams)}`)
    }
  }

  /** Files named by `include:` (directories expand to their *.yaml / *.yml files, sorted). */
  private includeTargets (root: Obj): IncludeTarget[] {
    const list = root.include
    if (!Array.isArray(list)) return [] // wrong type: reported by the schema
    const targets: IncludeTarget[] = []
    for (let i = 0; i < list.length; i++) {
      // A failed ${VAR}: reported; the unsubstituted text is no path to look for.
      if (!this.substituteIn(list, i, ['include'])) continue
      const entry = list[i]
      if (typeof entry !== 'string' || entry === '') continue // reported by the schema
      const at = this.at(['include', i])
      const path = resolve(this.mainDir, entry)
      let stat
      try {
        stat = statSync(path)
      } catch {
        this.issue(at, ['include', i], `include path not found: ${JSON.stringify(entry)} (resolved to ${path})`)
        continue
      }
      if (stat.isDirectory()) {
        if (!this.files.includes(path)) this.files.push(path)
        let names: string[]
        try {
          names = readdirSync(path)
        } catch (err) {
          this.issue(at, ['include', i], `cannot read directory ${JSON.stringify(entry)}: ${(err as Error).message}`)
          continue
        }
        names = names.filter((n) => /\.ya?ml$/.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        for (const n of names) {
          const file = resolve(path, n)
          try {
            if (!statSync(file).isFile()) continue
          } catch {
            continue
          }
          targets.push({ file, at, index: i })
        }
      } else {
        targets.push({ file: path, at, index: i })
      }
    }
    return targets
  }

  // -- ${VAR} ----------------------------------------------------------------

  /** Substitutes `${VAR}` in `container[key]`; false (and an issue) when that fails. */
  private substituteIn (container: Obj | unknown[], key: string | number, path: PathSegment[]): boolean {
    const value = (container as Obj)[key]
    if (typeof value !== 'string' || !value.includes('${')) return true
    const r = substitute(value, this.env)
    if (!r.ok) {
      this.issue(this.sm.locate(this.root, [...path, key]), [...path, key], r.message)
      return false
    }
    ;(container as Obj)[key] = r.value
    if (r.whole) this.sm.markSubstituted(container, key)
    return true
  }

  private substituteAll (value: unknown, path: PathSegment[]): void {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v = value[i]
        if (typeof v === 'string') this.substituteIn(value, i, path)
        else if (typeof v === 'object' && v !== null) this.substituteAll(v, [...path, i])
      }
    } else if (isObj(value)) {
      for (const k of Object.keys(value)) {
        if (path.length === 0 && k === 'include') continue // done before reading the includes
        const v = value[k]
        if (typeof v === 'string') this.substituteIn(value, k, path)
        else if (typeof v === 'object' && v !== null) this.substituteAll(v, [...path, k])
      }
    }
  }

  /** `plugins: {cors: }` enables a plugin with its defaults. */
  private nullPluginsToEmpty (routes: unknown[]): void {
    for (const r of routes) {
      if (!isObj(r) || !isObj(r.plugins)) continue
      for (const [name, def] of builtinPlugins) {
        if (r.plugins[name] === null && (def.schema as Obj).type === 'object') r.plugins[name] = {}
      }
    }
  }

  // -- schema ----------------------------------------------------------------

  /**
   * Runs the schema. A `${VAR}` value that is numeric / boolean text where an
   * integer, number or boolean is expected is converted and the schema run
   * again (only whole-value substitutions are converted: `port: ${PORT}`).
   */
  private validate (root: Obj): ErrorObject[] {
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
        if (!this.sm.isSubstituted(parent, key) || typeof current !== 'string') continue
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

  // -- checks beyond the schema, and the normalised output --------------------

  private check (root: Obj, bad: Set<string>): GatewayConfig | undefined {
    const listen = root.listen as GatewayConfig['listen']
    const admin = root.admin as GatewayConfig['admin']
    if (isObj(admin) && typeof admin.host === 'string' && !bad.has('admin/host') && !bad.has('admin/token') &&
      !isLoopback(admin.host) && admin.token === undefined) {
      this.issue(this.at(['admin', 'host']), ['admin', 'host'],
        `admin.token is required when the admin API listens on a non-loopback address (${JSON.stringify(admin.host)}); ` +
        'use 127.0.0.1 / ::1 / localhost, or set a token')
    }
    if (isObj(admin) && isObj(listen) && !bad.has('admin/host') && !bad.has('admin/port') && !bad.has('listen/host') &&
      !bad.has('listen/port') && admin.port !== 0 && admin.port === listen.port) {
      const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === '[::]'
      if (admin.host === listen.host || wildcard(admin.host) || wildcard(listen.host)) {
        this.issue(this.at(['admin', 'port']), ['admin', 'port'], `port ${admin.port} is also listen.port`)
      }
    }

    const upstreams: Record<string, UpstreamConfig> = {}
    const upstreamsIn = root.upstreams as Obj
    for (const name of Object.keys(upstreamsIn).sort()) {
      const u = upstreamsIn[name]
      if (!isObj(u)) continue
      const built = this.upstream(name, u, bad)
      if (built !== undefined) defineValue(upstreams, name, built)
    }

    const routesIn = root.routes as unknown[]
    const built: Array<RouteConfig | undefined> = []
    for (let i = 0; i < routesIn.length; i++) {
      const r = routesIn[i]
      built.push(isObj(r) ? this.route(i, r, bad) : undefined)
    }
    this.crossCheckRoutes(routesIn, upstreamsIn, bad)

    if (this.issues.length > 0) return undefined
    const server = root.server as GatewayConfig['server']
    const accessLog = root.accessLog as GatewayConfig['accessLog']
    return {
      listen: { host: listen.host, port: listen.port },
      admin: admin.token === undefined ? { host: admin.host, port: admin.port } : { host: admin.host, port: admin.port, token: admin.token },
      server: {
        bodyLimit: server.bodyLimit,
        trustedProxies: [...server.trustedProxies],
        headersTimeout: server.headersTimeout,
        requestTimeout: server.requestTimeout,
        keepAliveTimeout: server.keepAliveTimeout,
        drainTimeout: server.drainTimeout,
        maxHeaderSize: server.maxHeaderSize,
        maxUriLength: server.maxUriLength
      },
      accessLog: { enabled: accessLog.enabled },
      upstreams,
      routes: built as RouteConfig[]
    }
  }

  /** Checks an upstream; returns its output form when it is entirely valid. */
  private upstream (name: string, u: Obj, bad: Set<string>): UpstreamConfig | undefined {
    const path = ['upstreams', name]
    const balancer = u.balancer as UpstreamConfig['balancer']
    const hashOnText = u.hashOn as string | undefined
    if (bad.has(`upstreams/${name}/balancer`) || bad.has(`upstreams/${name}/hashOn`)) return undefined
    if (balancer === 'chash' && hashOnText === undefined) {
      this.issue(this.at([...path, 'balancer']), [...path, 'balancer'],
        'balancer "chash" needs hashOn ("header:NAME", "cookie:NAME", "ip" or "path")')
      return undefined
    }
    if (balancer !== 'chash' && hashOnText !== undefined) {
      this.issue(this.at([...path, 'hashOn']), [...path, 'hashOn'],
        `hashOn is only used by balancer "chash" (this upstream's balancer is ${JSON.stringify(balancer)})`)
      return undefined
    }
    if (bad.has(`upstreams/${name}`)) return undefined
    const nodes = (u.nodes as Obj[]).map((n) => {
      const node: UpstreamConfig['nodes'][number] = {
        url: (n.url as string).replace(/\/+$/, ''),
        weight: n.weight as number,
        metadata: sortedCopy(n.metadata as Record<string, string>)
      }
      if (n.zone !== undefined) node.zone = n.zone as string
      return node
    })
    const t = u.timeouts as UpstreamConfig['timeouts']
    const pool = u.pool as UpstreamConfig['pool']
    const out: UpstreamConfig = {
      name,
      balancer,
      nodes,
      timeouts: { connect: t.connect, header: t.header, idle: t.idle },
      pool: { connections: pool.connections, keepAliveTimeout: pool.keepAliveTimeout },
      retries: u.retries as number
    }
    if (hashOnText !== undefined) out.hashOn = parseHashOn(hashOnText)
    return out
  }

  /** Checks a route (the parts that passed the schema); returns its output form when it is entirely valid. */
  private route (i: number, r: Obj, bad: Set<string>): RouteConfig | undefined {
    const path = ['routes', i]
    const p = `routes/${i}`
    const before = this.issues.length
    const m = r.match as Obj
    const paths = isObj(m) ? m.paths as string[] : undefined
    const pathsOk = paths !== undefined && !bad.has(`${p}/match`) // match.*: also needed for conflicts
    const rw = r.rewrite as Obj
    if (isObj(rw) && Array.isArray(paths) && !bad.has(`${p}/match/paths`) && !bad.has(`${p}/rewrite`)) {
      this.checkRewrite(path, paths, rw)
    }
    const headersIn = (isObj(m) ? m.headers : undefined) as Record<string, ValueMatcher> | undefined
    if (isObj(headersIn) && !bad.has(`${p}/match/headers`)) {
      const seen = new Set<string>()
      for (const name of Object.keys(headersIn)) {
        const lower = name.toLowerCase()
        if (seen.has(lower)) {
          this.issue(this.at([...path, 'match', 'headers', name], true), [...path, 'match', 'headers'],
            `header ${JSON.stringify(name)} is given twice (header names are case-insensitive)`)
        }
        seen.add(lower)
      }
    }
    const plugins = r.plugins as Obj
    if (isObj(plugins)) {
      for (const name of Object.keys(plugins)) {
        const def = builtinPlugins.get(name)
        if (def?.check === undefined || bad.has(`${p}/plugins/${name}`)) continue
        let problems: string[]
        try {
          problems = def.check(plugins[name])
        } catch (err) {
          problems = [`check failed: ${(err as Error).message}`]
        }
        for (const msg of problems) this.issue(this.at([...path, 'plugins', name]), [...path, 'plugins', name], msg)
      }
    }
    if (this.issues.length > before || bad.has(p) || !pathsOk) return undefined

    const stripPrefix = rw.stripPrefix as boolean
    const prefix = rw.prefix as string | undefined
    const template = rw.path as string | undefined
    const match = normalMatch(m)
    const rewrite: RouteConfig['rewrite'] = { stripPrefix }
    if (prefix !== undefined) rewrite.prefix = prefix
    if (template !== undefined) rewrite.path = template
    const out: RouteConfig = {
      id: r.id as string,
      match,
      priority: r.priority as number,
      upstream: r.upstream as string,
      rewrite,
      websocket: r.websocket as boolean,
      plugins: sortedCopy(plugins)
    }
    if (r.bodyLimit !== undefined) out.bodyLimit = r.bodyLimit as number
    return out
  }

  /** stripPrefix / prefix need `/*` paths; at most one way to rewrite; template parameters must exist. */
  private checkRewrite (path: PathSegment[], paths: string[], rw: Obj): void {
    const stripPrefix = rw.stripPrefix === true
    const prefix = rw.prefix as string | undefined
    const template = rw.path as string | undefined
    const rwPath = [...path, 'rewrite']
    const notPrefixPath = paths.find((x) => !x.endsWith('/*'))
    if (stripPrefix && notPrefixPath !== undefined) {
      this.issue(this.at([...rwPath, 'stripPrefix']), [...rwPath, 'stripPrefix'],
        `stripPrefix needs every path of the route to end in "/*" (${JSON.stringify(notPrefixPath)} does not)`)
    }
    if (prefix !== undefined && notPrefixPath !== undefined) {
      this.issue(this.at([...rwPath, 'prefix']), [...rwPath, 'prefix'],
        `prefix needs every path of the route to end in "/*" (${JSON.stringify(notPrefixPath)} does not)`)
    }
    if (prefix !== undefined && template !== undefined) {
      this.issue(this.at(rwPath), rwPath, 'use either rewrite.prefix or rewrite.path, not both')
    } else if (stripPrefix && (prefix !== undefined || template !== undefined)) {
      const other = prefix !== undefined ? 'prefix' : 'path'
      this.issue(this.at([...rwPath, 'stripPrefix']), [...rwPath, 'stripPrefix'],
        `stripPrefix cannot be combined with rewrite.${other} (which already replaces the ${other === 'prefix' ? 'prefix' : 'whole path'})`)
    }
    if (template !== undefined) {
      for (const name of paramNames(template)) {
        const missing = paths.find((x) => !paramNames(x).includes(name))
        if (missing !== undefined) {
          this.issue(this.at([...rwPath, 'path']), [...rwPath, 'path'],
            `uses parameter ":${name}" which path ${JSON.stringify(missing)} does not have`)
          break
        }
      }
    }
  }

  /** Upstream references, duplicate ids, and routes no request can tell apart. */
  private crossCheckRoutes (routesIn: unknown[], upstreams: Obj, bad: Set<string>): void {
    const names = Object.keys(upstreams)
    const firstById = new Map<string, number>()
    const entries: Array<{ id: string; match: RouteMatch; priority: number; value: number }> = []
    for (let i = 0; i < routesIn.length; i++) {
      const r = routesIn[i]
      if (!isObj(r)) continue
      const up = r.upstream
      if (typeof up === 'string' && up !== '' && !bad.has(`routes/${i}/upstream`) && !Object.prototype.hasOwnProperty.call(upstreams, up)) {
        const guess = suggest(up, names)
        this.issue(this.at(['routes', i, 'upstream']), ['routes', i, 'upstream'],
          `unknown upstream ${JSON.stringify(up)}` +
          (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
          (names.length === 0 ? '; no upstreams are defined' : `; defined: ${names.join(', ')}`))
      }
      let unique = true
      if (typeof r.id === 'string' && !bad.has(`routes/${i}/id`)) {
        const first = firstById.get(r.id)
        if (first === undefined) {
          firstById.set(r.id, i)
        } else {
          unique = false
          this.issue(this.at(['routes', i, 'id']), ['routes', i, 'id'], `duplicate route id ${JSON.stringify(r.id)}`,
            { text: 'first defined at', location: this.at(['routes', first, 'id']) })
        }
      }
      // Conflicts only need the id, match and priority to be valid.
      const p = `routes/${i}`
      if (unique && typeof r.id === 'string' && isObj(r.match) && !bad.has(p + '/id') && !bad.has(p + '/match') && !bad.has(p + '/priority')) {
        entries.push({ id: r.id, match: normalMatch(r.match), priority: r.priority as number, value: i })
      }
    }
    const indexById = new Map(entries.map((e) => [e.id, e.value]))
    for (const c of findRouteConflicts(entries)) {
      const second = indexById.get(c.second)
      const first = indexById.get(c.first)
      if (second === undefined) continue
      this.issue(this.at(['routes', second, 'match']), ['routes', second, 'match'], c.reason,
        { text: `route ${JSON.stringify(c.first)} is at`, location: first === undefined ? undefined : this.at(['routes', first]) })
    }
  }
}

function kind (v: unknown): string {
  return Array.isArray(v) ? 'a list' : isObj(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`
}

/** The output form of a schema-valid `match:` (hosts lower-cased, methods upper-cased, header names lower-cased). */
function normalMatch (m: Obj): RouteMatch {
  const headers: Record<string, ValueMatcher> = {}
  const headersIn = m.headers as Record<string, ValueMatcher>
  for (const k of Object.keys(headersIn).sort((a, b) => cmp(a.toLowerCase(), b.toLowerCase()))) {
    defineValue(headers, k.toLowerCase(), copyMatcher(headersIn[k]!))
  }
  const query: Record<string, ValueMatcher> = {}
  const queryIn = m.query as Record<string, ValueMatcher>
  for (const k of Object.keys(queryIn).sort()) defineValue(query, k, copyMatcher(queryIn[k]!))
  return {
    hosts: [...new Set((m.hosts as string[]).map((h) => h.trim().toLowerCase()))],
    paths: [...(m.paths as string[])],
    methods: [...new Set((m.methods as string[]).map((x) => x.toUpperCase()))],
    headers,
    query
  }
}

function cmp (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function copyMatcher (m: ValueMatcher): ValueMatcher {
  if (typeof m === 'string') return m
  return 'regex' in m ? { regex: m.regex } : { present: m.present }
}

/** `header:NAME` / `cookie:NAME` / `ip` / `path` (already checked by the schema). */
export function parseHashOn (text: string): HashOn {
  if (text === 'ip') return { kind: 'ip' }
  if (text === 'path') return { kind: 'path' }
  const colon = text.indexOf(':')
  const k = text.slice(0, colon)
  const name = text.slice(colon + 1)
  return k === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name }
}
