// A plugin module for the plugin-path tests, loaded as an extra plugin module
// (loadPluginRegistry([probePluginModule])). Its options say what its access
// phase does; what happens to its instances is recorded in `probe`, which the
// tests read (the gateway and the test import this module by the same URL, so
// they share it; the config worker imports its own copy, for the schema only).
// Two definitions: `probe` (priority 5000) and `probe-low` (priority 10), the
// same plugin under another name, for tests of the order between plugins.
// `scope: cluster` stands for a limit shared through Redis: refused by check()
// without a top-level `redis:`, and such an instance reads env.redis (recorded
// in `probe.redis`). `close` and `status` say what close() and status() do,
// for the tests of the gateway's stop and of the admin API.
import type { AccessResult, PluginDefinition, PluginEnv, PluginInstance, RedisConnection } from '../../plugins/types.js'

export const probePluginModule = new URL(import.meta.url).href

export const PROBE_ACCESS = [
  'none', 'pass', 'pass-async', 'answer-async', 'throw', 'reject', 'never', 'slow', 'slow-answer', 'slow-reject'
] as const
/**
 * What the access phase does. none: no access phase. pass: passes at once
 * (synchronously). pass-async / answer-async / reject: pass / answer / reject on
 * the next turn. throw: throws. never: returns a promise that never settles.
 * slow / slow-answer / slow-reject: pass / answer / reject after `delayMs`.
 */
export type ProbeAccess = typeof PROBE_ACCESS[number]
export interface ProbeOptions {
  tag: string
  access: ProbeAccess
  /** For the slow modes: ms before the promise settles (default 0). */
  delayMs?: number
  /** Copied onto the instance when given. */
  accessTimeout?: number
  onAccessTimeout?: 'open' | 'closed'
  scope?: 'local' | 'cluster'
  /** What close() does besides recording the tag: see PROBE_CLOSE (default 'return'). */
  close?: ProbeClose
  /** What status() returns: see PROBE_STATUS (default 'plain'). */
  status?: ProbeStatus
  /** true: the instance needs the request body (needsBody). Given (true or false), its access phase records ctx.body in `probe.bodies`. */
  body?: boolean
}

export const PROBE_CLOSE = ['return', 'hang', 'throw', 'redis'] as const
/**
 * return: returns at once. hang: returns a promise that never settles. throw:
 * throws. redis: SETs `<keyPrefix>closed:<tag>` through env.redis and resolves
 * once Redis answered (needs a top-level redis:).
 */
export type ProbeClose = typeof PROBE_CLOSE[number]

export const PROBE_STATUS = ['plain', 'limit', 'throw', 'none', 'bad-limit', 'not-json'] as const
/**
 * plain: `{tag, requests}` (requests: log() calls so far). limit: the status
 * of a limit (`kind: 'limit'`, its scope node or cluster, key, mode, usage).
 * throw: status() throws. none: no status(). bad-limit: `kind: 'limit'`
 * without a scope. not-json: an object JSON cannot serialise (a BigInt).
 */
export type ProbeStatus = typeof PROBE_STATUS[number]

/** A tag check() refuses, for the tests of plugin check() problems. */
export const PROBE_REFUSED_TAG = 'refused-by-check'

export const probe = {
  /** Tag of each instance close() was called on, once per call. */
  closed: [] as string[],
  /** One entry per log() call. */
  logged: [] as Array<{ tag: string; requestId: string; status: number }>,
  /** One entry per create(): the instance's tag and what its env said. */
  created: [] as Array<{ tag: string; scope: PluginEnv['scope']; routeId: string | undefined }>,
  /** One entry per phase call of every instance, in call order. */
  order: [] as Array<{ tag: string; phase: 'access' | 'response' | 'log'; requestId: string }>,
  /** One entry per access promise of the never and slow modes, when it is made. */
  started: [] as Array<{ tag: string; requestId: string }>,
  /** One entry per access promise of the slow modes, just before it settles. */
  settled: [] as Array<{ tag: string; requestId: string }>,
  /** Each `scope: cluster` instance created: its tag and the Redis connection it was given. */
  redis: [] as Array<{ tag: string; redis: RedisConnection | undefined }>,
  /** One entry per access call of an instance with a `body` option (true or false): ctx.body as its access phase saw it. */
  bodies: [] as Array<{ tag: string; requestId: string; body: Buffer | undefined }>
}

/** log() calls of the instances with `tag`. */
export function loggedFor (tag: string): Array<{ tag: string; requestId: string; status: number }> {
  return probe.logged.filter((l) => l.tag === tag)
}

/** `tag:phase` of each phase call made for the request `requestId`, in order. */
export function orderFor (requestId: string): string[] {
  return probe.order.filter((o) => o.requestId === requestId).map((o) => `${o.tag}:${o.phase}`)
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const after = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function accessPhase (options: ProbeOptions): PluginInstance['access'] {
  const { tag, delayMs = 0 } = options
  const answer = (): AccessResult => ({ kind: 'reply', status: 200, headers: { 'content-type': 'text/plain' }, body: `answered by ${tag}` })
  switch (options.access) {
    case 'none': return undefined
    case 'pass': return () => undefined
    case 'pass-async': return async (ctx): Promise<AccessResult> => {
      await nextTurn()
      ctx.upstreamHeaders['x-probe'] = tag
      return undefined
    }
    case 'answer-async': return async (): Promise<AccessResult> => {
      await nextTurn()
      return answer()
    }
    case 'throw': return () => { throw new Error(`${tag} throws`) }
    case 'reject': return async (): Promise<AccessResult> => {
      await nextTurn()
      throw new Error(`${tag} rejects`)
    }
    case 'never': return (ctx) => {
      probe.started.push({ tag, requestId: ctx.requestId })
      return new Promise<AccessResult>(() => {})
    }
    case 'slow': case 'slow-answer': case 'slow-reject': {
      const mode = options.access
      return async (ctx): Promise<AccessResult> => {
        probe.started.push({ tag, requestId: ctx.requestId })
        await after(delayMs)
        probe.settled.push({ tag, requestId: ctx.requestId })
        if (mode === 'slow-reject') throw new Error(`${tag} rejects late`)
        if (mode === 'slow-answer') return answer()
        ctx.upstreamHeaders['x-probe'] = tag
        return undefined
      }
    }
  }
}

function definition (name: string, priority: number): PluginDefinition<ProbeOptions> {
  return {
    name,
    priority,
    schema: {
      type: 'object',
      properties: {
        tag: { type: 'string', minLength: 1 },
        access: { type: 'string', enum: [...PROBE_ACCESS], default: 'none' },
        delayMs: { type: 'integer', minimum: 0 },
        // Any number, so that the core's own check of the instance field is reached.
        accessTimeout: { type: 'number' },
        onAccessTimeout: { type: 'string', enum: ['open', 'closed'] },
        scope: { type: 'string', enum: ['local', 'cluster'] },
        close: { type: 'string', enum: [...PROBE_CLOSE] },
        status: { type: 'string', enum: [...PROBE_STATUS] },
        body: { type: 'boolean' }
      },
      required: ['tag'],
      additionalProperties: false
    },
    check (options, refs) {
      if (options.tag === PROBE_REFUSED_TAG) return [`tag "${PROBE_REFUSED_TAG}" is refused by check()`]
      return options.scope === 'cluster' && !refs.redis ? ['scope "cluster" needs a top-level redis: section (the shared counters live there)'] : []
    },
    create (options, env) {
      const { tag } = options
      probe.created.push({ tag, scope: env.scope, routeId: env.routeId })
      const redis = options.scope === 'cluster' || options.close === 'redis' ? env.redis : undefined
      if (options.scope === 'cluster') probe.redis.push({ tag, redis })
      let requests = 0
      const instance: PluginInstance = {
        needsBody: options.body === true,
        response (ctx) { probe.order.push({ tag, phase: 'response', requestId: ctx.requestId }) },
        log (ctx) {
          requests++
          probe.order.push({ tag, phase: 'log', requestId: ctx.requestId })
          probe.logged.push({ tag, requestId: ctx.requestId, status: ctx.status })
        },
        close () {
          probe.closed.push(tag)
          switch (options.close) {
            case 'hang': return new Promise<void>(() => {})
            case 'throw': throw new Error(`${tag} close throws`)
            case 'redis': return redis?.client.set(`${redis.keyPrefix}closed:${tag}`, '1').then(() => {})
            default: return undefined
          }
        }
      }
      switch (options.status) {
        case undefined: case 'plain': instance.status = () => ({ tag, requests }); break
        case 'limit': instance.status = () => ({
          kind: 'limit', scope: options.scope === 'cluster' ? 'cluster' : 'node', key: ['route'], mode: 'enforce', usage: { requests }, tag
        }); break
        case 'throw': instance.status = () => { throw new Error(`${tag} status fails`) }; break
        case 'bad-limit': instance.status = () => ({ kind: 'limit', tag }); break
        case 'not-json': instance.status = () => ({ tag, big: BigInt(requests) }); break
        default: break
      }
      const access = accessPhase(options)
      if (access !== undefined || options.body === true) {
        instance.access = (ctx) => {
          probe.order.push({ tag, phase: 'access', requestId: ctx.requestId })
          if (options.body !== undefined) probe.bodies.push({ tag, requestId: ctx.requestId, body: ctx.body })
          return access?.(ctx)
        }
      }
      if (options.accessTimeout !== undefined) instance.accessTimeout = options.accessTimeout
      if (options.onAccessTimeout !== undefined) instance.onAccessTimeout = options.onAccessTimeout
      return instance
    }
  }
}

export const probePlugin = definition('probe', 5000)
export const probeLowPlugin = definition('probe-low', 10)

export const plugins: PluginDefinition[] = [probePlugin, probeLowPlugin]
