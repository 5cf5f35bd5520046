// The yaml package's errors for one file, as issues: one per slip, at the
// place the slip opened. The parser reports an unclosed quote or bracket where
// it gave up (often the end of the file) and then a cascade of follow-on
// errors; here the unclosed construct is found in the token tree (CST) and
// reported where it was opened, and errors after the first slip are dropped
// (they are read out of phase and would change once it is fixed). Errors that
// do not derail the parser (duplicate keys, bad escapes...) before it are kept.
import { Parser, type CST, type YAMLError } from 'yaml'
import { offsetLocation, type Source } from './yaml-source.js'
import type { ConfigIssue } from './types.js'

/** Codes after which the parser reads the rest of the file out of phase. */
const DERAILING = new Set([
  'BAD_INDENT', 'BAD_SCALAR_START', 'BLOCK_AS_IMPLICIT_KEY', 'BLOCK_IN_FLOW', 'IMPOSSIBLE',
  'MISSING_CHAR', 'MULTILINE_IMPLICIT_KEY', 'TAB_AS_INDENT', 'UNEXPECTED_TOKEN'
])

interface Unclosed { offset: number; message: string }

/** Issues for `errors` (the yaml package's, for `text`), in the file's order. */
export function yamlIssues (src: Source, text: string, errors: readonly YAMLError[]): ConfigIssue[] {
  const sorted = [...errors].sort((a, b) => a.pos[0] - b.pos[0])
  const derailing = sorted.find((e) => DERAILING.has(e.code))
  const unclosed = derailing === undefined ? undefined : firstUnclosed(text)
  let slip: { offset: number; message: string } | undefined
  if (unclosed !== undefined && unclosed.offset <= derailing!.pos[0]) slip = unclosed
  else if (derailing !== undefined) slip = { offset: slipStart(text, derailing.pos[0]), message: slipMessage(derailing, sorted, text, src) }

  const issues: ConfigIssue[] = []
  for (const e of sorted) {
    if (slip !== undefined && (e.pos[0] >= slip.offset || DERAILING.has(e.code))) continue
    issues.push({ location: offsetLocation(src, e.pos[0]), path: '', message: `YAML: ${independentMessage(e, text)}` })
  }
  if (slip !== undefined) issues.push({ location: offsetLocation(src, slip.offset), path: '', message: `YAML: ${slip.message}` })
  return issues
}

function independentMessage (err: YAMLError, text: string): string {
  if (err.code === 'DUPLICATE_KEY') {
    const key = /^(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^:\n,{}[\]]+)/.exec(text.slice(err.pos[0]))?.[0].trim()
    return key === undefined ? 'duplicate key' : `duplicate key ${/^["']/.test(key) ? key : JSON.stringify(key)}`
  }
  if (err.code === 'MULTIPLE_DOCS') return 'a config file must hold a single YAML document (found "---" separating several)'
  return err.message
}

/** A message for the first derailing error that is not an unclosed quote or bracket. */
function slipMessage (err: YAMLError, sorted: readonly YAMLError[], text: string, src: Source): string {
  if (err.code === 'BLOCK_AS_IMPLICIT_KEY' || err.code === 'MULTILINE_IMPLICIT_KEY') {
    // A value whose text runs on to the next line: a line indented too deep, or a quote closed too late.
    const end = Math.max(...sorted.filter((e) => e.pos[0] === err.pos[0]).map((e) => e.pos[1]))
    const startLine = offsetLocation(src, err.pos[0]).line
    const endLine = offsetLocation(src, Math.max(err.pos[0], end - 1)).line
    if (endLine > startLine) {
      const quote = text[err.pos[0]]
      if (quote === '"' || quote === "'") {
        return `the ${quote === '"' ? 'double' : 'single'}-quoted string opened here runs on to line ${endLine} (a missing closing quote?)`
      }
      return `bad indentation: the value that starts here runs on to line ${endLine}, which is indented deeper than its key`
    }
  }
  return err.message
}

/** Where to point for an error at `offset`: its line's text, not the spaces before it or the end of the file. */
function slipStart (text: string, offset: number): number {
  let i = offset
  while (i < text.length && text[i] === ' ') i++
  if (i < text.length && text[i] !== '\n' && text[i] !== '\r') return i
  i = Math.min(offset, text.length) - 1
  while (i > 0 && /\s/.test(text[i]!)) i--
  return Math.max(i, 0)
}

/** The first quote or bracket left open, innermost first (an unclosed quote leaves the brackets around it open too). */
function firstUnclosed (text: string): Unclosed | undefined {
  for (const token of new Parser().parse(text)) {
    const found = unclosedIn(token)
    if (found !== undefined) return found
  }
  return undefined
}

function unclosedIn (token: CST.Token | null | undefined): Unclosed | undefined {
  if (token === null || token === undefined) return undefined
  switch (token.type) {
    case 'document':
      return unclosedIn(token.value)
    case 'block-map': case 'block-seq':
      return unclosedInItems(token.items)
    case 'flow-collection': {
      const inner = unclosedInItems(token.items)
      if (inner !== undefined) return inner
      const open = token.start.source
      const close = open === '{' ? '}' : ']'
      if (token.end.some((t) => t.source === close)) return undefined
      return { offset: token.start.offset, message: `unclosed "${open}" opened here (no matching "${close}")` }
    }
    case 'double-quoted-scalar':
      return closesDoubleQuote(token.source) ? undefined : { offset: token.offset, message: 'unclosed double quote (") opened here' }
    case 'single-quoted-scalar':
      return closesSingleQuote(token.source) ? undefined : { offset: token.offset, message: 'unclosed single quote (\') opened here' }
    default:
      return undefined
  }
}

function unclosedInItems (items: readonly CST.CollectionItem[]): Unclosed | undefined {
  for (const item of items) {
    const found = unclosedIn(item.key) ?? unclosedIn(item.value)
    if (found !== undefined) return found
  }
  return undefined
}

/** `"..."` ends with a quote that is not escaped (an even run of backslashes before it). */
function closesDoubleQuote (source: string): boolean {
  if (source.length < 2 || !source.endsWith('"')) return false
  let backslashes = 0
  for (let i = source.length - 2; i > 0 && source[i] === '\\'; i--) backslashes++
  return backslashes % 2 === 0
}

/** `'...'` ends with a quote that is not one of a doubled pair (`''` is an escaped quote). */
function closesSingleQuote (source: string): boolean {
  let quotes = 0
  for (let i = source.length - 1; i > 0 && source[i] === "'"; i--) quotes++
  return quotes % 2 === 1
}
