// Where a request keeps what it holds of a limit (a permit, or its place in a
// queue) between its access and log phases: its `state` slot, one per
// instance a request can meet (a global one and its route's).
import type { RequestContext } from '../../gateway/proxy/request-context.js'
import type { Held } from './local-permits.js'
import { PLUGIN_NAME } from './options.js'

export function slotName (scope: 'global' | 'route'): string {
  return scope === 'global' ? `${PLUGIN_NAME}@global` : PLUGIN_NAME
}

export function holdOn (ctx: RequestContext, slot: string, held: Held): void {
  (ctx.state ??= {})[slot] = held
}

/** What the request holds, removed from it: whoever takes it releases it, so it is released once. */
export function takeHeld (ctx: RequestContext, slot: string): Held | undefined {
  const state = ctx.state
  if (state === undefined) return undefined
  const held = state[slot] as Held | undefined
  if (held !== undefined) state[slot] = undefined
  return held
}

export function clearHeld (ctx: RequestContext, slot: string): void {
  if (ctx.state !== undefined) ctx.state[slot] = undefined
}
