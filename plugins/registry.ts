// Every plugin the gateway ships, by name. Phase order is by priority (higher first),
// fixed here once so routes only need to say which plugins they use.
import type { PluginDefinition } from './types.js'
import { corsPlugin } from './cors/index.js'
import { headersPlugin } from './headers/index.js'

const all: PluginDefinition[] = [corsPlugin, headersPlugin]

export const builtinPlugins: ReadonlyMap<string, PluginDefinition> = new Map(all.map((p) => [p.name, p]))

/** Sorts plugin names of one route into run order (priority desc, then name for stability). */
export function byPriority (a: PluginDefinition, b: PluginDefinition): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : 1)
}
