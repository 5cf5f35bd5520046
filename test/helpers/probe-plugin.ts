// A plugin module for the plugin-path tests, loaded as an extra plugin module
// (loadPluginRegistry([probePluginModule])). Its options say what its access
// phase does; what happens to its instances is recorded in `probe`, which the
// tests read (the gateway and the test import this module by the same URL, so
// they share it; the config worker imports its own copy, for the schema only).
// `scope: cluster` stands for a limit shared through Redis: refused by check()
// without a top-level `redis:`, and such an instance reads env.redis (recorded
// in `probe.redis`).
import type { AccessResult, PluginDefinition, PluginInstance, RedisConnection } from '../../plugins/types.js'

export const probePluginModule = new URL(import.meta.url).href

export type ProbeAccess = 'none' | 'pass-async' | 'answer-async' | 'throw' | 'reject'
export interface ProbeOptions { tag: string; access: ProbeAccess; scope?: 'local' | 'cluster' }

export const probe = {
  /** Tag of each instance close() was called on, once per call. */
  closed: [] as string[],
  /** One entry per log() call. */
  logged: [] as Array<{ tag: string; requestId: string; status: number }>,
  /** Each `scope: cluster` instance created: its tag and the Redis connection it was given. */
  redis: [] as Array<{ tag: string; redis: RedisConnection | undefined }>
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
      access: { type: 'string', enum: ['none', 'pass-async', 'answer-async', 'throw', 'reject'], default: 'none' },
      scope: { type: 'string', enum: ['local', 'cluster'] }
    },
    required: ['tag'],
    additionalProperties: false
  },
  check (options, refs) {
    return options.scope === 'cluster' && !refs.redis ? ['scope "cluster" needs a top-level redis: section (the shared counters live there)'] : []
  },
  create (options, env) {
    if (options.scope === 'cluster') probe.redis.push({ tag: options.tag, redis: env.redis })
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
