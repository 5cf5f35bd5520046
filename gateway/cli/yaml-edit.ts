// Edits of one YAML mapping, made as splices of the file's text at the ranges
// of the nodes parseDocument found: every byte outside the touched keys stays
// as it was (comments, blank lines, quoting, flow or block style, anchors).
// Re-serialising the Document (doc.toString()) would re-flow the whole file:
// `{ a: [1] }` becomes `{ a: [ 1 ] }`, comment spacing is lost.
//
// Values written are small: strings, numbers, lists of numbers and one level
// of mapping (a ramp). A replaced scalar keeps its quoting.
import { isMap, isScalar, Scalar, stringify, type Node, type Pair, type YAMLMap } from 'yaml'

/** A string written double-quoted (a timestamp, so no reader takes it for a date). */
export interface Quoted { readonly quoted: string }

export type YamlValue = string | number | Quoted | readonly number[] | { readonly [key: string]: YamlValue }

interface Splice { start: number; end: number; text: string }

export class EditConflict extends Error {}

export function quoted (s: string): Quoted {
  return { quoted: s }
}

/** The plain JS value a YamlValue reads back as. */
export function plainValue (v: YamlValue): unknown {
  if (typeof v !== 'object') return v
  if (Array.isArray(v)) return [...(v as number[])]
  if ('quoted' in v && typeof v.quoted === 'string') return v.quoted
  return Object.fromEntries(Object.entries(v as Record<string, YamlValue>).map(([k, x]) => [k, plainValue(x)]))
}

export class MapEditor {
  readonly #text: string
  readonly #map: YAMLMap
  readonly #splices: Splice[] = []
  readonly #eol: string

  constructor (text: string, map: YAMLMap) {
    if (map.range === undefined || map.range === null) throw new EditConflict('the mapping has no position in the file')
    this.#text = text
    this.#map = map
    this.#eol = text.includes('\r\n') ? '\r\n' : '\n'
  }

  has (key: string): boolean {
    return this.#pair(key) !== undefined
  }

  /**
   * Sets `key` to `value`: an existing plain or quoted scalar is replaced in
   * place (its quoting, anchor and comment kept); anything else replaces the
   * whole entry. A new key goes after `after` when present, else last.
   */
  set (key: string, value: YamlValue, after?: string): void {
    const pair = this.#pair(key)
    if (pair === undefined) return this.#insert(key, value, after)
    const v = pair.value as Node | null
    if (isScalar(v) && typeof value !== 'object' && isInlineScalar(v)) {
      this.#replaceScalar(v, scalarText(value, v.type))
      return
    }
    if (this.#map.flow === true) {
      const [start, end] = this.#valueRange(pair)
      this.#splices.push({ start, end, text: this.#inline(value) })
      return
    }
    const [start, end] = this.#entryLines(pair)
    this.#splices.push({ start, end, text: this.#blockEntry(key, value, this.#indentOf(pair)) })
  }

  /** Removes `key` and its value (its whole lines in a block mapping, with any comment on them). */
  remove (key: string): void {
    const pair = this.#pair(key)
    if (pair === undefined) return
    if (this.#map.flow !== true) {
      const [start, end] = this.#entryLines(pair)
      this.#splices.push({ start, end, text: '' })
      return
    }
    const items = this.#map.items as Pair[]
    const i = items.indexOf(pair)
    const keyStart = (pair.key as Node).range![0]
    if (i > 0) this.#splices.push({ start: this.#valueRange(items[i - 1]!)[1], end: this.#valueRange(pair)[1], text: '' })
    else if (items.length > 1) this.#splices.push({ start: keyStart, end: (items[1]!.key as Node).range![0], text: '' })
    else this.#splices.push({ start: keyStart, end: this.#valueRange(pair)[1], text: '' })
  }

  /** The text with every edit made (in the order of their positions). */
  result (): string {
    const splices = [...this.#splices].sort((a, b) => a.start - b.start || a.end - b.end)
    let out = ''
    let at = 0
    for (const s of splices) {
      if (s.start < at) throw new EditConflict('two edits overlap')
      out += this.#text.slice(at, s.start) + s.text
      at = s.end
    }
    return out + this.#text.slice(at)
  }

  /** Replaces a scalar where it stands; a comment after it on the line stays in its column when the spaces allow. */
  #replaceScalar (v: Scalar, text: string): void {
    const [start, end] = v.range!
    let spaces = 0
    while (this.#text[end + spaces] === ' ') spaces++
    const delta = text.length - (end - start)
    if (this.#text[end + spaces] !== '#' || spaces === 0 || delta === 0) {
      this.#splices.push({ start, end, text })
      return
    }
    // Longer: take spaces from the padding (one is kept); shorter: pad.
    if (delta > 0) this.#splices.push({ start, end: end + Math.min(delta, spaces - 1), text })
    else this.#splices.push({ start, end, text: text + ' '.repeat(-delta) })
  }

  #pair (key: string): Pair | undefined {
    for (const pair of this.#map.items as Pair[]) {
      if (isScalar(pair.key) && String(pair.key.value) === key) return pair
    }
    return undefined
  }

  #insert (key: string, value: YamlValue, after: string | undefined): void {
    const items = this.#map.items as Pair[]
    const prev = (after !== undefined ? this.#pair(after) : undefined) ?? items[items.length - 1]
    if (prev === undefined) throw new EditConflict('the mapping is empty')
    if (this.#map.flow === true) {
      const at = this.#valueRange(prev)[1]
      this.#splices.push({ start: at, end: at, text: `, ${key}: ${this.#inline(value)}` })
      return
    }
    const at = this.#entryLines(prev)[1]
    const lead = at > 0 && this.#text[at - 1] !== '\n' ? this.#eol : ''
    this.#splices.push({ start: at, end: at, text: lead + this.#blockEntry(key, value, this.#indentOf(prev)) })
  }

  /** [start of the key, end of the value] of an entry (the key's end when it has no value). */
  #valueRange (pair: Pair): [number, number] {
    const k = pair.key as Node
    const v = pair.value as Node | null
    const end = v?.range !== undefined && v.range !== null ? Math.max(v.range[1], k.range![1]) : k.range![1]
    return [k.range![0], end]
  }

  /** From the start of the key's line to the end of the value's last line (its newline included). */
  #entryLines (pair: Pair): [number, number] {
    const text = this.#text
    const [keyStart, valueEnd] = this.#valueRange(pair)
    const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1
    if (text.slice(lineStart, keyStart).trim() !== '') throw new EditConflict(`the key ${JSON.stringify(String((pair.key as Scalar).value))} does not start its line`)
    if (valueEnd > 0 && text[valueEnd - 1] === '\n') return [lineStart, valueEnd]
    const nl = text.indexOf('\n', valueEnd)
    return [lineStart, nl < 0 ? text.length : nl + 1]
  }

  #indentOf (pair: Pair): string {
    const keyStart = (pair.key as Node).range![0]
    return this.#text.slice(this.#text.lastIndexOf('\n', keyStart - 1) + 1, keyStart)
  }

  /** One indentation step of this mapping's block children (default 2). */
  #step (): string {
    for (const pair of this.#map.items as Pair[]) {
      const v = pair.value
      if (!isMap(v) || v.flow === true || v.items.length === 0) continue
      const inner = this.#indentOf(v.items[0] as Pair).length - this.#indentOf(pair).length
      if (inner > 0) return ' '.repeat(inner)
    }
    return '  '
  }

  /** `KEY: VALUE` lines of a block mapping (a mapping value as block lines one step in). */
  #blockEntry (key: string, value: YamlValue, indent: string): string {
    const eol = this.#eol
    if (!isMapping(value)) return `${indent}${key}: ${this.#inline(value)}${eol}`
    const inner = indent + this.#step()
    const lines = Object.entries(value).map(([k, v]) => `${inner}${k}: ${this.#inline(v)}${eol}`)
    return `${indent}${key}:${eol}${lines.join('')}`
  }

  /** A value on one line; a mapping as `{ a: 1 }` (padded like this mapping when it is a flow one). */
  #inline (value: YamlValue): string {
    if (Array.isArray(value)) return `[${(value as number[]).map((n) => String(n)).join(', ')}]`
    if (isMapping(value)) {
      const pad = this.#map.flow === true && this.#text[this.#map.range![0] + 1] !== ' ' ? '' : ' '
      return `{${pad}${Object.entries(value).map(([k, v]) => `${k}: ${this.#inline(v)}`).join(', ')}${pad}}`
    }
    if (typeof value === 'object') return JSON.stringify((value as Quoted).quoted)
    return scalarText(value, Scalar.PLAIN)
  }
}

function isMapping (v: YamlValue): v is { readonly [key: string]: YamlValue } {
  return typeof v === 'object' && !Array.isArray(v) && !('quoted' in v)
}

/** A scalar written on one line (plain or quoted), which can be replaced where it stands. */
function isInlineScalar (s: Scalar): boolean {
  return s.range !== undefined && s.range !== null &&
    (s.type === Scalar.PLAIN || s.type === Scalar.QUOTE_DOUBLE || s.type === Scalar.QUOTE_SINGLE)
}

/** The text of a scalar in the quoting style `type`; plain only when it reads back as the same string. */
function scalarText (value: string | number, type: Scalar.Type | undefined): string {
  if (typeof value === 'number') return String(value)
  if (type === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`
  if (type !== Scalar.QUOTE_DOUBLE && /^[A-Za-z0-9_.\/+-][A-Za-z0-9_.:\/+-]*$/.test(value) && stringify(value).trimEnd() === value) return value
  return JSON.stringify(value)
}
