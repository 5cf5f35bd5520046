// YAML text -> plain JS values, remembering where every value came from.
//
// Each mapping / sequence becomes a fresh object / array registered in a
// SourceMap: its YAML node and, per child (key or index), the key node and the
// value node, in whichever file they were written. Containers built by merging
// several files (the route list, the upstream map) get entries pointing into
// each file. An error at a JSON path can thus be reported at the right
// file:line:column, even after ajv filled in defaults or normalised values.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml'
import type { ConfigIssue, SourceLocation } from './types.js'
import { yamlIssues } from './yaml-errors.js'

export interface Source {
  /** Absolute path. */
  readonly file: string
  readonly lineCounter: LineCounter
  /** For resolving aliases when looking children up. */
  readonly doc: Document | null
}

export interface ChildRef {
  readonly src: Source
  /** The key's node (mappings only). */
  readonly key: Node | null
  /** The value's node; null when the YAML value is absent (`key:` without value). */
  readonly value: Node | null
}

/**
 * A container's origin. Children are looked up in the YAML node on demand
 * (only errors need them); containers built by merging files list theirs.
 */
export interface ContainerRef {
  readonly src: Source
  readonly node: Node | null
  readonly children?: Map<string, ChildRef>
}

export type PathSegment = string | number

/** Where the values of one load came from. */
export class SourceMap {
  // A Map, not a WeakMap: it lives only as long as one load, and is much cheaper for ~10^5 entries.
  private readonly refs = new Map<object, ContainerRef>()
  private readonly substituted = new Map<object, Set<string>>()

  set (container: object, ref: ContainerRef): void {
    this.refs.set(container, ref)
  }

  get (container: unknown): ContainerRef | undefined {
    return typeof container === 'object' && container !== null ? this.refs.get(container) : undefined
  }

  child (container: unknown, key: PathSegment): ChildRef | undefined {
    const ref = this.get(container)
    if (ref === undefined) return undefined
    if (ref.children !== undefined) return ref.children.get(String(key))
    return lookupChild(ref.src, ref.node, String(key), 0)
  }

  /** Records that `container[key]` was a whole `${VAR}` reference. */
  markSubstituted (container: object, key: PathSegment): void {
    let keys = this.substituted.get(container)
    if (keys === undefined) this.substituted.set(container, keys = new Set())
    keys.add(String(key))
  }

  isSubstituted (container: unknown, key: PathSegment): boolean {
    return typeof container === 'object' && container !== null && this.substituted.get(container)?.has(String(key)) === true
  }

  /**
   * Location of the value at `path` below `root` (`key: true`: of its key, for
   * unknown keys). Falls back to the nearest ancestor that has a known position.
   */
  locate (root: unknown, path: readonly PathSegment[], opts: { key?: boolean } = {}): SourceLocation | undefined {
    let current: unknown = root
    const rootRef = this.get(root)
    let best: SourceLocation | undefined = rootRef === undefined ? undefined : containerLocation(rootRef)
    for (let i = 0; i < path.length; i++) {
      const child = this.child(current, path[i]!)
      if (child === undefined) return best
      const last = i === path.length - 1
      const node = last && opts.key === true && child.key !== null ? child.key : childNode(child)
      best = nodeLocation(child.src, node) ?? best
      if (typeof current !== 'object' || current === null) return best
      current = (current as Record<string, unknown>)[String(path[i])]
    }
    return best
  }
}

function resolveAlias (src: Source, node: unknown, depth = 0): Node | null {
  if (isAlias(node)) {
    if (depth > 50 || src.doc === null) return null
    return resolveAlias(src, node.resolve(src.doc), depth + 1)
  }
  return (node ?? null) as Node | null
}

/** The child `key` of a YAML mapping (explicit keys, then `<<` merges) or sequence. */
function lookupChild (src: Source, input: Node | null, key: string, depth: number): ChildRef | undefined {
  const node = resolveAlias(src, input)
  if (isSeq(node)) {
    if (!/^\d+$/.test(key)) return undefined
    const item = node.items[Number(key)]
    return item === undefined ? undefined : { src, key: null, value: item as Node | null }
  }
  if (!isMap(node) || depth > 20) return undefined
  const merges: Pair[] = []
  for (const pair of node.items as Pair[]) {
    const k = resolveAlias(src, pair.key)
    if (isScalar(k) && typeof k.value === 'symbol') merges.push(pair)
    else if ((k === null ? '' : isScalar(k) ? String(k.value) : undefined) === key) {
      return { src, key: pair.key as Node | null, value: pair.value as Node | null }
    }
  }
  for (const pair of merges) {
    const target = resolveAlias(src, pair.value)
    const sources = isSeq(target) ? (target.items as Node[]) : [target]
    for (const source of sources) {
      const found = lookupChild(src, source, key, depth + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/** The node to point at for a child: its value, or its key when the value is empty. */
function childNode (child: ChildRef): Node | null {
  const v = child.value
  if (v === null) return child.key
  if (isScalar(v) && v.value === null && v.range !== undefined && v.range !== null && v.range[0] === v.range[1] && child.key !== null) {
    return child.key
  }
  return v
}

/** A container's own position (an empty document: its first line). */
export function containerLocation (ref: ContainerRef): SourceLocation {
  return nodeLocation(ref.src, ref.node) ?? { file: ref.src.file, line: 1, column: 1 }
}

export function nodeLocation (src: Source, node: Node | null | undefined): SourceLocation | undefined {
  if (node === null || node === undefined) return undefined
  const range = node.range
  if (range === undefined || range === null) return undefined
  return offsetLocation(src, range[0])
}

export function offsetLocation (src: Source, offset: number): SourceLocation {
  const { line, col } = src.lineCounter.linePos(offset)
  return { file: src.file, line, column: col }
}

export interface ParsedFile {
  readonly src: Source
  /** The converted value (null for an empty document); undefined when the YAML has errors. */
  readonly value: unknown
  /** The document's top node (for locations), null when empty. */
  readonly top: Node | null
}

/** Node budget: stops "billion laughs" alias bombs well before memory runs out. */
const MAX_NODES = 2_000_000

/**
 * Parses one YAML file. YAML errors (syntax, duplicate keys, several documents)
 * are appended to `issues` with their line:column (yaml-errors.ts: one per
 * slip); the value is then undefined.
 */
export function parseYaml (file: string, text: string, sourceMap: SourceMap, issues: ConfigIssue[]): ParsedFile {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
    strict: true
  })
  const src: Source = { file, lineCounter, doc }
  if (doc.errors.length > 0) {
    issues.push(...yamlIssues(src, text, doc.errors))
    return { src, value: undefined, top: null }
  }
  const top = (doc.contents ?? null) as Node | null
  const converter = new Converter(src, sourceMap, issues)
  const value = converter.convert(top)
  return { src, value: converter.failed ? undefined : value, top }
}

class Converter {
  failed = false
  private nodes = 0

  constructor (
    private readonly src: Source,
    private readonly sourceMap: SourceMap,
    private readonly issues: ConfigIssue[]
  ) {}

  private fail (node: Node | null, message: string): void {
    this.failed = true
    const location = nodeLocation(this.src, node) ?? { file: this.src.file, line: 1, column: 1 }
    this.issues.push({ location, path: '', message: `YAML: ${message}` })
  }

  private resolve (node: unknown): Node | null {
    return resolveAlias(this.src, node)
  }

  convert (input: Node | null): unknown {
    if (++this.nodes > MAX_NODES) {
      if (this.nodes === MAX_NODES + 1) this.fail(input, 'too many nodes (alias expansion bomb?)')
      return null
    }
    const node = this.resolve(input)
    if (node === null) return null
    if (isScalar(node)) {
      const v = node.value
      if (typeof v === 'bigint') return Number(v)
      if (typeof v === 'symbol') return v.description ?? ''
      return v
    }
    if (isSeq(node)) {
      const items = node.items as Array<Node | null>
      const arr: unknown[] = new Array(items.length)
      for (let i = 0; i < items.length; i++) arr[i] = this.convert(items[i]!)
      this.sourceMap.set(arr, { src: this.src, node })
      return arr
    }
    if (isMap(node)) {
      const obj: Record<string, unknown> = {}
      const merges: Pair[] = []
      for (const pair of node.items as Pair[]) {
        const keyNode = this.resolve(pair.key)
        if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
          merges.push(pair)
          continue
        }
        if (keyNode !== null && !isScalar(keyNode)) {
          this.fail(keyNode, 'keys must be plain scalars, not mappings or lists')
          continue
        }
        const key = keyNode === null ? '' : String(keyNode.value)
        this.assign(obj, key, pair.value as Node | null)
      }
      // `<<: *base` / `<<: [*a, *b]`: explicit keys win, then earlier sources.
      for (const pair of merges) {
        const target = this.resolve(pair.value)
        const sources = isSeq(target) ? target.items.map((n) => this.resolve(n)) : [target]
        for (const source of sources) {
          if (!isMap(source)) {
            this.fail((pair.value ?? pair.key) as Node | null, 'a merge key ("<<") takes a mapping or a list of mappings')
            continue
          }
          for (const p of source.items as Pair[]) {
            const k = this.resolve(p.key)
            if (!isScalar(k) || typeof k.value === 'symbol') continue
            const key = String(k.value)
            if (Object.prototype.hasOwnProperty.call(obj, key)) continue
            this.assign(obj, key, p.value as Node | null)
          }
        }
      }
      this.sourceMap.set(obj, { src: this.src, node })
      return obj
    }
    this.fail(node, 'unsupported YAML node')
    return null
  }

  private assign (obj: Record<string, unknown>, key: string, valueNode: Node | null): void {
    const value = this.convert(valueNode)
    // A "__proto__" key must stay data (it is then reported as an unknown key).
    if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
    else obj[key] = value
  }
}
