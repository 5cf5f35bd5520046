// The plugins a gateway knows, by name: the ones it ships, plus those of extra
// plugin modules. Phase order is by priority (higher first), fixed here once so
// routes only need to say which plugins they use.
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { PluginDefinition } from './types.js'
import { concurrencyLimitPlugin } from './concurrency-limit/index.js'
import { corsPlugin } from './cors/index.js'
import { headersPlugin } from './headers/index.js'
import { rateLimitPlugin } from './rate-limit/index.js'
import { trafficSplitPlugin } from './traffic-split/index.js'

export type PluginMap = ReadonlyMap<string, PluginDefinition>

const all: PluginDefinition[] = [corsPlugin, headersPlugin, rateLimitPlugin, concurrencyLimitPlugin, trafficSplitPlugin]

export const builtinPlugins: PluginMap = new Map(all.map((p) => [p.name, p]))

/**
 * What config validation and snapshot compilation look plugins up in. Extra
 * plugins come only from modules, never from objects in memory: the config is
 * validated on a worker thread (gateway/config/load-in-worker.ts), which cannot
 * be sent functions, and builds the same registry by importing `modules`.
 */
export interface PluginRegistry {
  readonly plugins: PluginMap
  /** URLs of the extra plugin modules, in load order (empty: built-in plugins only). */
  readonly modules: readonly string[]
}

export const builtinRegistry: PluginRegistry = { plugins: builtinPlugins, modules: [] }

/** A plugin module: any ES module exporting `plugins`, e.g. `export const plugins = [rateLimitPlugin]`. */
export interface PluginModule {
  plugins: PluginDefinition[]
}

const loaded = new Map<string, Promise<PluginRegistry>>()

/**
 * The built-in plugins plus those exported by `modules` (file URLs, or paths
 * resolved against the working directory). One registry per distinct list, so
 * what is compiled per registry (the config validator) is compiled once.
 */
export function loadPluginRegistry (modules: readonly string[]): Promise<PluginRegistry> {
  if (modules.length === 0) return Promise.resolve(builtinRegistry)
  const urls = modules.map((m) => /^[a-z][a-z0-9+.-]*:/i.test(m) && !isAbsolute(m) ? m : pathToFileURL(resolve(m)).href)
  const key = urls.join('\n')
  let registry = loaded.get(key)
  if (registry === undefined) {
    registry = importPlugins(urls)
    loaded.set(key, registry)
    registry.catch(() => loaded.delete(key))
  }
  return registry
}

async function importPlugins (urls: string[]): Promise<PluginRegistry> {
  const plugins = new Map(builtinPlugins)
  for (const url of urls) {
    const mod = await import(url) as Partial<PluginModule>
    if (!Array.isArray(mod.plugins)) throw new Error(`plugin module ${url}: must export plugins (an array of plugin definitions)`)
    for (const def of mod.plugins) {
      if (typeof def?.name !== 'string' || typeof def.create !== 'function') throw new Error(`plugin module ${url}: not a plugin definition: ${String(def?.name)}`)
      if (plugins.has(def.name)) throw new Error(`plugin module ${url}: plugin "${def.name}" is already defined`)
      plugins.set(def.name, def)
    }
  }
  return { plugins, modules: urls }
}

/** Sorts plugin names of one route into run order (priority desc, then name for stability). */
export function byPriority (a: PluginDefinition, b: PluginDefinition): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : 1)
}
