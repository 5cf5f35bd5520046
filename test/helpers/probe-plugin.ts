// A plugin module for the plugin-path tests, loaded as an extra plugin module
// (loadPluginRegistry([probePluginModule])). Its options say what its access
// phase does; what happens to its instances is recorded in `probe`, which the
// tests read (the gateway and the test import this module by the same URL, so
// they share it; the config worker imports its own copy, for the schema only).
import type { AccessResult, PluginDefinition, PluginInstance } from '../../plugins/types.js'

export const probePluginModule = new URL(import.meta.url).href

export type ProbeAccess = 'none' | 'pass-async' | 'answer-async' | 'throw' | 'reject'
export interface ProbeOptions { tag: string; access: ProbeAccess }

export const probe = {
  /** Tag of each instance close() was called on, once per call. */
  closed: [] as string[],
  /** One entry per log() call. */
  logged: [] as Array<{ tag: string; requestId: string; status: number }>
}

/** log() calls of the instances with `tag`. */
export function loggedFor (tag: string): Array<{ tag: string; requestId: string; status: number }> {
  return probe.logged.filter((l) => l.tag === tag)
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function accessPhase (options: ProbeOptions): PluginInstance['access'] {
  switch (options.access) {
    case 'none': return undefined
    case 'pass-async': return async (ctx): Promise<AccessResult> => {
      await nextTurn()
      ctx.upstreamHeaders['x-probe'] = options.tag
      return undefined
    }
    case 'answer-async': return async (): Promise<AccessResult> => {
      await nextTurn()
      return { kind: 'reply', status: 200, headers: { 'content-type': 'text/plain' }, body: `answered by ${options.tag}` }
    }
    case 'throw': return () => { throw new Error(`${options.tag} throws`) }
    case 'reject': return async (): Promise<AccessResult> => {
      await nextTurn()
      throw new Error(`${options.tag} rejects`)
    }
  }
}

export const probePlugin: PluginDefinition<ProbeOptions> = {
  name: 'probe',
  priority: 5000,
  schema: {
    type: 'object',
    properties: {
      tag: { type: 'string', minLength: 1 },
      access: { type: 'string', enum: ['none', 'pass-async', 'answer-async', 'throw', 'reject'], default: 'none' }
    },
    required: ['tag'],
    additionalProperties: false
  },
  create (options) {
    const instance: PluginInstance = {
      log (ctx) { probe.logged.push({ tag: options.tag, requestId: ctx.requestId, status: ctx.status }) },
      close () { probe.closed.push(options.tag) }
    }
    const access = accessPhase(options)
    if (access !== undefined) instance.access = access
    return instance
  }
}

export const plugins: PluginDefinition[] = [probePlugin]
