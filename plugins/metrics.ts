// Metrics for plugins. env.metrics (the registry of the admin /metrics) lives
// as long as the process, a plugin instance only until a reload replaces it:
// each instance asks for its metrics by name and gets the one already
// registered (by an earlier instance, or another route's) or a new one. Label
// them by route (env.routeId, or '(global)').
import { Counter, Gauge, type Registry } from 'prom-client'

/** The counter `name` of `registry`, created on first use. */
export function counter<T extends string> (registry: Registry, name: string, help: string, labelNames: readonly T[]): Counter<T> {
  return single(registry, name, labelNames, Counter, () => new Counter({ name, help, labelNames, registers: [registry] }))
}

/** The gauge `name` of `registry`, created on first use. */
export function gauge<T extends string> (registry: Registry, name: string, help: string, labelNames: readonly T[]): Gauge<T> {
  return single(registry, name, labelNames, Gauge, () => new Gauge({ name, help, labelNames, registers: [registry] }))
}

/** A name already taken by another type or other labels is a bug of the plugin: it throws (at create(), so the config is refused). */
function single<M> (registry: Registry, name: string, labelNames: readonly string[], type: abstract new (...args: never[]) => M, create: () => M): M {
  const found = registry.getSingleMetric(name)
  if (found === undefined) return create()
  if (!(found instanceof type)) throw new Error(`metric ${name} is already registered as another type`)
  const had = (found as { labelNames?: readonly string[] }).labelNames ?? []
  if (had.join() !== labelNames.join()) throw new Error(`metric ${name} is already registered with labels [${had.join(', ')}], not [${labelNames.join(', ')}]`)
  return found
}
