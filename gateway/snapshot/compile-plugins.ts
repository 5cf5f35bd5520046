// Compiles a `plugins:` map (a route's, or the top-level one of global plugins)
// into a PluginChain: instances in run order and their phase functions, each
// phase an array the request path walks. An instance of the previous chain is
// reused, with its state, while its plugin's options are unchanged and the
// services it read (Redis connection, node id) are the same.
import { byPriority, type PluginMap } from '../../plugins/registry.js'
import type { PluginDefinition, PluginEnv, PluginInstance } from '../../plugins/types.js'
import { isStale, type Services, type Uses } from '../services/plugin-services.js'
import type { AccessStep, CompiledPlugin, LogFn, OutcomeFn, PluginChain, ResponseFn } from './types.js'

/** The longest delay a Node timer takes (a longer one would fire at once). */
const MAX_TIMEOUT = 2 ** 31 - 1

/**
 * `where` names the map in errors (`route "a"`, `global plugins`); `env`
 * makes the environment of a new instance, recording in `uses` the services
 * it reads.
 */
export function compilePlugins (
  options: Readonly<Record<string, unknown>>,
  old: PluginChain | undefined,
  defs: PluginMap,
  scope: PluginEnv['scope'],
  where: string,
  services: Services,
  env: (def: PluginDefinition, uses: Uses) => PluginEnv
): PluginChain {
  const used: PluginDefinition[] = []
  for (const name of Object.keys(options)) {
    const def = defs.get(name)
    if (def === undefined) throw new Error(`${where}: unknown plugin "${name}"`)
    used.push(def)
  }
  used.sort(byPriority)
  const plugins = used.map((def): CompiledPlugin => {
    const optionsKey = JSON.stringify(options[def.name])
    const same = old?.plugins.find((p) => p.name === def.name && p.optionsKey === optionsKey)
    if (same !== undefined && !isStale(same.uses, services)) return same
    const uses: Uses = {}
    const instance = def.create(options[def.name], env(def, uses))
    try {
      checkInstance(instance, `${where}: plugin "${def.name}"`)
    } catch (err) {
      void Promise.resolve().then(() => instance.close?.()).catch(() => {})
      throw err
    }
    return { name: def.name, optionsKey, instance, uses }
  })
  const access: AccessStep[] = []
  const response: ResponseFn[] = []
  const log: LogFn[] = []
  const outcome: OutcomeFn[] = []
  let needsBody = false
  for (const { name, instance } of plugins) {
    if (instance.needsBody === true) needsBody = true
    if (instance.access !== undefined) {
      access.push({
        run: instance.access.bind(instance),
        plugin: name,
        scope,
        timeout: instance.accessTimeout ?? 0,
        failOpen: instance.onAccessTimeout === 'open'
      })
    }
    if (instance.response !== undefined) response.push(instance.response.bind(instance))
    if (instance.log !== undefined) log.push(instance.log.bind(instance))
    if (instance.outcome !== undefined) outcome.push(instance.outcome.bind(instance))
  }
  return { access, response, log, outcome, plugins, needsBody }
}

/** The instances of `prev` that `next` no longer holds (to be close()d once `prev` retires). */
export function retiredInstances (prev: PluginChain, next: PluginChain | undefined, into: PluginInstance[]): void {
  for (const p of prev.plugins) {
    if (next?.plugins.some((q) => q.instance === p.instance) !== true) into.push(p.instance)
  }
}

/** What the core reads from an instance besides its phases: a plugin bug is refused at compile time, not met per request. */
function checkInstance (instance: PluginInstance, what: string): void {
  const t = instance.accessTimeout
  if (t !== undefined && !(Number.isInteger(t) && t >= 1 && t <= MAX_TIMEOUT)) {
    throw new Error(`${what}: accessTimeout must be an integer number of ms from 1 to ${MAX_TIMEOUT}, got ${String(t)}`)
  }
  const policy = instance.onAccessTimeout
  if (policy !== undefined && policy !== 'open' && policy !== 'closed') {
    throw new Error(`${what}: onAccessTimeout must be "open" or "closed", got ${JSON.stringify(policy)}`)
  }
}
