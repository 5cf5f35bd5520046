// Reads the config files and merges them into one tree: the main file's
// sections, then the `upstreams:` and `routes:` of each file named by
// `include:` (directories expand to their *.yaml / *.yml files), in order.
// The merged containers are registered in the SourceMap with entries pointing
// into each file, so every later issue is reported where it was written.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { displayFile } from './format-issue.js'
import type { IssueSink } from './issue-sink.js'
import { defineValue, isObj, type Obj } from './plain-object.js'
import { INCLUDE_FILE_KEYS } from './schema.js'
import { substituteIn, type SubstitutionContext } from './substitute-vars.js'
import type { SourceLocation } from './types.js'
import { suggest } from './validate.js'
import { nodeLocation, parseYaml, type ChildRef, type ContainerRef, type PathSegment, type Source, type SourceMap } from './yaml-source.js'

/** What reading the included files needs besides substitution. */
export interface MergeContext extends SubstitutionContext {
  /** Every file read so far (absolute paths), and each included directory. */
  readonly files: string[]
  /** Include paths are relative to it. */
  readonly mainDir: string
  /** Texts read instead of the disk's, by absolute path (see LoadOptions). */
  readonly texts: ReadonlyMap<string, string> | undefined
}

/** The merged `routes:` and `upstreams:`, with the SourceMap entries that list where each entry came from. */
export interface MergedSections {
  readonly routes: unknown[]
  readonly routesRef: ContainerRef
  readonly upstreams: Obj
  readonly upstreamsRef: ContainerRef
  /** Some file has a `routes:` key (even `routes: []`): no routes at all is then what was meant. */
  routesKey: boolean
}

interface IncludeTarget { file: string; at: SourceLocation | undefined; index: number }

/**
 * The text of `file` (from `texts` when it holds one), which is added to
 * `files`; undefined (and an issue at `at`) when it cannot be read.
 */
export function readConfigFile (
  file: string,
  read: { files: string[]; issues: IssueSink; texts: ReadonlyMap<string, string> | undefined },
  at: SourceLocation | undefined,
  what: string,
  path: PathSegment[] = []
): string | undefined {
  const { files, issues, texts } = read
  try {
    const text = texts?.get(file) ?? readFileSync(file, 'utf8')
    files.push(file)
    return text
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message
    issues.add(at, path, `cannot read ${what} ${JSON.stringify(file)}: ${reason}`)
    return undefined
  }
}

/**
 * The merged root: the main file's (`top`) sections, with `routes` and
 * `upstreams` replaced by merged containers holding the main file's entries.
 * Empty top-level sections are removed from `top` (they mean defaults).
 */
export function mergeMainFile (top: Obj, src: Source, sm: SourceMap, issues: IssueSink): { root: Obj; sections: MergedSections } {
  const topRef = sm.get(top)!
  const routesKey = Object.prototype.hasOwnProperty.call(top, 'routes')
  // An empty section (`server:` with everything commented out) means defaults.
  for (const k of Object.keys(top)) if (top[k] === null) delete top[k]

  // The merged root: the main file's sections, then routes and upstreams of all files.
  const root: Obj = {}
  const rootChildren = new Map<string, ChildRef>()
  for (const k of Object.keys(top)) {
    const child = sm.child(top, k)
    if (child !== undefined) rootChildren.set(k, child)
    if (k !== 'routes' && k !== 'upstreams') defineValue(root, k, top[k])
  }
  // `routes` / `upstreams` of the root are always the merged containers, whose
  // entries point into each file: without this, a main file with no such key
  // (only `include:`) would hide them and every error in them would be put at
  // the main file's first line.
  for (const k of ['routes', 'upstreams']) {
    if (!rootChildren.has(k)) rootChildren.set(k, { src, key: null, value: null })
  }
  sm.set(root, { src, node: topRef.node, children: rootChildren })

  const sections: MergedSections = {
    routes: [],
    routesRef: { src, node: rootChildren.get('routes')?.value ?? topRef.node, children: new Map() },
    upstreams: {},
    upstreamsRef: { src, node: rootChildren.get('upstreams')?.value ?? topRef.node, children: new Map() },
    routesKey
  }
  sm.set(sections.routes, sections.routesRef)
  sm.set(sections.upstreams, sections.upstreamsRef)
  root.upstreams = sections.upstreams
  root.routes = sections.routes

  mergeFrom(top, src, sections, sm, issues)
  return { root, sections }
}

/** Reads the files named by the root's `include:` and merges their sections after the ones merged so far. */
export function mergeIncludes (root: Obj, sections: MergedSections, ctx: MergeContext): void {
  const { sm, issues, files } = ctx
  for (const target of includeTargets(root, ctx)) {
    if (files.includes(target.file)) {
      issues.add(target.at, ['include', target.index],
        `${displayFile(target.file, ctx.mainDir)} is already loaded (included twice, or the main file)`)
      continue
    }
    const inc = readConfigFile(target.file, ctx, target.at, 'included file', ['include', target.index])
    if (inc === undefined) continue
    const parsed = parseYaml(target.file, inc, sm, issues.list)
    if (parsed.value === undefined || parsed.value === null) continue
    if (!isObj(parsed.value)) {
      issues.add(nodeLocation(parsed.src, parsed.top), [], 'an included file must be a mapping with "upstreams:" and/or "routes:"')
      continue
    }
    for (const k of Object.keys(parsed.value)) {
      if ((INCLUDE_FILE_KEYS as readonly string[]).includes(k)) continue
      const guess = suggest(k, INCLUDE_FILE_KEYS)
      issues.add(nodeLocation(parsed.src, sm.child(parsed.value, k)?.key), [k],
        `unknown key ${JSON.stringify(k)}` + (guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : '') +
        '; an included file may only contain "upstreams" and "routes"')
    }
    mergeFrom(parsed.value, parsed.src, sections, sm, issues)
  }
}

/** Appends a file's `routes:` and `upstreams:` to the merged ones. */
function mergeFrom (file: Obj, src: Source, sections: MergedSections, sm: SourceMap, issues: IssueSink): void {
  const { routes, routesRef, upstreams, upstreamsRef } = sections
  if (Object.prototype.hasOwnProperty.call(file, 'routes')) sections.routesKey = true
  const fileRoutes = file.routes
  if (Array.isArray(fileRoutes)) {
    for (let i = 0; i < fileRoutes.length; i++) {
      routesRef.children!.set(String(routes.length), sm.child(fileRoutes, i)!)
      routes.push(fileRoutes[i])
    }
  } else if (fileRoutes !== undefined && fileRoutes !== null) {
    issues.add(nodeLocation(src, sm.child(file, 'routes')?.value), ['routes'], `must be a list, got ${kind(fileRoutes)}`)
  }
  const fileUpstreams = file.upstreams
  if (isObj(fileUpstreams)) {
    for (const name of Object.keys(fileUpstreams)) {
      const child = sm.child(fileUpstreams, name)!
      const first = upstreamsRef.children!.get(name)
      if (first !== undefined) {
        issues.add(nodeLocation(child.src, child.key), ['upstreams', name], `duplicate upstream ${JSON.stringify(name)}`,
          { text: 'first defined at', location: nodeLocation(first.src, first.key) })
        continue
      }
      upstreamsRef.children!.set(name, child)
      defineValue(upstreams, name, fileUpstreams[name])
    }
  } else if (fileUpstreams !== undefined && fileUpstreams !== null) {
    issues.add(nodeLocation(src, sm.child(file, 'upstreams')?.value), ['upstreams'],
      `must be a mapping of name -> upstream, got ${kind(fileUpstreams)}`)
  }
}

/** Files named by `include:` (directories expand to their *.yaml / *.yml files, sorted). */
function includeTargets (root: Obj, ctx: MergeContext): IncludeTarget[] {
  const { issues, at, files } = ctx
  const list = root.include
  if (!Array.isArray(list)) return [] // wrong type: reported by the schema
  const targets: IncludeTarget[] = []
  for (let i = 0; i < list.length; i++) {
    // A failed ${VAR}: reported; the unsubstituted text is no path to look for.
    if (!substituteIn(ctx, list, i, ['include'])) continue
    const entry = list[i]
    if (typeof entry !== 'string' || entry === '') continue // reported by the schema
    const entryAt = at(['include', i])
    const path = resolve(ctx.mainDir, entry)
    let stat
    try {
      stat = statSync(path)
    } catch {
      issues.add(entryAt, ['include', i], `include path not found: ${JSON.stringify(entry)} (resolved to ${path})`)
      continue
    }
    if (stat.isDirectory()) {
      if (!files.includes(path)) files.push(path)
      let names: string[]
      try {
        names = readdirSync(path)
      } catch (err) {
        issues.add(entryAt, ['include', i], `cannot read directory ${JSON.stringify(entry)}: ${(err as Error).message}`)
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
        targets.push({ file, at: entryAt, index: i })
      }
    } else {
      targets.push({ file: path, at: entryAt, index: i })
    }
  }
  return targets
}

function kind (v: unknown): string {
  return Array.isArray(v) ? 'a list' : isObj(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`
}
