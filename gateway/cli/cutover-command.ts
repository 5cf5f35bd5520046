// `gateway cutover ROUTE --config FILE (--to COLOUR | --rollback | --ramp DURATION
// | --steps 5,25,50,100 --every DURATION | --status) [--dry-run]`: the
// blue-green switch and ramps of a route's traffic-split, written into the
// YAML file that defines the route (the main file or an included one) with
// comments and formatting kept. The whole config is validated with the change
// before the file is replaced (atomically); the running gateway picks the
// file up by its watcher. `--dry-run` shows the diff and writes nothing.
import { resolve } from 'node:path'
import { builtinRegistry, type PluginRegistry } from '../../plugins/registry.js'
import { displayFile } from '../config/format-issue.js'
import { formatIssue, loadConfig } from '../config/load-config.js'
import { parseDuration } from '../config/parse-duration.js'
import type { GatewayConfig } from '../config/types.js'
import { suggest } from '../config/validate.js'
import { FileChangedError, writeFileAtomic } from './atomic-write.js'
import { planCutover, splitStateOf, type CutoverAction } from './cutover-plan.js'
import { parseCommandArgs } from './parse-args.js'
import { editSplit } from './split-edit.js'
import { locateSplit, SPLIT_PLUGIN } from './split-location.js'
import { splitStatus } from './split-status.js'
import { binaryFileProblem } from './text-file.js'
import { unifiedDiff } from './unified-diff.js'
import { USAGE, UsageError } from './usage.js'
import { EditConflict } from './yaml-edit.js'

/** What the command reads and writes besides files: replaced by the tests. */
export interface CutoverIO {
  out (text: string): void
  err (text: string): void
  now (): Date
  env: NodeJS.ProcessEnv
  /** Plugins the config is validated against. */
  plugins: PluginRegistry
}

const processIO: CutoverIO = {
  out: (text) => { process.stdout.write(text) },
  err: (text) => { process.stderr.write(text) },
  now: () => new Date(),
  env: process.env,
  plugins: builtinRegistry
}

type Request =
  | { kind: 'status'; route: string; config: string }
  | { kind: 'edit'; route: string; config: string; action: CutoverAction; dryRun: boolean }

export async function cutoverCommand (args: string[], io: CutoverIO = processIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    config: { type: 'string', short: 'c' },
    to: { type: 'string' },
    rollback: { type: 'boolean' },
    ramp: { type: 'string' },
    steps: { type: 'string' },
    every: { type: 'string' },
    status: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) {
    io.out(USAGE)
    return 0
  }
  const req = requestOf(values, positionals)
  const fail = (why: string): number => {
    io.err(`gateway cutover: ${why}\n`)
    return 1
  }

  const binary = binaryFileProblem(resolve(req.config), req.config)
  if (binary !== undefined) return fail(binary)
  const loaded = loadConfig(resolve(req.config), io.env, io.plugins)
  if (!loaded.ok) {
    for (const issue of loaded.issues) io.err(formatIssue(issue) + '\n')
    return fail(`${req.config} is not valid as it is (${loaded.issues.length} error(s)); nothing changed`)
  }
  if (req.kind === 'status') {
    const r = await splitStatus(loaded.config.admin, req.route)
    if ('error' in r) return fail(r.error)
    io.out(r.text)
    return 0
  }

  const options = routeSplit(loaded.config, req.route)
  if (typeof options === 'string') return fail(options)
  const state = splitStateOf(options)
  if (state === undefined) return fail(`route "${req.route}": its ${SPLIT_PLUGIN} options have no sides and active colour`)
  const plan = planCutover(req.route, state, req.action, io.now())
  if (plan.kind === 'refused') return fail(plan.why)
  if (plan.kind === 'nothing') {
    io.out(`route ${req.route}: nothing to change (${plan.why})\n`)
    return 0
  }

  const show = (file: string): string => displayFile(file, process.cwd())
  const loc = locateSplit(loaded.files, req.route, show)
  if (typeof loc === 'string') return fail(loc)
  let text: string
  try {
    text = editSplit(loc, plan.change)
  } catch (err) {
    if (!(err instanceof EditConflict)) throw err
    return fail(`route "${req.route}": cannot edit ${loc.at} in place: ${err.message}; edit it by hand`)
  }
  const checked = loadConfig(resolve(req.config), io.env, io.plugins, { texts: new Map([[loc.file, text]]) })
  if (!checked.ok) {
    for (const issue of checked.issues) io.err(formatIssue(issue) + '\n')
    return fail(`the change would make the config invalid (${checked.issues.length} error(s)); ${show(loc.file)} is unchanged`)
  }

  const summary = plan.change.summary.map((l) => `  ${l}\n`).join('')
  if (req.dryRun) {
    io.out(`route ${req.route} in ${show(loc.file)} (dry run: nothing written):\n${summary}`)
    io.out(unifiedDiff(loc.text, text, show(loc.file)))
    return 0
  }
  try {
    writeFileAtomic(loc.file, text, loc.text)
  } catch (err) {
    if (err instanceof FileChangedError) return fail(err.message)
    const e = err as NodeJS.ErrnoException
    return fail(`cannot write ${show(loc.file)}: ${e.code ?? e.message}; nothing changed`)
  }
  io.out(`route ${req.route}: wrote ${show(loc.file)}; the running gateway reloads it\n${summary}`)
  return 0
}

/** The traffic-split options of route `id`, or why there are none. */
function routeSplit (config: GatewayConfig, id: string): unknown {
  const route = config.routes.find((r) => r.id === id)
  if (route === undefined) {
    const guess = suggest(id, config.routes.map((r) => r.id))
    return `no route "${id}" in the config` + (guess !== undefined ? ` (did you mean "${guess}"?)` : '')
  }
  const options = route.plugins[SPLIT_PLUGIN]
  return options === undefined ? `route "${id}" has no ${SPLIT_PLUGIN} plugin (plugins.${SPLIT_PLUGIN})` : options
}

const ACTIONS = ['--to', '--rollback', '--ramp', '--steps', '--status'] as const

/** What was asked for; a UsageError for a mistake in how it was asked. */
function requestOf (values: Record<string, string | boolean>, positionals: string[]): Request {
  const [route, extra] = positionals
  if (route === undefined) throw new UsageError('cutover needs a ROUTE (the id of a route with a traffic-split plugin)')
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (cutover takes one ROUTE)`)
  if (typeof values.config !== 'string') throw new UsageError('cutover needs --config FILE')
  const config = values.config
  const str = (k: string): string | undefined => typeof values[k] === 'string' ? values[k] as string : undefined
  const to = str('to')
  const ramp = str('ramp')
  const steps = str('steps')
  const every = str('every')
  const dryRun = values['dry-run'] === true
  const given = ACTIONS.filter((a) => values[a.slice(2)] !== undefined && values[a.slice(2)] !== false)
  const ramping = ramp !== undefined || steps !== undefined
  // --to names the side a ramp goes to; alone, it is the switch.
  const actions = ramping ? given.filter((a) => a !== '--to') : given
  if (actions.length === 0) throw new UsageError('cutover needs one of --to COLOUR, --rollback, --ramp DURATION, --steps LIST --every DURATION, --status')
  if (actions.length > 1) throw new UsageError(`cutover takes one of ${actions.join(', ')}`)
  if (every !== undefined && steps === undefined) throw new UsageError('--every goes with --steps')

  if (values.status === true) {
    if (dryRun) throw new UsageError('--dry-run does not go with --status (it only reads)')
    return { kind: 'status', route, config }
  }
  if (values.rollback === true) return { kind: 'edit', route, config, action: { kind: 'rollback' }, dryRun }
  if (ramp !== undefined) return { kind: 'edit', route, config, action: { kind: 'ramp', to, duration: durationArg('--ramp', ramp) }, dryRun }
  if (steps !== undefined) {
    if (every === undefined) throw new UsageError('--steps needs --every DURATION (the time between two steps)')
    return { kind: 'edit', route, config, action: { kind: 'steps', to, steps: stepsArg(steps), every: durationArg('--every', every) }, dryRun }
  }
  if (to === undefined || to === '') throw new UsageError('--to needs a COLOUR')
  return { kind: 'edit', route, config, action: { kind: 'to', colour: to }, dryRun }
}

/** A duration as the config writes it (`10m`, `90s`, `1h`), longer than 0. */
function durationArg (option: string, value: string): string {
  const ms = parseDuration(value)
  if (ms === undefined || !/[a-z]$/i.test(value.trim())) throw new UsageError(`${option} needs a duration such as 30s, 10m or 1h, got ${JSON.stringify(value)}`)
  if (ms === 0) throw new UsageError(`${option} must be longer than 0`)
  return value.trim()
}

/** `5,25,50,100`: percents (up to 2 decimals); the plugin's schema checks their order and range. */
function stepsArg (value: string): number[] {
  const parts = value.split(',').map((s) => s.trim())
  if (parts.some((p) => !/^\d+(\.\d{1,2})?$/.test(p))) throw new UsageError(`--steps needs percents separated by commas such as 5,25,50,100, got ${JSON.stringify(value)}`)
  return parts.map(Number)
}
