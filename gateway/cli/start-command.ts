// `gateway start --config FILE [--demo]`: runs the gateway until SIGTERM or
// SIGINT (see process-control.ts), optionally with the demo upstreams.
import { resolve } from 'node:path'
import { levels } from 'pino'
import { ConfigRefusedError, Gateway } from '../gateway.js'
import { startDemoUpstreams, type DemoUpstreams } from '../demo/demo-upstreams.js'
import { createLogger } from '../observability/logger.js'
import { parseCommandArgs } from './parse-args.js'
import { ProcessControl, StartupAbandoned } from './process-control.js'
import { binaryFileProblem } from './text-file.js'
import { USAGE, UsageError } from './usage.js'

/** Resolves with the exit code, or -1 once the gateway runs (the process then exits on a signal). */
export async function startCommand (args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    config: { type: 'string', short: 'c' },
    demo: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const [extra] = positionals
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (did you mean --config ${extra}?)`)
  if (typeof values.config !== 'string') throw new UsageError('start needs --config FILE')
  const configFile = resolve(values.config)
  const level = logLevelFromEnv()
  const binary = binaryFileProblem(configFile, values.config)
  if (binary !== undefined) {
    process.stderr.write(`${binary}\ngateway not started: config is not valid\n`)
    return 1
  }

  const logger = createLogger(level)
  const control = ProcessControl.install(logger)
  let demo: DemoUpstreams | undefined
  if (values.demo === true) {
    try {
      demo = await startDemoUpstreams()
    } catch (err) {
      const why = listenFailure(err)
      if (why === undefined) throw err
      process.stderr.write(`gateway not started: demo upstream ${why}\n${USAGE}`)
      return 1
    }
  }
  let gw: Gateway
  try {
    gw = await Gateway.start({ configFile, logger, signal: control.startup })
  } catch (err) {
    await demo?.close()
    if (err instanceof StartupAbandoned) return 0
    if (err instanceof ConfigRefusedError) {
      process.stderr.write(err.errors.join('\n') + '\ngateway not started: config is not valid\n')
      return 1
    }
    const why = listenFailure(err)
    if (why === undefined) throw err
    process.stderr.write(`gateway not started: ${why}\n`)
    return 1
  }
  control.started(gw, async () => { await demo?.close() })
  return -1
}

const LOG_LEVELS = [...Object.keys(levels.values).sort((a, b) => levels.values[a]! - levels.values[b]!), 'silent']

function logLevelFromEnv (): string {
  const level = process.env.LOG_LEVEL
  if (level === undefined || level === '') return 'info'
  if (LOG_LEVELS.includes(level)) return level
  throw new UsageError(`unknown LOG_LEVEL ${JSON.stringify(level)} (use one of ${LOG_LEVELS.join(', ')})`)
}

/** "cannot listen on HOST:PORT (CODE)" for an error of listen(), else undefined. */
function listenFailure (err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
  if (e.code !== 'EADDRINUSE' && e.code !== 'EACCES' && e.code !== 'EADDRNOTAVAIL') return undefined
  return `cannot listen on ${e.address ?? '?'}:${e.port ?? '?'} (${e.code})`
}
