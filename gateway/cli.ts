#!/usr/bin/env node
// `gateway` command: start the gateway, validate configs like `nginx -t`, or
// switch a route's traffic-split (cutover).
// A mistake in how it is called gets one line and the usage (exit 2), never a stack trace.
import { cutoverCommand } from './cli/cutover-command.js'
import { startCommand } from './cli/start-command.js'
import { USAGE, UsageError } from './cli/usage.js'
import { validateCommand } from './cli/validate-command.js'

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'validate': return validateCommand(rest)
    case 'start': return startCommand(rest)
    case 'cutover': return cutoverCommand(rest)
    case undefined:
      process.stderr.write(USAGE)
      return 2
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`gateway: ${err.message}\n${USAGE}`)
    process.exitCode = 2
    return
  }
  // A bug: one line; the stack only when asked for with LOG_LEVEL=debug or trace.
  const e = err as Error
  const debug = process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace'
  process.stderr.write(debug ? `${e.stack ?? String(err)}\n` : `gateway: unexpected error: ${e.message ?? String(err)}\n`)
  process.exitCode = 1
})
