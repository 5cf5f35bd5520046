// Loads and validates the gateway configuration: the main YAML file plus the
// files and directories it includes. Synchronous and pure apart from reading
// files, so `gateway validate` and the hot-reloader (via load-in-worker.ts)
// share it. Every problem found is reported, each at file:line:column.
//
// Steps: parse each file (YAML errors, yaml-errors.ts) -> merge upstreams and
// routes of the included files after the main file's (merge-files.ts; an empty
// main file, or no routes and no `routes:` key anywhere, is refused) -> substitute ${VAR}
// in string values (substitute-vars.ts) -> JSON Schema, defaults filled in,
// sizes and durations turned into numbers (apply-schema.ts) -> checks a schema
// cannot express: cross references, duplicates, rewrite rules, plugin check(),
// route conflicts (build-model.ts, build-routes.ts) -> the normalised
// GatewayConfig and a digest.
import { createHash } from 'node:crypto'
import { dirname, resolve } from 'node:path'
import { builtinRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { applySchema } from './apply-schema.js'
import { buildModel } from './build-model.js'
import { IssueSink, type Locate } from './issue-sink.js'
import { mergeIncludes, mergeMainFile, readConfigFile, type MergeContext } from './merge-files.js'
import { isObj } from './plain-object.js'
import { substituteAll } from './substitute-vars.js'
import type { ConfigIssue, GatewayConfig } from './types.js'
import { nodeLocation, parseYaml, SourceMap } from './yaml-source.js'

export { formatIssue, formatIssueRelativeTo, formatIssues } from './format-issue.js'
export { parseHashOn } from './build-model.js'

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
  /** Digest of the `redis:` section ('' when there is none): the shared connection is kept while it is unchanged. */
  redis: string
}

export interface LoadOptions {
  /**
   * Texts to read instead of what the disk holds, by absolute path: a change
   * is validated, with everything it includes, before it is written
   * (`gateway cutover`). Which files are included is still read from the disk.
   */
  readonly texts?: ReadonlyMap<string, string>
}

/** A config with no routes answers 404 to everything: refused unless it says `routes:`. */
const NO_ROUTES = 'no routes in this file or the files it includes: every request would be answered 404; ' +
  'write "routes: []" to run without routes on purpose'

/**
 * Loads `mainFile` and everything it includes. `files` lists every file read
 * (absolute paths), plus each included directory (so a watcher notices files
 * added to it). `digest` is the sha256 of the normalised config (canonical JSON).
 * Route plugins are validated against `plugins` (default: the built-in ones).
 */
export function loadConfig (
  mainFile: string,
  env: NodeJS.ProcessEnv = process.env,
  plugins: PluginRegistry = builtinRegistry,
  opts: LoadOptions = {}
): LoadResult {
  const issues = new IssueSink()
  const files: string[] = []
  const sm = new SourceMap()
  const fail = (): LoadResult => ({ ok: false, issues: issues.inReadingOrder(files), files })

  const mainPath = resolve(mainFile)
  const text = readConfigFile(mainPath, { files, issues, texts: opts.texts }, undefined, 'config file')
  if (text === undefined) return fail()
  const main = parseYaml(mainPath, text, sm, issues.list)
  if (main.value === undefined) return fail()
  const top = main.value
  if (top === null) {
    issues.add({ file: mainPath, line: 1, column: 1 }, [], 'config file is empty')
    return fail()
  }
  if (!isObj(top)) {
    issues.add(nodeLocation(main.src, main.top), [], 'the top level must be a mapping (listen:, upstreams:, routes: ...)')
    return fail()
  }

  const { root, sections } = mergeMainFile(top, main.src, sm, issues)
  const at: Locate = (path, key = false) => sm.locate(root, path, { key })
  const ctx: MergeContext = { issues, at, env, sm, files, mainDir: dirname(mainPath), texts: opts.texts }
  const before = issues.count
  mergeIncludes(root, sections, ctx)
  // An include that could not be read or parsed may be where the routes are.
  if (issues.count === before && sections.routes.length === 0 && !sections.routesKey) {
    issues.add(nodeLocation(main.src, main.top), [], NO_ROUTES)
  }
  substituteAll(ctx, root, [])
  const bad = applySchema(root, sm, ctx, plugins.plugins)

  const config = buildModel(root, bad, ctx, plugins.plugins)
  if (issues.count > 0 || config === undefined) return fail()
  return { ok: true, config, files, digest: digestOf(config), keys: keysOf(config) }
}

/** sha256 of the config's JSON: user-keyed maps are built with sorted keys, so this JSON is canonical. */
function digestOf (config: GatewayConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex')
}

function keysOf (config: GatewayConfig): ConfigKeys {
  const keyOf = (v: unknown): string => createHash('sha1').update(JSON.stringify(v)).digest('base64')
  return {
    routes: config.routes.map(keyOf),
    upstreams: Object.fromEntries(Object.entries(config.upstreams).map(([name, u]) => [name, keyOf(u)])),
    redis: config.redis === undefined ? '' : keyOf(config.redis)
  }
}
