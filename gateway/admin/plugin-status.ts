// What GET /admin/plugins and GET /admin/limits show: the plugin instances of
// the snapshot in force (the global ones first, then each route's, in run
// order) and what their status() says. A status() that throws, or returns
// something that is not a JSON object, spoils its own entry only (`{error}`),
// never the listing.
//
// The limit contract: a status() with `kind: 'limit'` describes a limit, and
// must say `scope: 'node'` (counted in this process) or `scope: 'cluster'`
// (counted in Redis, shared by the gateways); its other fields (`key`, `mode`,
// `usage`, anything else) are shown as they are.
//
// With 10,000 routes a listing calls 20,000 status() and writes megabytes of
// JSON: it is done in slices between which the event loop serves requests,
// on a snapshot pinned for the time (no reload retires, and closes, its
// instances meanwhile).
import type { CompiledPlugin, Snapshot } from '../snapshot/types.js'

export interface PluginFilter {
  /** Only the instances of this plugin. */
  readonly name?: string | undefined
  /** Only the instances of this route (the global ones are left out). */
  readonly route?: string | undefined
}

/** One instance in force: where it runs and what its status() said (undefined: it has none). */
export interface InstanceStatus {
  readonly scope: 'global' | 'route'
  readonly route: string | undefined
  readonly name: string
  readonly status: Record<string, unknown> | undefined
  /** Why its status could not be shown (status() threw, or did not return a JSON object). */
  readonly error: string | undefined
}

export type LimitScope = 'node' | 'cluster'

/** Instances whose status() is read between two yields to the event loop (about 2 ms of work). */
const SLICE = 500

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Calls `fn` with the status of each instance of `snap` that `filter`
 * selects, in listing order, yielding to the event loop between slices.
 */
export async function eachStatus (snap: Snapshot, filter: PluginFilter, fn: (s: InstanceStatus) => void): Promise<void> {
  // Counted as a request on the snapshot: its retirement waits for the listing.
  snap.inflight++
  try {
    let n = 0
    for (const { p, route } of selectInstances(snap, filter)) {
      if (++n % SLICE === 0) await yieldToEventLoop()
      fn(statusOf(p, route))
    }
  } finally {
    snap.inflight--
  }
}

/** The instances of `snap` that `filter` selects, in listing order (global first, then by route, each in run order). */
function * selectInstances (snap: Snapshot, filter: PluginFilter): Generator<{ p: CompiledPlugin; route: string | undefined }> {
  const wanted = (p: CompiledPlugin): boolean => filter.name === undefined || p.name === filter.name
  if (filter.route === undefined) {
    for (const p of snap.global.plugins) if (wanted(p)) yield { p, route: undefined }
    for (const r of snap.routes.values()) for (const p of r.plugins) if (wanted(p)) yield { p, route: r.id }
  } else {
    const r = snap.routes.get(filter.route)
    if (r !== undefined) for (const p of r.plugins) if (wanted(p)) yield { p, route: r.id }
  }
}

/** Calls the instance's status(), never throwing: a failure is the entry's `error`. */
function statusOf (p: CompiledPlugin, route: string | undefined): InstanceStatus {
  const base = { scope: route === undefined ? 'global' as const : 'route' as const, route, name: p.name }
  const fn = p.instance.status
  if (fn === undefined) return { ...base, status: undefined, error: undefined }
  let status: unknown
  try {
    status = fn.call(p.instance)
  } catch (err) {
    return { ...base, status: undefined, error: `status() threw: ${messageOf(err)}` }
  }
  if (typeof status !== 'object' || status === null || Array.isArray(status) || typeof (status as { then?: unknown }).then === 'function') {
    return { ...base, status: undefined, error: `status() must return a plain object, got ${describe(status)}` }
  }
  return { ...base, status: status as Record<string, unknown>, error: undefined }
}

/**
 * For a status that says `kind: 'limit'`: its scope, or the reason it breaks
 * the contract. undefined: not a limit.
 */
export function limitScopeOf (status: Record<string, unknown>): { scope: LimitScope } | { error: string } | undefined {
  if (status.kind !== 'limit') return undefined
  const scope = status.scope
  if (scope === 'node' || scope === 'cluster') return { scope }
  return { error: `a limit's status() must say scope "node" or "cluster", got ${describe(scope)}` }
}

/** JSON of `value`, or undefined when it cannot be serialised (a cycle, a BigInt, a throwing toJSON). */
export function jsonOf (value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function') return 'a promise'
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v
}
