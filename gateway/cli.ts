#!/usr/bin/env node
// `gateway` command: start the gateway, or validate a config like `nginx -t`.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig, formatIssue } from './config/load-config.js'
import { ConfigRefusedError, Gateway } from './gateway.js'
import { startDemoUpstreams, type DemoUpstreams } from './demo/demo-upstreams.js'

const USAGE = `usage:
  gateway start --config FILE [--demo]   run the gateway (--demo also starts the blue/green demo upstreams on 127.0.0.1:9001/9002)
  gateway validate FILE                  check a config; exit 0 when valid, 1 with file:line:column errors otherwise
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'validate': return validate(rest)
    case 'start': return start(rest)
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`)
      return 2
  }
}

function validate (args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', short: 'c' } } })
  const file = values.config ?? positionals[0]
  if (file === undefined) {
    process.stderr.write(USAGE)
    return 2
  }
  const result = loadConfig(resolve(file))
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + '\n')
    process.stderr.write(`${file}: ${result.issues.length} error(s); config is NOT valid\n`)
    return 1
  }
  const c = result.config
  process.stdout.write(`${file}: OK (${c.routes.length} routes, ${Object.keys(c.upstreams).length} upstreams, ${result.files.length} files)\n`)
  return 0
}

async function start (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, demo: { type: 'boolean' } } })
  if (values.config === undefined) {
    process.stderr.write(USAGE)
    return 2
  }
  let demo: DemoUpstreams | undefined
  if (values.demo === true) demo = await startDemoUpstreams()
  let gw: Gateway
  try {
    gw = await Gateway.start({ configFile: resolve(values.config) })
  } catch (err) {
    await demo?.close()
    if (err instanceof ConfigRefusedError) {
      process.stderr.write(err.errors.join('\n') + '\ngateway not started: config is not valid\n')
      return 1
    }
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      process.stderr.write(`gateway not started: cannot listen on ${e.address ?? '?'}:${e.port ?? '?'} (${e.code})\n`)
      return 1
    }
    throw err
  }
  const stop = (signal: string): void => {
    gw.logger.info({ signal }, 'stopping: draining in-flight requests')
    gw.stop().then(async () => {
      await demo?.close()
      process.exit(0)
    }, (err) => {
      gw.logger.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  // A bug that escapes every handler leaves state unknown: log it as JSON like
  // everything else and exit non-zero so the supervisor starts a clean process.
  const fatal = (kind: string) => (err: unknown): void => {
    gw.logger.fatal({ err }, `${kind}; exiting`)
    process.exit(1)
  }
  process.on('uncaughtException', fatal('uncaught exception'))
  process.on('unhandledRejection', fatal('unhandled promise rejection'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  return -1 // keep running
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
