// `gateway validate FILE...`: checks each config like `nginx -t`; exit 0 when
// all are valid, 1 when any is not (every file is checked either way).
import { resolve } from 'node:path'
import { formatIssue, loadConfig } from '../config/load-config.js'
import { parseCommandArgs } from './parse-args.js'
import { binaryFileProblem } from './text-file.js'
import { USAGE, UsageError } from './usage.js'

export function validateCommand (args: string[]): number {
  const { values, positionals } = parseCommandArgs(args, {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const files = typeof values.config === 'string' ? [values.config, ...positionals] : positionals
  if (files.length === 0) throw new UsageError('validate needs a config FILE')
  let invalid = 0
  for (const file of files) if (!validateOne(file)) invalid++
  return invalid === 0 ? 0 : 1
}

function validateOne (file: string): boolean {
  const binary = binaryFileProblem(resolve(file), file)
  if (binary !== undefined) {
    process.stderr.write(binary + '\n')
    return false
  }
  const result = loadConfig(resolve(file))
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + '\n')
    process.stderr.write(`${file}: ${result.issues.length} error(s); config is NOT valid\n`)
    return false
  }
  const c = result.config
  process.stdout.write(`${file}: OK (${c.routes.length} routes, ${Object.keys(c.upstreams).length} upstreams, ${result.files.length} files)\n`)
  return true
}
