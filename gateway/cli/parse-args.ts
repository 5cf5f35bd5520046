// Options of a `gateway` command. node:util parseArgs reads the tokens; the
// checks are made here so that every mistake reads as one line (its own
// errors carry hints over several lines, and a stack trace when uncaught).
import { parseArgs } from 'node:util'
import { UsageError } from './usage.js'

export type OptionSpecs = Record<string, { type: 'string' | 'boolean'; short?: string }>

export interface ParsedArgs {
  /** A later occurrence wins; `--no-NAME` sets boolean NAME to false. */
  values: Record<string, string | boolean>
  positionals: string[]
}

/** Each command decides what its positionals mean (or that it takes none). */
export function parseCommandArgs (args: string[], options: OptionSpecs): ParsedArgs {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true })
  const values: Record<string, string | boolean> = {}
  const positionals: string[] = []
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    const negated = token.name.startsWith('no-') ? token.name.slice(3) : undefined
    const spec = options[token.name] ?? (negated !== undefined && options[negated]?.type === 'boolean' ? options[negated] : undefined)
    if (spec === undefined) throw new UsageError(`unknown option ${token.rawName}`)
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`option ${token.rawName} takes no value`)
      if (negated !== undefined && options[token.name] === undefined) values[negated] = false
      else values[token.name] = true
      continue
    }
    // `--config --demo`: the next word is an option, not a value (write `--config=-x` for a file named -x).
    if (token.value === undefined || (token.inlineValue === false && token.value.startsWith('-'))) {
      throw new UsageError(`option ${token.rawName} needs a value`)
    }
    values[token.name] = token.value
  }
  return { values, positionals }
}
