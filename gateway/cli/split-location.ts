// Where a route's traffic-split options are written: which of the config's
// files (the main one or an included one: the files the loader read) and which
// YAML mapping in it. Only a mapping written out in place can be edited; one
// reached through an alias or a merge key (`<<`) is shared with other places.
import { readFileSync, statSync } from 'node:fs'
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml'

export const SPLIT_PLUGIN = 'traffic-split'

/** Parse options of the config loader (gateway/config/yaml-source.ts). */
export const PARSE_OPTIONS = { prettyErrors: false, uniqueKeys: true, merge: true, strict: true } as const

export interface SplitLocation {
  /** Absolute path. */
  readonly file: string
  readonly text: string
  readonly doc: Document
  /** Path of the mapping in the document: ['routes', i, 'plugins', 'traffic-split']. */
  readonly path: readonly (string | number)[]
  readonly map: YAMLMap
  /** `file:line` of the mapping. */
  readonly at: string
}

/**
 * Finds route `routeId`'s traffic-split mapping in `files` (the loader's list:
 * regular files are searched, directories skipped). A string says why it cannot
 * be edited in place (files in it shown by `show`).
 */
export function locateSplit (files: readonly string[], routeId: string, show: (file: string) => string = (f) => f): SplitLocation | string {
  for (const file of files) {
    if (!isFile(file)) continue
    const text = readFileSync(file, 'utf8')
    const lineCounter = new LineCounter()
    const doc = parseDocument(text, { ...PARSE_OPTIONS, lineCounter })
    if (doc.errors.length > 0) continue
    const where = (node: Node | null | undefined): string => {
      const line = node?.range !== undefined && node.range !== null ? lineCounter.linePos(node.range[0]).line : 1
      return `${show(file)}:${line}`
    }
    const routes = entry(doc.contents, 'routes')
    if (!isSeq(routes)) continue
    for (let i = 0; i < routes.items.length; i++) {
      const item = routes.items[i] as Node | null
      if (isAlias(item)) {
        const target = item.resolve(doc)
        if (isMap(target) && scalarText(entry(target, 'id')) === routeId) return `route "${routeId}" is written through an alias (${where(item)}); edit it by hand`
        continue
      }
      if (!isMap(item) || scalarText(entry(item, 'id')) !== routeId) continue
      const plugins = entry(item, 'plugins')
      const split = isMap(plugins) ? entry(plugins, SPLIT_PLUGIN) : undefined
      if (isMap(split)) {
        const shared = [item, plugins as Node, split].find((n) => isAliased(doc, n))
        if (shared !== undefined) return `route "${routeId}": its ${SPLIT_PLUGIN} options are shared through an anchor (${where(shared)}); edit them by hand`
        return { file, text, doc, path: ['routes', i, 'plugins', SPLIT_PLUGIN], map: split, at: where(split) }
      }
      return `route "${routeId}": its ${SPLIT_PLUGIN} options are not written out in place at ${where(item)} ` +
        '(an alias or a merge key "<<" shares them with other places); edit them by hand'
    }
  }
  return `route "${routeId}": cannot find where it is written in the config files (is its id a \${VAR}?); edit it by hand`
}

/** The value of `key` in a mapping, written as an explicit key (merge keys not followed). */
function entry (node: unknown, key: string): Node | null | undefined {
  if (!isMap(node)) return undefined
  for (const pair of node.items as Pair[]) {
    if (isScalar(pair.key) && String(pair.key.value) === key) return pair.value as Node | null
  }
  return undefined
}

/** Some alias of the document refers to `node`. */
function isAliased (doc: Document, node: Node): boolean {
  let found = false
  visit(doc, {
    Alias (_key, alias) {
      if (alias.resolve(doc) !== node) return undefined
      found = true
      return visit.BREAK
    }
  })
  return found
}

function scalarText (node: Node | null | undefined): string | undefined {
  return isScalar(node) && node.value !== null ? String(node.value) : undefined
}

function isFile (path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
